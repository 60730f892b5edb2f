"""The checker's report: one result per check, a verdict, JSON and terminal renderings.

Statuses (``STATUSES``): ``passed``; ``failed`` (a law violated: the target computes something
other than the GRU, or breaks its documented semantics); ``warning`` (a violation the check's
policy calls lax rather than wrong: a bad input accepted, or an exact invariant broken by a few
units of the target's arithmetic, ``gruverify.conformance.checks``); ``skipped`` (a missing
feature, or every case inconclusive); ``error`` (the target crashed); ``xfail`` / ``xpass`` (an
acknowledged finding that still fails / now passes; ``outcome`` keeps what it did); ``ignored``
(acknowledged and not run). The verdict is ``"fail"`` when a check failed or errored, and under
``strict`` also when one warned or xpassed (``FAILING``, ``STRICT_FAILING``); else ``"pass"``.

JSON schema (``Report.to_dict``)::

    {"target": str, "device": "cpu" | "cuda" | "cpu,cuda", "dtype": str,
     "verdict": "pass" | "fail" | "interrupted", "strict": bool,
     "verdict_so_far": "pass" | "fail",   # an interrupted run only: the checks that finished "arithmetic": str,   # e.g. "tf32 (u = 0.000488)"
     "warnings": int,                      # how many checks warned
     "counts": {status: int},              # every status of STATUSES
     "devices": [{"device": str, "arithmetic": str}], "profile": str, "seed": int,
     "seconds": float, "gruverify_version": str,
     "complete": bool,                     # false while the run goes on (the CLI rewrites the
                                           # file after each check) and when it was stopped
     "interrupted": str,                   # the signal that stopped it (SIGTERM, SIGINT), else absent
     "errors": [{"error": str,             # the target's crashes, one per distinct error: the
                 "traceback": str,         # exception, its traceback trimmed to the target's own
                 "triggers": [str],        # frames, what triggers it (conformance.triage) and
                 "checks": [str]}],        # the checks it hit ("forward[basic] on cpu")
     "checks": [{"name": str, "device": str, "status": one of STATUSES,
                 "message": str, "description": str, "cases": int, "inconclusive": int,
                 "seconds": float,
                 "outcome": str,            # xfail / xpass: the status it had (failed, warning,
                                            # error / passed), else absent
                 "reason": str,             # xfail / xpass / ignored: the acknowledgement's reason
                 "finding": str,            # a built-in target's known finding that explains this
                                            # check's result (gruverify.targets.findings), else absent
                 "traceback": str,          # error: the target's traceback (its own frames)
                 "error_key": str,          # error: what makes two crashes the same error
                 "trigger": str,            # what triggers the crash ("raises IndexError whenever
                                            # batch = 1; passes at batch = 2"), else absent
                 "diagnosis": str,          # failed forward checks whose outputs match a known
                                            # bug pattern (gruverify.conformance.diagnosis), else absent
                 "counterexample": {"case": {...}, "problem": str, "law": str, "formula": str,
                                    "numbers": {...}, "reproduce": str,
                                    "diagnosis": str}}]}   # failed/warning/error; diagnosis as above
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FAILING",
    "STATUSES",
    "STRICT_FAILING",
    "TAGS",
    "CheckResult",
    "TracebackNotes",
    "GruverifyWarning",
    "Report",
    "acknowledge",
    "gruverify_version",
    "jsonable",
    "merged_triggers",
]

STATUSES = ("passed", "failed", "warning", "skipped", "error", "xfail", "xpass", "ignored")
TAGS = {
    "passed": "PASS", "failed": "FAIL", "warning": "WARN", "skipped": "SKIP", "error": "ERROR",
    "xfail": "XFAIL", "xpass": "XPASS", "ignored": "IGNORE",
}  # fmt: skip
"""The tag each status gets on the terminal."""
FAILING = ("failed", "error")
"""Statuses that fail the verdict."""
STRICT_FAILING = (*FAILING, "warning", "xpass")
"""Statuses that fail the verdict under ``strict`` (``--strict``)."""


class GruverifyWarning(UserWarning):
    """A check's warning, as the pytest plugin raises it (``-W error::gruverify.GruverifyWarning``
    turns it into a failure, the pytest way)."""


@dataclasses.dataclass
class CheckResult:
    """The outcome of one check on one device."""

    name: str
    device: str
    status: str
    message: str
    description: str = ""
    cases: int = 0
    inconclusive: int = 0
    seconds: float = 0.0
    counterexample: dict[str, Any] | None = None
    diagnosis: str | None = None
    """What the target computes instead (``gruverify.conformance.diagnosis``), for a failed forward check."""
    outcome: str | None = None
    """For ``xfail`` / ``xpass``: the status the check had before it was acknowledged."""
    reason: str | None = None
    """For ``xfail`` / ``xpass`` / ``ignored``: the acknowledgement's reason."""
    finding: str | None = None
    """A built-in target's known finding that explains this result (``gruverify.targets.findings``);
    it never changes the status."""
    note: str | None = None
    """How the check was judged when that is not the plain reading (a batch-coupled quantization:
    ``checks.Check.coupling_note``); it never changes the status."""
    traceback: str | None = None
    """For an error (the target crashed): its traceback, trimmed to the target's own frames
    (``gruverify.core.tracebacks``); also on a failure whose check triaged a crash."""
    error_key: str | None = None
    """What makes two crashes the same error (``core.tracebacks.error_key``): results with the
    same key are one error in the report (``Report.error_groups``)."""
    trigger: str | None = None
    """What triggers the crash (``gruverify.conformance.triage``): ``raises IndexError whenever
    batch = 1; passes at batch = 2``; the check was judged on the other cases."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in (
            "counterexample",
            "diagnosis",
            "outcome",
            "reason",
            "finding",
            "traceback",
            "error_key",
            "trigger",
            "note",
        ):
            if d[key] is None:
                del d[key]
        return jsonable(d)  # type: ignore[no-any-return]

    def line(self) -> str:
        """One terminal line: the tag, device, name, and what happened."""
        first = self.message.splitlines()[0] if self.message else ""
        if self.status == "passed":
            extra = f"{self.cases} cases"
            if self.inconclusive:
                extra += f", {self.inconclusive} inconclusive"
            extra += f", {self.seconds:.1f} s"
        elif self.status == "skipped":
            extra = self.message
        elif self.status == "ignored":
            extra = f"not run, acknowledged: {self.reason}"
        elif self.status == "xfail":
            extra = f"acknowledged ({self.reason}); {self.outcome}: {first}"
        elif self.status == "xpass":
            extra = f"acknowledged ({self.reason}) but passed: {first}"
        else:
            extra = first
        return f"{TAGS[self.status]:6} {self.device:5} {self.name:26} {extra}"

    def notes(self) -> list[str]:
        """Lines that go under ``line()``: the known finding that explains the result, and how
        it was judged (``note``)."""
        lines = [f"{'':13} known finding: {self.finding}"] if self.finding else []
        return lines + ([f"{'':13} {self.note}"] if self.note else [])


def _indented(text: str, pad: str) -> list[str]:
    return [pad + line for line in text.splitlines()]


class TracebackNotes:
    """The lines that go under a crashed check's line as results come, once per distinct error
    (``CheckResult.error_key``): the first result of an error gets its trigger and the target's
    traceback; a later one of the same error names the check that showed it."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def notes(self, result: CheckResult) -> list[str]:
        if not result.traceback or not result.error_key:
            return []
        pad = " " * 13
        first = self.seen.get(result.error_key)
        if first is not None:
            return [f"{pad} the same error as {first} (its traceback above)"]
        self.seen[result.error_key] = f"{result.name} on {result.device}"
        trigger = [f"{pad} {result.trigger}"] if result.trigger else []
        return trigger + _indented(result.traceback, pad + " ")


