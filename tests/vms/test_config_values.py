"""Configuration values an administrator may get wrong: each is refused when the
configuration loads, naming the key and the value, never accepted silently, changed, or
left to fail later (STYLE practice 5)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from vms.config import load_config, setting_names
from vms.errors import InvalidArgument


def load_file(tmp_path: Path, text: str) -> None:
    file = tmp_path / "vms.toml"
    file.write_text(text)
    load_config(file, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # int(8080.5) was 8080: a port, a limit or a day count quietly cut
        ("[web]\nport = 8080.5\n", "[web] port: 8080.5 is not a valid int"),
        ("[retention]\nfixed_days = 29.9\n", "[retention] fixed_days: 29.9 is not a valid int"),
        # int([80]), float({...}), int(date): TypeError tracebacks
        ("[web]\nport = [80]\n", "[web] port: [80] is not a valid int"),
        ("[web]\nsession_hours = {h = 1}\n", "[web] session_hours: {'h': 1} is not a valid float"),
        ("[retention]\nfixed_days = 2026-01-01\n", "[retention] fixed_days: datetime.date"),
        # Path(str(["/srv"])) was the folder "['/srv']"
        ('data_dir = ["/srv/vms"]\n', "data_dir: ['/srv/vms'] is not a valid Path"),
        # TOML's nan and inf: every comparison with nan is false, so no range check held
        ("[recorder]\nsegment_seconds = nan\n", "[recorder] segment_seconds: nan is not a valid"),
        ("[web]\ntoken_hours = inf\n", "[web] token_hours: inf is not a valid float"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_file(tmp_path, text)


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_environment_numbers_must_be_finite(raw: str) -> None:
    """``VMS_PRIVACY_MASKS_STALE_IDLE_SECONDS=nan`` loaded: a pose is never older than
    nan seconds, so a masked camera whose pose was lost was never blanked (INV-5)."""
    with pytest.raises(InvalidArgument, match="stale_idle_seconds"):
        load_config(environ={"VMS_PRIVACY_MASKS_STALE_IDLE_SECONDS": raw})


def test_whole_numbers_still_load_as_either_type(tmp_path: Path) -> None:
    file = tmp_path / "vms.toml"
    file.write_text("[web]\nport = 9000\nsession_hours = 8\n[recorder]\nsegment_seconds = 30\n")
    config = load_config(file, environ={"VMS_RETENTION_FIXED_DAYS": "45"})
    assert (config.web.port, config.web.session_hours, config.recorder.segment_seconds) == (
        9000,
        8.0,
        30.0,
    )
    assert config.retention.fixed_days == 45


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        # a negative margin narrows every mask below the private window
        ("margin_degrees", "-0.5", "0 or more"),
        ("margin_pixels", "-4", "0 or more"),
        # a pose is "stale" only when older than this: 0 or less blanks every frame for
        # ever, a negative top speed shrinks the band a starting move may cover
        ("stale_moving_seconds", "0", "above 0"),
        ("stale_idle_seconds", "-1", "above 0"),
        ("assumed_speed_deg_s", "0", "above 0"),
        ("max_lift_minutes", "-5", "above 0"),
        # 'blurry' loaded, then `vms serve --role media` died: ValueError from PaintStyle
        ("style", "blurry", "solid or pixelate"),
    ],
)
def test_privacy_mask_settings_that_would_narrow_or_break_masks_are_refused_INV_5(
    key: str, value: str, rule: str
) -> None:
    """INV-5: the mask settings widen masks and decide when a pose is stale; a value
    that narrows them (a negative margin) or makes no sense is refused at load."""
    with pytest.raises(InvalidArgument, match=re.escape(f"[privacy_masks] {key} must be {rule}")):
        load_config(environ={f"VMS_PRIVACY_MASKS_{key.upper()}": value})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # redis.from_url raised ValueError when the services opened (a traceback)
        ({"VMS_REDIS_URL": "127.0.0.1:6379"}, "redis_url: '127.0.0.1:6379' is not a redis://"),
        (
            {"VMS_WEB_MESSAGE_QUEUE": "redis//127.0.0.1"},
            "[web] message_queue: 'redis//127.0.0.1' is not a redis://",
        ),
        # botocore raised ValueError "Invalid endpoint" when the services opened
        (
            {"VMS_STORE_BACKEND": "s3", "VMS_STORE_BUCKET": "b", "VMS_STORE_ENDPOINT": "s3.local"},
            "[store] endpoint: 's3.local' is not an http:// or https:// URL",
        ),
    ],
)
def test_a_url_setting_that_is_no_url_is_refused_at_load(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_config(environ=env)


def test_url_settings_that_are_urls_load() -> None:
    config = load_config(
        environ={
            "VMS_REDIS_URL": "rediss://:pw@cache.example:6380/1",
            "VMS_WEB_MESSAGE_QUEUE": "unix:///run/redis.sock",
            "VMS_STORE_ENDPOINT": "https://s3.example:9000",
        }
    )
    assert config.bus_url.startswith("rediss://")


@pytest.mark.parametrize(
    ("env", "value", "rule"),
    [
        # werkzeug bound port 70000 % 65536 = 4464 while "VMS listening on ...:70000"
        ("VMS_WEB_PORT", "70000", "at least 0 and at most 65535"),
        ("VMS_WEB_PORT", "-5", "at least 0 and at most 65535"),
        # a session or token that expired before it was made
        ("VMS_WEB_SESSION_HOURS", "-1", "above 0"),
        ("VMS_WEB_TOKEN_HOURS", "0", "above 0"),
        # OverflowError (a traceback) when the services opened
        ("VMS_WEB_TOKEN_HOURS", "1e12", "at most 876600"),
        ("VMS_INGEST_RECORDED_AT_MAX_AGE_DAYS", "1000000000", "at most 36525"),
        # RET-1/RET-4/RET-7: a negative retention expired every item the moment it came
        ("VMS_RETENTION_FIXED_DAYS", "-30", "at least 1"),
        ("VMS_RETENTION_BWC_DAYS", "0", "at least 1"),
        ("VMS_RETENTION_EVIDENCE_DAYS", "-1", "at least 1"),
        ("VMS_RETENTION_PURGE_BATCH_SIZE", "0", "at least 1"),
        # intervals of jobs and loops: 0 or less spins
        ("VMS_RETENTION_PURGE_INTERVAL_MINUTES", "0", "above 0"),
        ("VMS_INGEST_DOCK_SCAN_SECONDS", "-10", "above 0"),
        ("VMS_WEB_LOGIN_WINDOW_SECONDS", "0", "at least 1"),
        ("VMS_AUDIT_CHECKPOINT_ENTRIES", "0", "at least 1"),
        ("VMS_INGEST_COPY_BUFFER_BYTES", "0", "at least 4096"),
        # ValueError "below the 5 Hz masks need" (a traceback) when the services opened
        ("VMS_CAMERAS_POSE_FAST_HZ", "0", "at least 5"),
        ("VMS_PTZ_ZOOMED_IN_THRESHOLD", "1.5", "at least 0 and at most 1"),
        ("VMS_RECORDER_SEGMENT_SECONDS", "0", "above 0"),
        ("VMS_TAGGING_DEADLINE_HOURS", "-72", "above 0"),
    ],
)
def test_a_number_out_of_its_range_is_refused_at_load(env: str, value: str, rule: str) -> None:
    """Numbers of settings their section did not check loaded whatever they were; the
    failure came later (a traceback at start, a busy loop, a wrapped port) or never (a
    retention of -30 days: RET-1)."""
    section, key, _ = setting_names()[env]
    where = f"[{section}] {key}" if section else key
    with pytest.raises(InvalidArgument, match=re.escape(f"{where} must be ")) as refused:
        load_config(environ={env: value})
    message = refused.value.message
    assert rule in message and float(message.rsplit(", not ", 1)[1]) == float(value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        # ValueError tracebacks from the PTZ plugin when the services opened
        ("allowed_hours", "25:00-99:00", "[ptz] allowed_hours: '25:00-99:00' is not HH:MM-HH:MM"),
        ("allowed_hours", "06:00", "[ptz] allowed_hours: '06:00' is not HH:MM-HH:MM"),
        ("role_priorities", "admin=abc", "[ptz] role_priorities: 'admin=abc' is not role=number"),
        # a misspelt role silently had no priority: nobody of that role could take over
        (
            "role_priorities",
            "admin=100,supervisr=80",
            "[ptz] role_priorities: 'supervisr' is not a role",
        ),
        # PSCS-4: with no purpose listed no PTZ session could state one
        ("purposes", " , ", "[ptz] purposes must name at least one purpose"),
        # refused by the PTZ plugin only once the services opened
        ("limit_mode", "bogus", "[ptz] limit_mode must be clamp or refuse, not 'bogus'"),
    ],
)
def test_ptz_settings_are_checked_at_load_PSCS_4(key: str, value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_config(environ={f"VMS_PTZ_{key.upper()}": value})


def test_an_empty_web_host_is_refused_not_bound_to_every_address() -> None:
    """``VMS_WEB_HOST=`` (set but empty, e.g. by a template) loaded, and gunicorn bound
    "" as 0.0.0.0: the web role listened on every address of the host instead of the
    default loopback one, without a word. Every address is still possible, written."""
    with pytest.raises(InvalidArgument, match=re.escape("[web] host must name an address")):
        load_config(environ={"VMS_WEB_HOST": ""})
    assert load_config(environ={"VMS_WEB_HOST": "0.0.0.0"}).web.host == "0.0.0.0"


@pytest.mark.parametrize("url", ["media-1:8081", "ftp://media-1/", "http://"])
def test_a_cluster_internal_url_that_is_no_http_url_is_refused(url: str) -> None:
    """``[cluster] internal_url`` is where web processes reach this media node: a value
    that is no http(s) URL loaded, was advertised, and every forwarded PTZ command,
    snapshot and WHEP offer to the node then failed."""
    with pytest.raises(InvalidArgument, match=re.escape(f"[cluster] internal_url: {url!r}")):
        load_config(environ={"VMS_CLUSTER_INTERNAL_URL": url})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # TOML puts a key written after [web] into [web]: the commonest slip in a
        # vms.toml; it was "unknown key 'data_dir' in [web]" though data_dir is known
        (
            '[web]\nport = 9000\ndata_dir = "/srv/vms"\n',
            "'data_dir' is a top-level key: write it above the first [section]",
        ),
        # was "unknown top-level key 'web'", listing web among the known sections
        ("web = 9000\n", "'web' is a section: write [web] and its keys under it"),
        ("[data_dir]\npath = '/srv'\n", "'data_dir' is a top-level key, not a section"),
    ],
)
def test_a_key_in_the_wrong_place_is_refused_saying_where_it_belongs(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_file(tmp_path, text)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # INV-5: an idle camera polled less often than its pose goes stale is blanked
        # between polls, every masked camera at rest (docs: "keep it well below")
        (
            {"VMS_CAMERAS_POSE_IDLE_SECONDS": "3"},
            "[cameras] pose_idle_seconds (3.0) must be shorter than [privacy_masks] "
            "stale_idle_seconds (2.0)",
        ),
        # the back-off min(first x 2^n, longest) never reached the first delay given
        (
            {"VMS_WEB_LOGIN_DELAY_SECONDS": "120"},
            "[web] login_delay_seconds (120.0) must be at most [web] "
            "login_max_delay_seconds (60.0)",
        ),
        (
            {"VMS_RECORDER_RECONNECT_MIN_SECONDS": "60"},
            "[recorder] reconnect_min_seconds (60.0) must be at most [recorder] "
            "reconnect_max_seconds (30.0)",
        ),
        # INV-5: a moving camera polled less often than its pose goes stale is blanked
        # between polls, every masked camera while it moves
        (
            {"VMS_PRIVACY_MASKS_STALE_MOVING_SECONDS": "0.05"},
            "[cameras] pose_fast_hz (20.0: a poll every 0.05 s) must poll more often than "
            "[privacy_masks] stale_moving_seconds (0.05)",
        ),
        (
            {"VMS_CAMERAS_POSE_FAST_HZ": "5", "VMS_PRIVACY_MASKS_STALE_MOVING_SECONDS": "0.1"},
            "[cameras] pose_fast_hz (5.0: a poll every 0.2 s) must poll more often than "
            "[privacy_masks] stale_moving_seconds (0.1)",
        ),
        # RET-1: each scheduled purge ran more than the clock guard's gap after the one
        # before it, so every run was refused as a clock jump (nothing ever purged)
        (
            {"VMS_RETENTION_PURGE_INTERVAL_MINUTES": "4320"},
            "[retention] purge_interval_minutes (4320.0) must be shorter than [retention] "
            "purge_clock_max_gap_hours (72.0)",
        ),
        (
            {
                "VMS_RETENTION_PURGE_INTERVAL_MINUTES": "90",
                "VMS_RETENTION_PURGE_CLOCK_MAX_GAP_HOURS": "1",
            },
            "[retention] purge_interval_minutes (90.0) must be shorter than [retention] "
            "purge_clock_max_gap_hours (1.0)",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_config(environ=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # host = 8080 loaded as the address "8080" (a port meant for [web] port)
        ("[web]\nhost = 8080\n", "[web] host: 8080 is a number, not a string"),
        ("[store]\nbucket = 1.5\n", "[store] bucket: 1.5 is a number, not a string"),
        ("time_zone = 0\n", "time_zone: 0 is a number, not a string"),
        ("[ptz]\npurposes = true\n", "[ptz] purposes: True is not a string"),
    ],
)
def test_a_string_setting_given_another_type_in_the_file_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_file(tmp_path, text)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # loaded, and failed only when a redaction ran (or never, on the opencv backend)
        ("person=alien", "entry 'person=alien' maps to 'alien', which is none of person"),
        ("car", "entry 'car' is not 'model class=our class'"),
        ("car=vehicle,car=plate", "model class 'car' is mapped twice"),
    ],
)
def test_a_redaction_class_table_that_does_not_parse_is_refused_at_load(
    value: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(f"[redaction] classes: {message}")):
        load_config(environ={"VMS_REDACTION_CLASSES": value})


def test_relative_paths_in_the_file_are_the_files_folders_wherever_vms_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same vms.toml named the data folder, the category list, the model and the
    SQLite database relative to whatever folder ``vms`` was started in (a service, a
    cron job and an administrator's shell each got their own, empty, installation)."""
    etc = tmp_path / "etc"
    etc.mkdir()
    file = etc / "vms.toml"
    file.write_text(
        'data_dir = "data"\ndatabase_url = "sqlite:///db/vms.db"\n'
        '[tagging]\ncategories_file = "cats.toml"\n[redaction]\nmodel = "models/m.pt"\n'
    )
    for start in (tmp_path, etc):
        monkeypatch.chdir(start)
        config = load_config(Path(os.path.relpath(file, start)), environ={})
        assert config.data_dir == etc / "data"
        assert config.database_url == f"sqlite:///{etc}/db/vms.db"
        assert config.tagging.categories_file == str(etc / "cats.toml")
        assert config.redaction.model == str(etc / "models/m.pt")
    # The environment and the defaults are the working folder's, as in a shell.
    config = load_config(file, environ={"VMS_DATA_DIR": "elsewhere"})
    assert config.data_dir == Path("elsewhere")
    assert load_config(environ={}).data_dir == Path("./var")
    # Absolute paths, an in-memory database and other URLs are kept as written.
    file.write_text(
        f'data_dir = "{tmp_path}/abs"\ndatabase_url = "sqlite://"\n'
        '[tagging]\ncategories_file = ""\n'
    )
    config = load_config(file, environ={})
    assert (config.data_dir, config.database_url) == (tmp_path / "abs", "sqlite://")
    assert config.tagging.categories_file == ""


