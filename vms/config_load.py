"""Loading the one typed configuration (:class:`vms.config.Config`, STYLE practice 5).

Precedence: built-in defaults, then the TOML file (``--config`` or ``VMS_CONFIG``), then
``VMS_*`` environment variables. A key ``name`` in section ``[section]`` is
``VMS_SECTION_NAME`` in the environment; top-level keys are ``VMS_NAME`` (for example
``data_dir`` is ``VMS_DATA_DIR``). Unknown keys, in the file or the environment, are
refused with a message naming them. :mod:`vms.config` re-exports :func:`load_config`
and :func:`setting_names`; import them from there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from vms.config_limits import UNIT_SECONDS
from vms.errors import InvalidArgument
from vms.policy.presets import load_preset
from vms.urls import redact_credentials

if TYPE_CHECKING:
    from vms.config import Config

# The configuration's logger, as before the loader had a module of its own.
log = logging.getLogger("vms.config")

# Environment variables that start with VMS_ but are not settings.
NON_SETTING_ENV = frozenset({"VMS_CONFIG", "VMS_CACHE_DIR"})
NON_SETTING_ENV_PREFIXES = ("VMS_TEST_", "VMS_BENCH_")


def _config_class() -> type[Config]:
    """:class:`vms.config.Config`, imported when first needed: vms.config imports this
    module (to re-export load_config), so neither imports the other at its top and
    either may be imported first."""
    from vms.config import Config

    return Config


def _sections() -> dict[str, type]:
    config = _config_class()
    hints = get_type_hints(config)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(config)
        if dataclasses.is_dataclass(hints[f.name])
    }


def _top_level() -> dict[str, Any]:
    config = _config_class()
    hints = get_type_hints(config)
    return {f.name: hints[f.name] for f in dataclasses.fields(config) if f.name not in _sections()}


def setting_names() -> dict[str, tuple[str | None, str, Any]]:
    """Every setting: environment name -> (section or None, key, type)."""
    names: dict[str, tuple[str | None, str, Any]] = {}
    for key, typ in _top_level().items():
        names[f"VMS_{key.upper()}"] = (None, key, typ)
    for section, cls in _sections().items():
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            names[f"VMS_{section.upper()}_{f.name.upper()}"] = (section, f.name, hints[f.name])
    return names


def _coerce(value: Any, typ: Any, where: str) -> Any:
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float):
                # A TOML number: 1 was true, but 2 and 1.0 were refused.
                raise InvalidArgument(
                    f"configuration {where}: {value!r} is a number, not true or false"
                )
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        # A number from TOML is an int or a float, from the environment a string; a table,
        # an array or a date is none (int() and float() raised TypeError on them).
        if typ is int:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(value)
            if isinstance(value, float):
                # int(8080.5) is 8080: a whole number is taken, a fraction is refused.
                if not value.is_integer():
                    raise ValueError(value)
                return int(value)
            return int(value)
        if typ is float:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(value)
            number = float(value)
            # nan passes no range check (every comparison is false) and inf overflows
            # every timedelta; no setting means either.
            if not math.isfinite(number):
                raise ValueError(value)
            return number
        if typ is Path:
            # Path("") is the working folder: a database and secrets were made wherever
            # the command ran (VMS_DATA_DIR set but empty).
            if not isinstance(value, str) or not value.strip():
                raise ValueError(value)
            return Path(value)
        if typ is str:
            # A TOML number or boolean for a string is a slip (host = 8080 was the
            # address "8080", purposes = true the purpose "True"): refused, not str()ed.
            if isinstance(value, bool):
                raise InvalidArgument(f"configuration {where}: {value!r} is not a string")
            if isinstance(value, int | float):
                raise InvalidArgument(
                    f"configuration {where}: {value!r} is a number, not a string "
                    f'(quote it, "{value}", if that is meant)'
                )
            if not isinstance(value, str):
                raise ValueError(value)
            return value
    except (ValueError, OverflowError):
        raise InvalidArgument(
            f"configuration {where}: {value!r} is not a valid {typ.__name__}"
        ) from None
    raise AssertionError(f"unsupported setting type {typ!r}")


def _apply_preset(values: dict[str | None, dict[str, Any]]) -> None:
    """Fill in the preset's values under everything given explicitly (file, environment,
    overrides): an explicit setting always wins over the preset."""
    name = values[None].get("policy_preset")
    if name is None or name == "":
        return
    preset = load_preset(_coerce(name, str, "policy_preset"))
    for dotted, value in preset.values().items():
        section, key = dotted.split(".", 1)
        values.setdefault(section, {}).setdefault(key, value.value)


#: The settings that are secrets whatever their value looks like (section, key); a URL
#: setting holds one when it carries a password. ``[store] access_key_id`` and ``[webrtc]
#: ice_username`` name who the secret belongs to and are no secret themselves
#: (tests/security/test_file_permissions.py checks every setting named like a secret).
SECRET_SETTINGS = frozenset({("store", "secret_access_key"), ("webrtc", "ice_credential")})


def _credential_keys(data: Mapping[str, Any], section: str | None = None) -> list[str]:
    """The keys of a parsed configuration file that hold a credential: a URL with a
    password (the database, Redis), a secret key or the TURN servers' password."""
    found = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += [f"[{key}] {name}" for name in _credential_keys(value, key)]
        elif (
            isinstance(value, str)
            and value
            and (
                (section, key) in SECRET_SETTINGS
                or "secret" in key
                or redact_credentials(value) != value
            )
        ):
            found.append(key)
    return found


