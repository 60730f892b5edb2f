"""What the user asks of a run: ``RunOptions``, each field an option defined once.

Device, dtype, hypothesis profile and seed, the checks to run, the largest sizes drawn, where the
target runs (a worker process, its Python and memory), the time limit of a call, where failing
cases are saved, and how results become the verdict (strictness, acknowledged findings). What the
user declares about the *target* is ``gruverify.targets.declaration.Declaration``; the two are
the options of a run, and every front end is derived from their fields
(``gruverify.core.options``): ``gruverify check``'s flags, ``[tool.gruverify]``'s keys
(``gruverify.conformance.config``), the pytest plugin's ``--gru-*`` options, the keywords of
``run_checks`` and ``conformance_tests`` (``run_keywords``), and the reproduce line
(``reproduce_command``). ``options_table`` writes the README's table of them.

A value of None means "not given" (the runner's default applies: every device, the target's
dtype, profile ``ci``, seed 0 under ``ci``, ...). The ``xfail`` and ``ignore`` maps (check ->
reason) are read-only mappings.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from gruverify.conformance.checks import check_names
from gruverify.core.dtypes import DTYPES
from gruverify.core.names import closest_name
from gruverify.core.options import (
    Option,
    cli_flag,
    fields_of,
    keyword_values,
    option,
    parse_switch,
    parse_text,
    plugin_flag,
    render_args,
)
from gruverify.guard import DEFAULT_TIMEOUT
from gruverify.profiles import PROFILES
from gruverify.targets.declaration import Declaration

__all__ = [
    "OPTION_CLASSES",
    "RunOptions",
    "options_table",
    "parse_acknowledgements",
    "reproduce_command",
    "run_keywords",
    "write_readme_table",
]


def _device(value: Any) -> str | tuple[str, ...]:
    """A device (``cpu``, ``cuda``, ``cuda:1``); the Python API also takes a sequence of them."""
    if not isinstance(value, str) and isinstance(value, Sequence):
        return tuple(str(_device(v)) for v in value)
    if not isinstance(value, str) or not (value == "cpu" or value.startswith("cuda")):
        raise ValueError(f"unknown device {value!r}; expected cpu or cuda")
    return value


def _choice(known: Sequence[str], what: str) -> Any:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in known:
            close = closest_name(str(value), known)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(known)}{hint}")
        return value

    return parse


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not a whole number: {value!r}")
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"not a whole number: {value!r}") from None
    if not isinstance(value, int):
        raise ValueError(f"not a whole number: {value!r}")
    return value


def _positive(value: Any) -> int:
    number = _integer(value)
    if number < 1:
        raise ValueError(f"must be at least 1, got {value!r}")
    return number


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"not a number of {what}: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a number of {what}: {value!r}") from None


def _seconds(value: Any) -> float:
    seconds = _number(value, "seconds")
    if not 0 < seconds < float("inf"):
        raise ValueError(f"the timeout must be positive seconds, got {value!r}")
    return seconds


def _gibibytes(value: Any) -> int:
    """A memory size given in GiB (0: no limit) as bytes."""
    gib = _number(value, "GiB")
    if not 0 <= gib < float("inf"):
        raise ValueError(f"must be 0 (no limit) or positive GiB, got {value!r}")
    return int(gib * 2**30)


def _bytes(value: Any) -> int:
    """A memory size in bytes (the Python API's), 0 for none."""
    number = _integer(value)
    if number < 0:
        raise ValueError(f"must be 0 (no limit) or a positive number of bytes, got {value!r}")
    return number


def _checks(value: Any) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else list(value)
    known = check_names()
    for name in names:
        if name not in known:
            close = closest_name(str(name), known)
            raise ValueError(
                f"unknown check {name!r}"
                + (f"; did you mean {close!r}?" if close else f"; known: {', '.join(known)}")
            )
    return tuple(names)


def parse_acknowledgements(value: Any, *, need_reason: bool) -> Mapping[str, str]:
    """Acknowledged findings as check -> reason: a mapping, check names (``ignore`` only), or
    the command line's ``CHECK=REASON`` texts. Check names may hold ``=`` themselves
    (``h0=None equals zeros``): the longest known name a text is or starts with, followed by
    ``=``, is the check."""
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
        _checks([k for k, _ in pairs])
    else:
        pairs = []
        for text in [value] if isinstance(value, str) else list(value):
            text = str(text).strip()
            matches = [n for n in check_names() if text == n or text.startswith(n + "=")]
            if not matches:
                _checks([text.partition("=")[0].strip()])  # raises with a suggestion
            check = max(matches, key=len)
            reason = text[len(check) + 1 :].strip()
            if need_reason and not reason:
                raise ValueError(f"give a reason for {check!r}, as '{check}=why it is known'")
            pairs.append((check, reason or "acknowledged on the command line"))
    if need_reason and any(not reason.strip() for _, reason in pairs):
        raise ValueError("every acknowledged finding needs a reason")
    return MappingProxyType(dict(pairs))


def _render_acknowledgements(value: Mapping[str, str]) -> list[str]:
    return [f"{check}={reason}" for check, reason in value.items()]


def _xfail(value: Any) -> Mapping[str, str]:
    return parse_acknowledgements(value, need_reason=True)


def _ignore(value: Any) -> Mapping[str, str]:
    return parse_acknowledgements(value, need_reason=False)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What the user asks of a run (None: not given; the runner's default)."""

    device: str | tuple[str, ...] | None = option(None, Option(
        "the device to check on (default: cpu, plus cuda when available)", example="cpu",
        parse=_device, choices=lambda: ("cpu", "cuda"), reproduce=True,
    ))  # fmt: skip
    dtype: str | None = option(None, Option(
        "the dtype to build the target in (default: the target's; float32 for torch)",
        example="float64", parse=_choice(DTYPES, "dtype"), choices=lambda: DTYPES,
        reproduce=True,
    ))  # fmt: skip
    profile: str | None = option(None, Option(
        "hypothesis profile: how many cases each check draws (default ci)", example="quick",
        parse=_choice(PROFILES, "profile"), choices=lambda: PROFILES, reproduce=True,
    ))  # fmt: skip
    seed: int | None = option(None, Option(
        "fix the draw (default 0 under ci, a fresh seed otherwise)", example=7, parse=_integer,
        reproduce=True,
    ))  # fmt: skip
    checks: tuple[str, ...] | None = option(None, Option(
        "run only this check (repeatable; default: every check)", example=("forward[basic]",),
        parse=_checks, kind="repeat", metavar="NAME", choices=check_names, flag="--check",
        render=list,
    ))  # fmt: skip
    max_hidden: int | None = option(None, Option(
        "draw input and hidden sizes up to N, favouring tile boundaries (multiples of 8, 16, 32, "
        "64, 128 and one either side) and N itself (default 9)", example=64, parse=_positive,
        metavar="N", reproduce=True,
    ))  # fmt: skip
    max_steps: int | None = option(None, Option(
        "draw sequences of up to T steps, favouring powers of two and one past them, and T "
        "(default 9; the forward[long] check runs 33 to max(130, T) steps)", example=300,
        parse=_positive, metavar="T", reproduce=True,
    ))  # fmt: skip
    max_batch: int | None = option(None, Option(
        "draw batches of up to B, favouring multiples of 8 to 128 and one either side, and B "
        "(default 4)", example=40, parse=_positive, metavar="B", reproduce=True,
    ))  # fmt: skip
    strict: bool | None = option(None, Option(
        "warnings (and xpasses of acknowledged findings) fail the verdict: exit 1",
        example=True, parse=parse_switch, kind="switch", reproduce=True,
    ))  # fmt: skip
    xfail: Mapping[str, str] | None = option(None, Option(
        "acknowledge a known finding: CHECK still runs; failing is xfail, passing xpass "
        "(repeatable; settings: [[tool.gruverify.xfail]] tables)",
        example=MappingProxyType({"box invariance": "tanh returns 1 + 2^-21"}), parse=_xfail,
        render=_render_acknowledgements, kind="repeat", metavar="CHECK=REASON",
    ))  # fmt: skip
    ignore: Mapping[str, str] | None = option(None, Option(
        "do not run CHECK; it is listed as ignored (repeatable; settings: "
        "[[tool.gruverify.ignore]] tables)",
        example=MappingProxyType({"determinism": "our kernels use atomics"}), parse=_ignore,
        render=_render_acknowledgements, kind="repeat", metavar="CHECK[=REASON]",
    ))  # fmt: skip
    isolate: bool | None = option(None, Option(
        "run the target in a worker process (gruverify check's default for a named target): a "
        "call past its limit kills the worker, a crash (segfault, abort, os._exit) fails its "
        "check, and the run goes on with a new worker; --no-isolate runs it in this process",
        example=False, parse=parse_switch, kind="toggle",
    ))  # fmt: skip
    python: str | None = option(None, Option(
        "run the worker under this Python (another virtualenv); it needs numpy, gruverify "
        "(pip install --no-deps) and the target's framework", example="/usr/bin/python3",
        parse=parse_text, metavar="PATH",
    ))  # fmt: skip
    memory_limit: int | None = option(None, Option(
        "the worker's address-space limit in GiB (default: half the machine's memory, at least "
        "4; none on CUDA; 0: none); an allocation beyond it raises MemoryError (the Python API "
        "takes bytes)", example=2 * 2**30, parse=_gibibytes, render=lambda v: [f"{v / 2**30:g}"],
        check=_bytes, metavar="GIB",
    ))  # fmt: skip
    timeout: float | None = option(None, Option(
        f"the most one call into the target may take (default {DEFAULT_TIMEOUT:g}); each call "
        "gets a limit below it that adapts to the target's speed and shortens once it has hung "
        "(docs/checker.md); a call that does not return fails its check", example=30.0,
        parse=_seconds, render=lambda v: [f"{v:g}"], metavar="SECONDS",
    ))  # fmt: skip
    artifacts: str | None = option(None, Option(
        "where failing cases are saved (default: the --json report's directory, else "
        "./.gruverify; the pytest plugin saves none unless told)", example="ce-dir",
        parse=parse_text, metavar="DIR",
    ))  # fmt: skip


OPTION_CLASSES: tuple[type, ...] = (Declaration, RunOptions)
"""The two groups of options, in the order the front ends list them."""


def run_keywords(given: Mapping[str, Any], where: str) -> tuple[Declaration, RunOptions]:
    """The ``Declaration`` and ``RunOptions`` of a Python call's keywords (``run_checks(**given)``):
    ``TypeError`` for an unknown keyword, ``OptionError`` for a bad value."""
    declaration, run = keyword_values(OPTION_CLASSES, given, where)
    return declaration, run


def reproduce_command(
    target: str, declaration: Declaration, run: RunOptions, *, dtype: str, seed: int, check: str
) -> str:
    """The ``gruverify check`` command that reruns one check with the same draw: the target, the
    declaration, the run's options that change what is drawn or how it is judged (those marked
    ``reproduce``), with the dtype and seed the run used, and ``--check``."""
    run = dataclasses.replace(run, dtype=dtype, seed=seed, profile=run.profile or "ci")
    words = ["gruverify", "check", target, *render_args(declaration), *render_args(run)]
    return shlex.join([*words, "--check", check])


def options_table() -> str:
    """The README's table of options: each field's settings key, command-line flag, pytest
    option and help, generated from the definitions."""
    lines = [
        "| setting / keyword | `gruverify check` | pytest plugin | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for cls in OPTION_CLASSES:
        for name, spec, _ in fields_of(cls):
            if spec.kind in ("switch", "toggle"):
                value = ""
            elif spec.metavar or spec.choices is None:
                value = " " + (spec.metavar or name.upper())
            else:
                value = " " + "|".join(spec.choices())
            flag = cli_flag(name, spec)
            if spec.kind == "toggle":
                flag += " / --no-" + flag[2:]
            lines.append(
                f"| `{name}` | `{flag}{value}` | `{plugin_flag(name, spec)}{value}` | "
                f"{spec.help.replace('|', '/')} |"
            )
    return "\n".join(lines)


def write_readme_table(path: str) -> bool:
    """Put ``options_table()`` between the ``<!-- options:begin -->`` and ``<!-- options:end -->``
    lines of the file at ``path``; whether it changed."""
    begin, end = "<!-- options:begin -->\n", "\n<!-- options:end -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if begin not in text or end not in text:
        raise ValueError(f"{path}: no {begin.strip()} ... {end.strip()} lines")
    head, rest = text.split(begin, 1)
    new = head + begin + options_table() + end + rest.split(end, 1)[1]
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text