def test_a_purge_interval_within_the_clock_guards_gap_loads() -> None:
    config = load_config(
        environ={
            "VMS_RETENTION_PURGE_INTERVAL_MINUTES": "59",
            "VMS_RETENTION_PURGE_CLOCK_MAX_GAP_HOURS": "1",
        }
    )
    assert config.retention.purge_interval_minutes == 59


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # 1 was true and 0 false, but 2 and 1.0 were refused: a number is not a switch
        ("[web]\nsecure_cookies = 1\n", "[web] secure_cookies: 1 is a number, not true or false"),
        (
            "[cluster]\ncamera_ownership = 0\n",
            "[cluster] camera_ownership: 0 is a number, not true or false",
        ),
    ],
)
def test_a_switch_given_a_number_in_the_file_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_file(tmp_path, text)
    # the environment's words stay (it has only strings)
    assert load_config(environ={"VMS_WEB_SECURE_COOKIES": "1"}).web.secure_cookies is True


def test_a_path_starting_with_a_tilde_is_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data_dir = "~/vms"`` made a folder named ``~`` in the folder vms ran in (its
    database, keys and media inside; an ``rm -rf ~`` to clean it up is the home)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "vms.toml"
    file.write_text('data_dir = "~/vms"\n[redaction]\nmodel = "~/m.pt"\n')
    config = load_config(file, environ={"VMS_TAGGING_CATEGORIES_FILE": "~/cats.toml"})
    assert config.data_dir == tmp_path / "home" / "vms"
    assert config.redaction.model == str(tmp_path / "home" / "m.pt")
    assert config.tagging.categories_file == str(tmp_path / "home" / "cats.toml")
    assert load_config(environ={"VMS_DATA_DIR": "~/x"}).data_dir == tmp_path / "home" / "x"
    with pytest.raises(InvalidArgument, match=re.escape("data_dir: '~nosuch-user/x' names no")):
        load_config(environ={"VMS_DATA_DIR": "~nosuch-user/x"})