def _warn_if_credentials_open(file: Path, data: Mapping[str, Any]) -> None:
    """Issue 10, item 12: a configuration file holding credentials that every local user
    may read hands them the database whatever the data folder's modes. Said at start,
    naming the keys (never the values); the file is the administrator's to restrict."""
    mode = stat.S_IMODE(file.stat().st_mode)
    keys = _credential_keys(data) if mode & stat.S_IRWXO else []
    if keys:
        log.warning(
            "configuration file %s has mode %04o (readable by every local user) and holds "
            "credentials (%s): restrict it (e.g. chmod 0640, group of the VMS user) or "
            "move them to the environment or the secrets folder",
            file,
            mode,
            ", ".join(keys),
        )


#: The settings that name a file or folder: in the configuration file, relative to it.
FILE_PATHS = ((None, "data_dir"), ("tagging", "categories_file"), ("redaction", "model"))


def _expand_home(values: dict[str | None, dict[str, Any]]) -> None:
    """``~`` and ``~user`` at the start of a path setting (:data:`FILE_PATHS`) are that
    home folder, as in a shell: taken as written, ``data_dir = "~/vms"`` made a folder
    named ``~`` (an ``rm -rf ~`` to clean it up removes the home)."""
    for section, key in FILE_PATHS:
        value = values.get(section, {}).get(key)
        if isinstance(value, str) and value.startswith("~"):
            expanded = os.path.expanduser(value)
            if expanded.startswith("~"):
                raise InvalidArgument(
                    f"configuration {_where(section, key)}: {value!r} names no home folder"
                )
            values[section][key] = expanded


def _where(section: str | None, key: str) -> str:
    return key if section is None else f"[{section}] {key}"


