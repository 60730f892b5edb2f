"""A project's gruverify settings: ``[tool.gruverify]`` in pyproject.toml, or a file by ``--config``.

::

    [tool.gruverify]
    strict = true                 # warnings and xpasses fail (like --strict)
    activation_error = 1e-6       # the targets' declared activation error (like --activation-error)
    accumulator = "float32"       # the format their products accumulate in (like --accumulator)
    profile = "ci"                # quick | ci | thorough
    seed = 0
    max_hidden = 64               # sizes (--max-hidden, --max-steps, --max-batch)
    max_steps = 1000
    max_batch = 8
    isolate = true                # run the target in a worker process (--isolate)
    timeout = 60.0                # seconds per call into the target (--timeout)

    [tool.gruverify.target."my_pkg:MyCell"]   # options for one target only (they win)
    cell = true
    activation_error = 1e-4

    [[tool.gruverify.xfail]]      # a known finding: the check runs; failing is xfail, passing xpass
    target = "onnx-torchscript"   # optional: a built-in name or module:attr (default: every target)
    check = "box invariance"
    reason = "onnxruntime's tanh returns 1 + 2^-21"

    [[tool.gruverify.ignore]]     # not run at all; listed as ignored with its reason
    check = "determinism"
    reason = "our kernels use atomics"

Every option of ``gruverify check`` but ``--json`` and ``--config`` is a key, named as its field
(``gruverify.conformance.options``; ``gruverify options`` lists them) and parsed by its one
definition. A file given by ``--config`` holds the same table, either as ``[tool.gruverify]`` or at its top
level. ``load_config(path)`` reads it (``path`` None: ``pyproject.toml`` in the working directory,
if it has a ``[tool.gruverify]`` table); anything wrong (no such file, bad TOML, an unknown key, a
wrong type, an unknown check or built-in target, an acknowledgement without a reason) raises
``ConfigError`` with one line that names the file, the key and, where it can, the closest valid
name. ``Settings.for_target(target)`` gives the option values for one target (the top-level keys,
its own table, the acknowledgements that apply to it); ``Settings.acknowledged(target)`` the xfail
and ignore maps (check -> reason). ``check_name`` and ``parse_acknowledgement`` validate the command line's ``--xfail
CHECK=REASON`` and ``--ignore CHECK``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from gruverify.conformance.checks import check_names
from gruverify.conformance.options import OPTION_CLASSES, parse_acknowledgements
from gruverify.core.names import closest_name
from gruverify.core.options import OptionError, fields_of, parse_user_value

__all__ = [
    "KEYS",
    "TARGET_TABLE",
    "Acknowledgement",
    "ConfigError",
    "Settings",
    "check_name",
    "load_config",
    "parse_acknowledgement",
    "settings_from",
]


class ConfigError(ValueError):
    """A settings file or an acknowledgement that cannot be used (a usage error: exit status 2)."""


_ACKNOWLEDGEMENTS = ("xfail", "ignore")
"""The options written as arrays of tables (``[[tool.gruverify.xfail]]``), each entry optionally
for one target."""

TARGET_TABLE = "target"
"""``[tool.gruverify.target."NAME"]``: options (declarations above all) for one target only."""

KEYS: tuple[str, ...] = (
    *(name for cls in OPTION_CLASSES for name, _, _ in fields_of(cls)),
    TARGET_TABLE,
    "matrix",
)
"""The keys of ``[tool.gruverify]``: every option (``gruverify.conformance.options``), the
per-target tables and ``matrix``, the table of ``gruverify matrix`` (read by
``gruverify.conformance.matrix.load_matrix_table``; ``check`` skips it)."""

_OPTIONS = {name: spec for cls in OPTION_CLASSES for name, spec, _ in fields_of(cls)}

_ENTRY_KEYS = ("target", "check", "reason")


@dataclasses.dataclass(frozen=True)
class Acknowledgement:
    """A known finding: ``check`` on ``target`` (None: every target) with ``reason``."""

    check: str
    reason: str
    target: str | None = None

    def applies_to(self, target: str) -> bool:
        return self.target is None or self.target == target


@dataclasses.dataclass(frozen=True)
class Settings:
    """``[tool.gruverify]`` as read: ``values`` the options it sets (parsed, by field name),
    ``targets`` the options of ``[tool.gruverify.target."NAME"]`` tables, ``xfail`` and
    ``ignore`` the acknowledged findings; ``source`` names the file ('' none). An option's
    value is also an attribute (None: not set)."""

    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    targets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    xfail: tuple[Acknowledgement, ...] = ()
    ignore: tuple[Acknowledgement, ...] = ()
    source: str = ""

    def __getattr__(self, name: str) -> Any:
        if name in _OPTIONS:
            return self.values.get(name)
        raise AttributeError(name)

    def acknowledged(self, target: str) -> tuple[dict[str, str], dict[str, str]]:
        """The ``xfail`` and ``ignore`` maps (check -> reason) that apply to ``target``."""
        return (
            {a.check: a.reason for a in self.xfail if a.applies_to(target)},
            {a.check: a.reason for a in self.ignore if a.applies_to(target)},
        )

    def for_target(self, target: str) -> dict[str, Any]:
        """The option values the file gives for ``target``: the top-level keys, then its
        ``[tool.gruverify.target."NAME"]`` table, and the acknowledgements that apply to it."""
        values = {**self.values, **self.targets.get(target, {})}
        xfail, ignore = self.acknowledged(target)
        if xfail:
            values["xfail"] = xfail
        if ignore:
            values["ignore"] = ignore
        return values


def _suggest(name: str, known: Sequence[str]) -> str:
    close = closest_name(name, known)
    return f"; did you mean {close!r}?" if close else f"; known: {', '.join(known)}"


def check_name(name: str, where: str) -> str:
    """``name`` if it names a check of the catalogue; else ``ConfigError`` with the closest name
    (``where`` says where it was written, e.g. ``--xfail``)."""
    known = check_names()
    if name not in known:
        raise ConfigError(f"{where}: unknown check {name!r}{_suggest(name, known)}")
    return name


def parse_acknowledgement(text: str, where: str, *, need_reason: bool) -> tuple[str, str]:
    """``"CHECK=REASON"`` (or ``"CHECK"`` when not ``need_reason``) as ``(check, reason)``
    (``gruverify.conformance.options.parse_acknowledgements``); ``ConfigError`` naming ``where``."""
    try:
        ((check, reason),) = parse_acknowledgements([text], need_reason=need_reason).items()
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
    return check, reason


def _target_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: target must be a target name or module:attr, got {value!r}")
    if ":" not in value:
        from gruverify.targets import TARGETS

        if value not in TARGETS:
            raise ConfigError(f"{where}: unknown target {value!r}{_suggest(value, list(TARGETS))}")
    return value


def _acknowledgements(entries: Any, kind: str, where: str) -> tuple[Acknowledgement, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: {kind} must be an array of tables ([[...{kind}]])")
    out = []
    for i, entry in enumerate(entries):
        here = f"{where} [[{kind}]] entry {i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: expected a table with check and reason")
        for key in entry:
            if key not in _ENTRY_KEYS:
                raise ConfigError(f"{here}: unknown key {key!r}{_suggest(key, _ENTRY_KEYS)}")
        if "check" not in entry or not isinstance(entry["check"], str):
            raise ConfigError(f'{here}: check = "NAME" is required (a check\'s name)')
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f'{here}: reason = "..." is required, so the report can say why')
        target = entry.get("target")
        out.append(
            Acknowledgement(
                check_name(entry["check"], here), reason.strip(),
                None if target is None else _target_name(target, here),
            )
        )  # fmt: skip
    return tuple(out)


def _options(table: Mapping[str, Any], where: str, *, extra: Sequence[str]) -> dict[str, Any]:
    """The option values of a table (each parsed by its ``Option``), skipping the ``extra`` keys
    the caller reads itself; ``ConfigError`` for an unknown key or a bad value."""
    known = [*_OPTIONS, *extra]
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, known)}")
        if key in extra:
            continue
        try:
            values[key] = parse_user_value(key, _OPTIONS[key], value, f"{where}: {key}")
        except OptionError as e:
            raise ConfigError(str(e)) from None
    return values


def _target_tables(tables: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(tables, dict):
        raise ConfigError(f'{where}: {TARGET_TABLE} must be tables ([{TARGET_TABLE}."NAME"])')
    out = {}
    for name, table in tables.items():
        here = f'{where} [{TARGET_TABLE}."{name}"]'
        _target_name(name, here)
        if not isinstance(table, dict):
            raise ConfigError(f"{here}: expected a table of options")
        out[name] = _options(table, here, extra=())
    return out


def settings_from(table: Mapping[str, Any], where: str) -> Settings:
    """``Settings`` from a ``[tool.gruverify]`` table (``where`` names it in errors)."""
    values = _options(table, where, extra=(*_ACKNOWLEDGEMENTS, TARGET_TABLE, "matrix"))
    return Settings(
        values,
        _target_tables(table.get(TARGET_TABLE, {}), where),
        xfail=_acknowledgements(table.get("xfail", []), "xfail", where),
        ignore=_acknowledgements(table.get("ignore", []), "ignore", where),
        source=where,
    )


def _is_pyproject(path: str, data: Mapping[str, Any]) -> bool:
    """A pyproject.toml (its name, or its tables) rather than a gruverify settings file."""
    return os.path.basename(path) == "pyproject.toml" or bool(
        {"tool", "project", "build-system"} & set(data)
    )


def load_config(path: str | None = None, *, directory: str | None = None) -> Settings:
    """The settings in ``path`` (``--config``), else in ``directory``'s (default: the working
    directory's) ``pyproject.toml``; empty ``Settings`` when that has no ``[tool.gruverify]``.
    ``ConfigError`` for a file that is missing (given by name), unreadable or wrong."""
    given = path is not None
    if path is None:
        path = os.path.join(directory or os.getcwd(), "pyproject.toml")
        if not os.path.isfile(path):
            return Settings()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    tool = data.get("tool", {})
    if isinstance(tool, dict) and "gruverify" in tool:
        table, where = tool["gruverify"], f"{path} [tool.gruverify]"
    elif given and not _is_pyproject(path, data):
        table, where = data, path
    elif given:
        raise ConfigError(f"--config {path}: no [tool.gruverify] table")
    else:
        return Settings()
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    return settings_from(table, where)