@pytest.mark.parametrize("name", ["site?1", "site%201"])
def test_a_data_dir_the_sqlite_url_cannot_carry_is_refused(tmp_path: Path, name: str) -> None:
    """The default database is ``sqlite:///<data_dir>/vms.db``: a ``?`` in the folder
    started the URL's query (the database was the file ``<tmp>/site``, outside the data
    folder) and ``%20`` was read as a space (a folder that does not exist)."""
    data_dir = tmp_path / name
    with pytest.raises(InvalidArgument, match=re.escape(f"data_dir: {str(data_dir)!r}")):
        load_config(environ={"VMS_DATA_DIR": str(data_dir)})
    # with its own database_url the folder is only a folder
    url = f"sqlite:///{tmp_path}/vms.db"
    config = load_config(environ={"VMS_DATA_DIR": str(data_dir), "VMS_DATABASE_URL": url})
    assert config.data_dir == data_dir


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        (
            "cameras",
            {"pose_idle_seconds": 3.0},
            "[cameras] pose_idle_seconds (3.0) must be shorter than [privacy_masks] "
            "stale_idle_seconds (2.0)",
        ),
        (
            "recorder",
            {"reconnect_min_seconds": 60.0},
            "[recorder] reconnect_min_seconds (60.0) must be at most [recorder] "
            "reconnect_max_seconds (30.0)",
        ),
        (
            "cluster",
            {"camera_ownership": True, "camera_lease_seconds": 3.0},
            "[recorder] reconcile_seconds (5.0) must be shorter than [cluster] "
            "camera_lease_seconds (3.0)",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_refused_in_every_config(
    section: str, changes: dict[str, object], message: str
) -> None:
    """The pair checks hold for a Config changed after loading (serve's --host/--port/
    --workers use dataclasses.replace), not only for one load_config built."""
    import dataclasses

    config = load_config(environ={})
    changed = dataclasses.replace(getattr(config, section), **changes)
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        dataclasses.replace(config, **{section: changed})


@pytest.mark.parametrize("value", [" ", "   ", "\t"])
def test_a_blank_cluster_node_id_is_refused_INV_9(tmp_path: Path, value: str) -> None:
    """``[cluster] node_id`` names this process in ``media_nodes``, ``camera_leases``
    (holder and ``vms cluster pin``) and ``job_leases`` (vms/leases.py,
    recorder/ownership.py). Empty is the default, ``host:pid``; a blank value (a template
    that wrote a space) was not empty, so it was taken as the name itself: every process
    given the same file shared one invisible name. Each then took the others' leases for
    its own: ``JobLeases.held_elsewhere`` answered nobody, so a starting jobs role ran a
    job's recovery under the node running it; camera ownership counted them as one node
    (one heartbeat row, every camera assigned to it, the other processes idle and no
    failover while any of them lived); and ``vms cluster status``, the logs and the
    audit of a pin named a node nobody can read or type (INV-9)."""
    message = f"[cluster] node_id {value!r} is blank"
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_config(environ={"VMS_CLUSTER_NODE_ID": value})
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_file(tmp_path, f'[cluster]\nnode_id = "{value}"\n')
    assert load_config(environ={"VMS_CLUSTER_NODE_ID": ""}).cluster.node_id == ""  # host:pid
    assert load_config(environ={"VMS_CLUSTER_NODE_ID": "media-1"}).cluster.node_id == "media-1"


@pytest.mark.parametrize("value", ["", " ", "  "])
def test_an_empty_redis_prefix_is_refused(tmp_path: Path, value: str) -> None:
    """``redis_prefix`` names the deployment's Redis channels (``<prefix>:events``,
    ``<prefix>:socketio``) so that deployments sharing a Redis do not hear each other:
    empty (``VMS_REDIS_PREFIX=`` from a template) loaded, and the channels were
    ``:events`` and ``:socketio``, shared with any other deployment left so."""
    message = f"redis_prefix {value!r} is empty"
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_config(environ={"VMS_REDIS_PREFIX": value})
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_file(tmp_path, f'redis_prefix = "{value}"\n')
    assert load_config(environ={"VMS_REDIS_PREFIX": "city-a"}).redis_prefix == "city-a"
