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

    [[tool.gruverify.xfail]]      # a known finding: the check runs; failing is xfail, passing xpass
    target = "onnx-torchscript"   # optional: a built-in name or module:attr (default: every target)
    check = "box invariance"
    reason = "onnxruntime's tanh returns 1 + 2^-21"

    [[tool.gruverify.ignore]]     # not run at all; listed as ignored with its reason
    check = "determinism"
    reason = "our kernels use atomics"

A file given by ``--config`` holds the same table, either as ``[tool.gruverify]`` or at its top
level. ``load_config(path)`` reads it (``path`` None: ``pyproject.toml`` in the working directory,
if it has a ``[tool.gruverify]`` table); anything wrong (no such file, bad TOML, an unknown key, a
wrong type, an unknown check or built-in target, an acknowledgement without a reason) raises
``ConfigError`` with one line that names the file, the key and, where it can, the closest valid
name. ``Settings.acknowledged(target)`` gives the xfail and ignore maps (check -> reason) for one
target. ``check_name`` and ``parse_acknowledgement`` validate the command line's ``--xfail
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
from gruverify.core.dtypes import DTYPES
from gruverify.core.names import closest_name

__all__ = [
    "KEYS",
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


KEYS: dict[str, tuple[type, ...]] = {
    "strict": (bool,),
    "activation_error": (float, int),
    "accumulator": (str,),
    "profile": (str,),
    "seed": (int,),
    "max_hidden": (int,),
    "max_steps": (int,),
    "max_batch": (int,),
    "isolate": (bool,),
    "timeout": (float, int),
    "xfail": (list,),
    "ignore": (list,),
    "matrix": (dict,),
}
"""The keys of ``[tool.gruverify]`` and the TOML types each takes. ``matrix`` is the table of
``gruverify matrix`` (read by ``gruverify.conformance.matrix.load_matrix_table``; ``check`` skips
it)."""

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
    """``[tool.gruverify]`` as read (``None``: not set); ``source`` names the file ('' none)."""

    strict: bool | None = None
    activation_error: float | None = None
    accumulator: str | None = None
    profile: str | None = None
    seed: int | None = None
    max_hidden: int | None = None
    max_steps: int | None = None
    max_batch: int | None = None
    isolate: bool | None = None
    timeout: float | None = None
    xfail: tuple[Acknowledgement, ...] = ()
    ignore: tuple[Acknowledgement, ...] = ()
    source: str = ""

    def acknowledged(self, target: str) -> tuple[dict[str, str], dict[str, str]]:
        """The ``xfail`` and ``ignore`` maps (check -> reason) that apply to ``target``."""
        return (
            {a.check: a.reason for a in self.xfail if a.applies_to(target)},
            {a.check: a.reason for a in self.ignore if a.applies_to(target)},
        )


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
    """``"CHECK=REASON"`` (or ``"CHECK"`` when not ``need_reason``) as ``(check, reason)``.

    Check names may hold ``=`` themselves (``h0=None equals zeros``): the longest known name that
    ``text`` is or starts with, followed by ``=``, is the check."""
    text = text.strip()
    matches = [n for n in check_names() if text == n or text.startswith(n + "=")]
    if not matches:
        name = text.split("=", 1)[0].strip()
        check_name(name, where)  # raises with a suggestion
    check = max(matches, key=len)
    reason = text[len(check) + 1 :].strip()
    if need_reason and not reason:
        raise ConfigError(f"{where} {text!r}: give a reason, as {where} '{check}=why it is known'")
    return check, reason or f"{where} on the command line"


def _target_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: target must be a target name or module:attr, got {value!r}")
    if ":" not in value:
        from gruverify.targets import TARGETS

        if value not in TARGETS:
            raise ConfigError(f"{where}: unknown target {value!r}{_suggest(value, list(TARGETS))}")
    return value


def _acknowledgements(entries: list[Any], kind: str, where: str) -> tuple[Acknowledgement, ...]:
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


def _value(key: str, value: Any, where: str) -> Any:
    """A scalar key's value, type- and range-checked."""
    types = KEYS[key]
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{where}: {key} must be a {names}, got {value!r}")
    if key == "profile":
        from gruverify.profiles import PROFILES

        if value not in PROFILES:
            raise ConfigError(f"{where}: unknown profile {value!r}{_suggest(str(value), PROFILES)}")
    if key == "activation_error" and not 0 <= value < 0.1:
        raise ConfigError(f"{where}: activation_error must be in [0, 0.1), got {value!r}")
    if key == "accumulator" and value not in DTYPES:
        close = closest_name(value, DTYPES)
        raise ConfigError(
            f"{where}: unknown accumulator {value!r}; expected a format: {', '.join(DTYPES)}"
            + (f" (did you mean {close!r}?)" if close else "")
        )
    if key in ("max_hidden", "max_steps", "max_batch", "timeout") and not value > 0:
        raise ConfigError(f"{where}: {key} must be positive, got {value!r}")
    return float(value) if float in types else value


def settings_from(table: Mapping[str, Any], where: str) -> Settings:
    """``Settings`` from a ``[tool.gruverify]`` table (``where`` names it in errors)."""
    values: dict[str, Any] = {"source": where}
    for key, value in table.items():
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, list(KEYS))}")
        if key == "matrix":
            continue  # gruverify matrix's own table (gruverify.conformance.matrix)
        if key in ("xfail", "ignore"):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: {key} must be an array of tables ([[...{key}]])")
            values[key] = _acknowledgements(value, key, where)
        else:
            values[key] = _value(key, value, where)
    return Settings(**values)


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