def _paths_from_the_file(values: dict[str | None, dict[str, Any]], folder: Path) -> None:
    """Make the relative paths of the configuration file (:data:`FILE_PATHS` and a SQLite
    ``database_url``) relative to the file's ``folder``: relative to the working folder,
    they named another installation for each folder ``vms`` was started in (a service, a
    cron job, a shell). [backup] folder is refused unless absolute (BackupConfig)."""
    _expand_home(values)
    for section, key in FILE_PATHS:
        value = values.get(section, {}).get(key)
        if isinstance(value, str) and value.strip() and not Path(value).is_absolute():
            values[section][key] = str(folder / value)
    url = values[None].get("database_url")
    if not isinstance(url, str) or not url.startswith("sqlite"):
        return
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # not a URL: the engine names it when the services open
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).is_absolute():
        values[None]["database_url"] = parsed.set(database=str(folder / database)).render_as_string(
            hide_password=False
        )


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: defaults, then the file, then the environment.

    ``path`` defaults to ``$VMS_CONFIG`` when set. ``overrides`` (tests, CLI flags) are
    applied last, with the environment names as keys (``{"VMS_DATA_DIR": "/x"}``).
    """
    env = dict(os.environ if environ is None else environ)
    path = path or env.get("VMS_CONFIG") or None
    values: dict[str | None, dict[str, Any]] = {None: {}}
    sections = _sections()
    top = _top_level()

    if path is not None:
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidArgument(f"configuration file {file} does not exist") from None
        except IsADirectoryError:
            raise InvalidArgument(f"configuration file {file} is a folder, not a file") from None
        except OSError as exc:  # unreadable (mode, I/O error)
            raise InvalidArgument(
                f"configuration file {file} cannot be read: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"configuration file {file} is not UTF-8 text (TOML is): byte "
                f"{exc.object[exc.start : exc.start + 1]!r} at offset {exc.start}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"configuration file {file} is not valid TOML: {exc}") from None
        _warn_if_credentials_open(file, data)
        for key, value in data.items():
            if isinstance(value, dict):
                if key in top:
                    raise InvalidArgument(
                        f"configuration file {file}: '{key}' is a top-level key, not a "
                        f"section: write {key} = ... above the first [section]"
                    )
                if key not in sections:
                    raise InvalidArgument(
                        f"configuration file {file}: unknown section [{key}] "
                        f"(known: {', '.join(sorted(sections))})"
                    )
                known = {f.name for f in dataclasses.fields(sections[key])}
                for name, item in value.items():
                    if name in top and name not in known:
                        # TOML puts every key after [section] into that section.
                        raise InvalidArgument(
                            f"configuration file {file}: '{name}' is a top-level key: "
                            f"write it above the first [section], not under [{key}]"
                        )
                    if name not in known:
                        raise InvalidArgument(
                            f"configuration file {file}: unknown key '{name}' in [{key}] "
                            f"(known: {', '.join(sorted(known))})"
                        )
                    values.setdefault(key, {})[name] = item
            else:
                if key in sections:
                    raise InvalidArgument(
                        f"configuration file {file}: '{key}' is a section: write [{key}] "
                        "and its keys under it"
                    )
                if key not in top:
                    raise InvalidArgument(
                        f"configuration file {file}: unknown top-level key '{key}' "
                        f"(known: {', '.join(sorted(top))}, and sections "
                        f"{', '.join(sorted(sections))})"
                    )
                values[None][key] = value
        _paths_from_the_file(values, file.absolute().parent)

    names = setting_names()
    layered = {k: v for k, v in env.items() if k.startswith("VMS_")}
    layered.update(overrides or {})
    for env_name, raw in layered.items():
        if env_name in NON_SETTING_ENV or env_name.startswith(NON_SETTING_ENV_PREFIXES):
            continue
        if env_name not in names:
            raise InvalidArgument(
                f"unknown setting {env_name} in the environment "
                "(see docs/configuration.md for the list)"
            )
        section, key, _ = names[env_name]
        values.setdefault(section, {})[key] = raw

    _expand_home(values)  # (the environment's: the file's are by now)
    _apply_preset(values)
    kwargs: dict[str, Any] = {}
    for key, typ in top.items():
        if key in values[None]:
            kwargs[key] = _coerce(values[None][key], typ, key)
    for section, cls in sections.items():
        hints = get_type_hints(cls)
        given = values.get(section, {})
        kwargs[section] = cls(
            **{k: _coerce(v, hints[k], f"[{section}] {k}") for k, v in given.items()}
        )
    # Config.__post_init__ refuses settings that contradict each other (check_pairs).
    return _config_class()(**kwargs)


def check_pairs(config: Config) -> None:
    """Settings that contradict each other: each pair is (smaller, larger, strictly).
    Run by ``Config.__post_init__``, so they hold for every Config, not only
    load_config's: serve's --host/--port/--workers and tests build theirs with
    ``dataclasses.replace``."""
    cluster, recorder = config.cluster, config.recorder
    if cluster.camera_ownership and recorder.reconcile_seconds >= cluster.camera_lease_seconds:
        # A lease renewed less often than it lasts would pass between nodes every round.
        raise InvalidArgument(
            f"[recorder] reconcile_seconds ({recorder.reconcile_seconds}) must be shorter "
            f"than [cluster] camera_lease_seconds ({cluster.camera_lease_seconds})"
        )
    pairs = (
        # INV-5: an idle pose polled less often than it goes stale blanks every masked
        # camera at rest between polls.
        ("[cameras] pose_idle_seconds", "[privacy_masks] stale_idle_seconds", True),
        # Back-offs: min(first x 2^n, longest) would never wait the first delay given.
        ("[web] login_delay_seconds", "[web] login_max_delay_seconds", False),
        ("[recorder] reconnect_min_seconds", "[recorder] reconnect_max_seconds", False),
        # RET-1, INV-3: a purge scheduled less often than the clock guard's gap finds
        # every run too far past the one before, refuses it, and nothing is ever purged.
        ("[retention] purge_interval_minutes", "[retention] purge_clock_max_gap_hours", True),
    )
    # INV-5: a moving camera polled less often than its pose goes stale while moving is
    # blanked between polls (the idle pair above, at the fast rate).
    fast_hz, stale = config.cameras.pose_fast_hz, config.privacy_masks.stale_moving_seconds
    if 1.0 / fast_hz >= stale:
        raise InvalidArgument(
            f"[cameras] pose_fast_hz ({fast_hz}: a poll every {1.0 / fast_hz:g} s) must poll "
            f"more often than [privacy_masks] stale_moving_seconds ({stale})"
        )
    for small, large, strictly in pairs:
        a, b = (_setting(config, name) for name in (small, large))
        shorter, longer = _seconds(small, a), _seconds(large, b)  # keys of one unit: as is
        if shorter > longer or (strictly and shorter == longer):
            rule = "shorter than" if strictly else "at most"
            raise InvalidArgument(f"{small} ({a}) must be {rule} {large} ({b})")


def _seconds(name: str, value: float) -> float:
    """A duration setting's ``value`` in seconds (by the unit its key ends with)."""
    unit = next((s for u, s in UNIT_SECONDS.items() if name.endswith(u)), 1.0)
    return value * unit


def _setting(config: Config, name: str) -> Any:
    """The value of ``"[section] key"``."""
    section, key = name.strip("[").split("] ")
    return getattr(getattr(config, section), key)