def acknowledge(result: CheckResult, reason: str) -> CheckResult:
    """``result`` of a check acknowledged as a known finding (``--xfail``, ``[[tool.gruverify.
    xfail]]``) with ``reason``: a failure, warning or error becomes ``xfail``, a pass ``xpass``
    (``outcome`` keeps the status it had); skipped stays skipped."""
    if result.status in ("failed", "warning", "error"):
        return dataclasses.replace(result, status="xfail", outcome=result.status, reason=reason)
    if result.status == "passed":
        return dataclasses.replace(result, status="xpass", outcome="passed", reason=reason)
    return result


@dataclasses.dataclass
class Report:
    """All check results for one target and dtype, on one or more devices."""

    target: str
    devices: list[str]
    dtype: str
    arithmetic: dict[str, str]
    profile: str
    seed: int
    checks: list[CheckResult] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    complete: bool = True
    """False while the run goes on, and for a run that was stopped (``interrupted``): the
    report holds the checks that finished."""
    interrupted: str | None = None
    """The signal that stopped the run (``"SIGTERM"``, ``"SIGINT"``), or None."""
    strict: bool = False
    """Warnings and xpasses fail the verdict (``--strict``)."""
    declaration: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the run declared about the target (``Declaration.to_record``)."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What the run asked (``RunOptions`` as a record, the profile and seed it used)."""

    @property
    def verdict(self) -> str:
        """``"interrupted"`` for a run stopped by a signal (``interrupted``: its checks are not
        all there, so it neither passes nor fails); else ``verdict_so_far``."""
        return "interrupted" if self.interrupted else self.verdict_so_far

    @property
    def verdict_so_far(self) -> str:
        """``"fail"`` when a check failed or errored, or under ``strict`` warned or xpassed;
        else ``"pass"`` (skipped, ignored and xfail checks do not fail a target)."""
        return "fail" if self.failures else "pass"

    @property
    def failures(self) -> list[CheckResult]:
        """The results that fail the verdict, in run order."""
        failing = STRICT_FAILING if self.strict else FAILING
        return [c for c in self.checks if c.status in failing]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "warning"]

    def counts(self) -> dict[str, int]:
        """How many checks ended with each status (every status of ``STATUSES``)."""
        return {s: sum(c.status == s for c in self.checks) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "device": ",".join(self.devices),
            "dtype": self.dtype,
            "verdict": self.verdict,
            **({"verdict_so_far": self.verdict_so_far} if self.interrupted else {}),
            "strict": self.strict,
            "warnings": len(self.warnings),
            "counts": self.counts(),
            "arithmetic": "; ".join(
                v if len(self.arithmetic) == 1 else f"{k}: {v}" for k, v in self.arithmetic.items()
            ),
            "devices": [{"device": d, "arithmetic": self.arithmetic[d]} for d in self.devices],
            "profile": self.profile,
            "seed": self.seed,
            "declaration": self.declaration,
            "options": self.options,
            "seconds": round(self.seconds, 3),
            "complete": self.complete,
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            "gruverify_version": gruverify_version(),
            "errors": jsonable(self.error_groups()),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, path: str | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    def header(self) -> str:
        arith = ", ".join(f"{d}: {a}" for d, a in self.arithmetic.items())
        return (
            f"gruverify check {self.target}  dtype {self.dtype}  arithmetic {arith}  "
            f"profile {self.profile}  seed {self.seed}"
        )

    def verdict_phrase(self) -> str:
        """The verdict with what qualifies it: ``PASS``, ``PASS (1 warning: box invariance)``,
        ``FAIL (--strict: 1 warning: box invariance)``, ``PASS (2 xfail)``, ..."""
        extras = []
        names = _names(self.warnings)
        if names:
            n = len(self.warnings)
            extras.append(f"{n} warning{'s' * (n != 1)}: {names}")
        counts = self.counts()
        if counts["xpass"]:
            xpassed = _names(c for c in self.checks if c.status == "xpass")
            extras.append(f"{counts['xpass']} xpass: {xpassed}")
        if counts["xfail"]:
            extras.append(f"{counts['xfail']} xfail")
        if counts["ignored"]:
            extras.append(f"{counts['ignored']} ignored")
        verdict = self.verdict.upper()
        strict_only = self.strict and not any(c.status in FAILING for c in self.checks)
        if strict_only and self.failures:
            return f"{verdict} (--strict: {'; '.join(extras)})"
        return f"{verdict} ({'; '.join(extras)})" if extras else verdict

    def count_phrase(self) -> str:
        """``19 passed, 1 warning, 0 failed, 0 errors, 3 skipped`` (acknowledged ones when any)."""
        c = self.counts()
        parts = [f"{c['passed']} passed"]
        if c["warning"]:
            parts.append(f"{c['warning']} warning{'s' * (c['warning'] != 1)}")
        parts += [f"{c['failed']} failed", f"{c['error']} errors", f"{c['skipped']} skipped"]
        parts += [f"{c[s]} {s}" for s in ("xfail", "xpass", "ignored") if c[s]]
        return ", ".join(parts)

    def error_groups(self) -> list[dict[str, Any]]:
        """The target's crashes, one entry per distinct error (``CheckResult.error_key``):
        ``{"error": "IndexError: ...", "traceback": str, "triggers": [str, ...],
        "checks": ["forward[basic] on cpu", ...]}``, in the order they first happened."""
        groups: dict[str, dict[str, Any]] = {}
        for c in self.checks:
            if not c.traceback or not c.error_key:
                continue
            g = groups.setdefault(c.error_key, {
                "error": c.traceback.splitlines()[-1], "traceback": c.traceback,
                "triggers": [], "checks": [],
            })  # fmt: skip
            if c.trigger and c.trigger not in g["triggers"]:
                g["triggers"].append(c.trigger)
            g["checks"].append(f"{c.name} on {c.device}")
        for g in groups.values():
            g["triggers"] = merged_triggers(g["triggers"])
        return list(groups.values())

    def explain_errors(self) -> str:
        """Each distinct crash once: its exception, what triggers it, the checks it hit and the
        target's traceback."""
        groups = self.error_groups()
        if not groups:
            return ""
        n = len(groups)
        lines = [f"Errors: the target raised {n} distinct error{'s' * (n != 1)}"]
        for g in groups:
            lines.append(f"  {g['error']}")
            lines += [f"    {t}" for t in g["triggers"]]
            lines.append(f"    in {len(g['checks'])} checks: {', '.join(g['checks'])}")
            lines += _indented(g["traceback"], "    ")
        return "\n".join(lines)

    def explain_first_failure(self) -> str:
        """Which law, its numbers, the minimal configuration and the command that reproduces it."""
        if not self.failures:
            return ""
        c = self.failures[0]
        lines = [f"First failure: {c.name} on {c.device} ({c.status})", c.message.rstrip()]
        if c.diagnosis and c.diagnosis not in c.message:
            lines.append(f"diagnosis: {c.diagnosis}")
        if c.finding:
            lines.append(f"known finding: {c.finding}")
        ce = c.counterexample or {}
        if ce.get("case"):
            lines.append("minimal configuration: " + _kv(ce["case"]))
        if ce.get("reproduce"):
            lines.append(f"reproduce: {ce['reproduce']}")
        return "\n".join(lines)

    def explain_warnings(self) -> str:
        """Every warning (when not failing under ``strict``) and every acknowledged finding, one
        entry each with its reason, so that nothing goes silent."""
        lines = []
        if self.warnings and not self.strict:
            lines.append("Warnings (lax, not wrong; exit status 0, --strict fails them):")
            for c in self.warnings:
                lines.append(f"  {c.name} on {c.device}: {c.message.splitlines()[0]}")
                lines += [f"    {x.strip()}" for x in c.message.splitlines()[1:]
                          if x.strip().startswith("warning")]  # fmt: skip
                if c.finding:
                    lines.append(f"    known finding: {c.finding}")
        acknowledged = [c for c in self.checks if c.status in ("xfail", "xpass", "ignored")]
        if acknowledged:
            lines.append("Acknowledged findings:")
            for c in acknowledged:
                lines.append(f"  {c.status} {c.name} on {c.device}: {c.reason}")
        return "\n".join(lines)

    def render(self) -> str:
        lines = [self.header()]
        for c in self.checks:
            lines += [c.line(), *c.notes()]
        lines.append(
            f"verdict: {self.verdict_phrase()}  ({self.count_phrase()}; {self.seconds:.1f} s)"
        )
        for block in (self.explain_warnings(), self.explain_errors(), self.explain_first_failure()):
            if block:
                lines += ["", block]
        return "\n".join(lines)


_TRIGGER = re.compile(r"raises (\S+) (whenever|at) (.*?); passes at (.*)")


def merged_triggers(said: list[str]) -> list[str]:
    """The triggers several checks found for one error as one phrase per exception type:
    ``raises IndexError whenever batch = 1`` and ``... whenever unbatched`` (both ``passes at
    batch = 2``) become ``raises IndexError whenever batch = 1 or unbatched; passes at batch =
    2``; a phrase of another form is kept as it is."""
    parts: dict[str, tuple[list[str], list[str], list[bool]]] = {}
    other: list[str] = []
    for text in said:
        for phrase in re.split(r"; (?=raises )", text):
            m = _TRIGGER.fullmatch(phrase)
            if m is None:
                other.append(phrase)
                continue
            names, instead, always = parts.setdefault(m.group(1), ([], [], []))
            names += [n for n in m.group(3).split(" or ") if n not in names]
            instead += [i for i in m.group(4).split(", or at ") if i not in instead]
            always.append(m.group(2) == "whenever")
    merged = [
        f"raises {kind} {'whenever' if all(a) else 'at'} {' or '.join(n)}; passes at "
        + ", or at ".join(i)
        for kind, (n, i, a) in parts.items()
    ]
    return merged + list(dict.fromkeys(other))


def _names(results: Any) -> str:
    """``box invariance, bad initial state rejected``: each check's name once, in run order."""
    seen: list[str] = []
    for c in results:
        if c.name not in seen:
            seen.append(c.name)
    return ", ".join(seen)


def gruverify_version() -> str:
    """The installed gruverify's version (``"unknown"`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gruverify")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _kv(d: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON: dict keys as strings, tuples as lists, numpy scalars and arrays as
    Python numbers and lists, NaN and infinities as strings, anything else as ``str``."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    if isinstance(v, float):
        return v if v == v and abs(v) != float("inf") else str(v)
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return jsonable(v.item())
        if isinstance(v, np.ndarray):
            return jsonable(v.tolist())
    except ImportError:  # pragma: no cover
        pass
    return str(v)
