"""PostgreSQL databases for tests, copied from a template once and then reused.

Each test gets a database of its own (``CREATE DATABASE ... TEMPLATE``) and dropped it
after. That pair cost the server about 0.4-0.6 s of CPU a test (it copies and WAL-logs
the whole template, system catalogues included, and the checkpointer writes it all
out): some 10 minutes of CPU over the 1,400 PostgreSQL tests of a CI run, on two cores.

A :class:`Recycler` hands the database of a finished test to the next one instead, once
it is as the template was:

- every session still in it is ended and it is renamed, so a process the test left
  behind (a server, a thread) cannot reach it again, under its old name or its new one;
- its schema is compared with the template's (tables, columns, constraints, indexes,
  triggers, rules, functions, grants, settings: :data:`FINGERPRINT`): a test that
  changed any of it (a migration test, a renamed table) has its database dropped, as
  before;
- otherwise every table is emptied, the template's rows are copied back (COPY, exactly
  as they were) and every sequence is set where the template's was, in one transaction.

What a reset does not restore is the planner's statistics and the tables' dead rows,
and so the order in which a query without ORDER BY returns new rows: a row inserted
after the reset may land in a page a deleted one freed. A CI rehearsal failed on that
(tests/onvif_control/test_camera_certificates.py reads audit entries without ORDER BY:
['ok', 'denied', 'failed']). So recycling is off unless ``VMS_TEST_PG_RECYCLE=1``: every
database is dropped, as before, until the reset truncates the tables it empties (new
files, rows in insertion order, statistics as a fresh table's) and a whole CI run
passes with it.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from dataclasses import dataclass, field

import psycopg
import sqlalchemy as sa
from psycopg import sql

# Objects made by initdb have OIDs below this; ours (and a test's) at or above it.
FIRST_NORMAL_OID = 16384

# The schema of the connected database, as one digest: what a test could change that a
# reset of the rows would not undo.
FINGERPRINT = f"""
WITH ours AS (
  SELECT c.oid, c.relname, n.nspname, c.relkind, c.relacl, c.relowner, c.relrowsecurity
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
)
SELECT md5(concat_ws(' | ',
  (SELECT string_agg(concat_ws(':', nspname, relname, relkind, relacl::text, relowner,
                               relrowsecurity), ',' ORDER BY nspname, relname) FROM ours),
  (SELECT string_agg(concat_ws(':', o.nspname, o.relname, a.attname,
                               format_type(a.atttypid, a.atttypmod), a.attnotnull,
                               a.attisdropped, pg_get_expr(d.adbin, d.adrelid)),
                     ',' ORDER BY o.nspname, o.relname, a.attnum)
     FROM pg_attribute a JOIN ours o ON o.oid = a.attrelid
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0),
  (SELECT string_agg(concat_ws(':', o.nspname, o.relname, k.conname,
                               pg_get_constraintdef(k.oid)),
                     ',' ORDER BY o.nspname, o.relname, k.conname)
     FROM pg_constraint k JOIN ours o ON o.oid = k.conrelid),
  (SELECT string_agg(indexdef, ',' ORDER BY schemaname, indexname) FROM pg_indexes
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')),
  (SELECT string_agg(concat_ws(':', tgrelid::regclass::text, tgname, tgenabled),
                     ',' ORDER BY tgrelid::regclass::text, tgname)
     FROM pg_trigger WHERE NOT tgisinternal),
  (SELECT string_agg(concat_ws(':', ev_class::regclass::text, rulename, ev_enabled),
                     ',' ORDER BY ev_class::regclass::text, rulename)
     FROM pg_rewrite WHERE oid >= {FIRST_NORMAL_OID}),
  (SELECT string_agg(concat_ws(':', pronamespace::regnamespace::text, proname,
                               md5(prosrc)), ',' ORDER BY pronamespace::regnamespace::text,
                                                           proname, md5(prosrc))
     FROM pg_proc WHERE oid >= {FIRST_NORMAL_OID}),
  (SELECT string_agg(concat_ws(':', typnamespace::regnamespace::text, typname),
                     ',' ORDER BY typnamespace::regnamespace::text, typname)
     FROM pg_type WHERE oid >= {FIRST_NORMAL_OID}),
  (SELECT string_agg(concat_ws(':', enumtypid::regtype::text, enumlabel),
                     ',' ORDER BY enumtypid::regtype::text, enumsortorder) FROM pg_enum),
  (SELECT string_agg(concat_ws(':', seqrelid::regclass::text, seqtypid, seqstart,
                               seqincrement, seqmax, seqmin, seqcycle),
                     ',' ORDER BY seqrelid::regclass::text) FROM pg_sequence),
  (SELECT string_agg(concat_ws(':', nspname, nspacl::text), ',' ORDER BY nspname)
     FROM pg_namespace WHERE nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'),
  (SELECT string_agg(extname || ':' || extversion, ',' ORDER BY extname) FROM pg_extension),
  (SELECT string_agg(concat_ws(':', polrelid::regclass::text, polname),
                     ',' ORDER BY polrelid::regclass::text, polname) FROM pg_policy),
  (SELECT string_agg(concat_ws(':', defaclrole, defaclnamespace, defaclobjtype,
                               defaclacl::text), ',' ORDER BY defaclrole, defaclnamespace,
                                                       defaclobjtype) FROM pg_default_acl),
  (SELECT string_agg(concat_ws(':', setrole, setconfig::text), ',' ORDER BY setrole)
     FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())),
  (SELECT concat_ws(':', datacl::text, datconnlimit) FROM pg_database
     WHERE datname = current_database()),
  (SELECT count(*) FROM pg_largeobject_metadata),
  (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database())
))
"""


def conninfo(url: str, database: str | None = None) -> str:
    """A libpq connection string from a SQLAlchemy URL (optionally for another database)."""
    parsed = sa.make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def fingerprint(conn: psycopg.Connection) -> str:
    row = conn.execute(FINGERPRINT).fetchone()
    assert row is not None
    return str(row[0])


def copy_out(conn: psycopg.Connection, statement: sql.Composable) -> bytes:
    """What a ``COPY ... TO STDOUT`` statement writes."""
    out = bytearray()
    with conn.cursor().copy(statement) as copy:
        for chunk in copy:
            out += chunk
    return bytes(out)


def drop(admin: psycopg.Connection, name: str) -> None:
    """Drop database ``name`` if it is there, ending any session still in it."""
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Drift(Exception):
    """The database is not as the template was: drop it, do not hand it on."""


@dataclass
class Recycler:
    """Databases copied from ``template`` on the server of ``admin_url`` (SQLAlchemy
    URLs), one per test at a time, reset for the next one (module docstring)."""

    admin_url: str
    template: str
    schema: str = ""  # the template's FINGERPRINT
    tables: list[str] = field(default_factory=list)
    rows: dict[str, bytes] = field(default_factory=dict)  # COPY text of non-empty tables
    sequences: list[tuple[str, int, bool]] = field(default_factory=list)
    idle: list[str] = field(default_factory=list)
    enabled: bool = True
    _names: itertools.count = field(default_factory=itertools.count)

    @classmethod
    def of(cls, admin_url: str, template: str) -> Recycler:
        """Read what a reset restores from ``template`` (migrated, with its users)."""
        made = cls(admin_url, template, enabled=os.environ.get("VMS_TEST_PG_RECYCLE") == "1")
        with psycopg.connect(conninfo(admin_url, template)) as conn:
            made.schema = fingerprint(conn)
            made.tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
                )
            ]
            for table in made.tables:
                out = copy_out(conn, sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table)))
                if out:
                    made.rows[table] = out
            for (name,) in conn.execute(
                "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1"
            ).fetchall():
                row = conn.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(name))
                ).fetchone()
                assert row is not None
                made.sequences.append((name, int(row[0]), bool(row[1])))
        return made

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(conninfo(self.admin_url), autocommit=True)

    def take(self) -> str:
        """A database as the template is, under a name no one has used."""
        name = f"vms_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self._admin() as admin:
            if self.idle:
                admin.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(self.idle.pop()), sql.Identifier(name)
                    )
                )
            else:
                admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(self.template)
                    )
                )
        return name

    def give_back(self, name: str) -> None:
        """Keep ``name`` for the next test if it can be made as the template was; drop it
        otherwise (it is gone under ``name`` either way)."""
        if self.enabled:
            try:
                self.idle.append(self._reset(name))
                return
            except (Drift, psycopg.Error, TimeoutError):
                pass  # dropped below, whatever state it is in
        with self._admin() as admin:
            for candidate in (name, *self._parked(admin)):
                drop(admin, candidate)

    def close(self) -> None:
        with self._admin() as admin:
            for name in self.idle:
                drop(admin, name)
        self.idle.clear()

    def _parked(self, admin: psycopg.Connection) -> list[str]:
        """Databases this recycler renamed but did not hand on (a reset that failed)."""
        prefix = f"vms_idle_{os.getpid()}_"
        return [
            r[0]
            for r in admin.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
            )
            if r[0] not in self.idle
        ]

    def _reset(self, name: str) -> str:
        parked = f"vms_idle_{os.getpid()}_{next(self._names)}"
        with self._admin() as admin:
            # No session outlives its test: none may write into the next test's database.
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
            )
            deadline = time.monotonic() + 10
            while True:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                try:
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                            sql.Identifier(name), sql.Identifier(parked)
                        )
                    )
                    break
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"sessions in {name} did not end") from None
                    time.sleep(0.01)
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(parked))
            )
        with psycopg.connect(conninfo(self.admin_url, parked)) as conn:
            if fingerprint(conn) != self.schema:
                raise Drift(name)
            # Foreign keys and triggers do not fire while the rows are replaced.
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in self.tables:
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            for table, data in self.rows.items():
                with conn.cursor().copy(
                    sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
                ) as copy:
                    copy.write(data)
            for sequence, value, called in self.sequences:
                conn.execute("SELECT setval(%s, %s, %s)", (sequence, value, called))
        return parked
