"""The checker's report: one result per check, a verdict, JSON and terminal renderings.

JSON schema (``Report.to_dict``)::

    {"target": str, "device": "cpu" | "cuda" | "cpu,cuda", "dtype": str,
     "verdict": "pass" | "fail", "arithmetic": str,            # e.g. "tf32 (u = 0.000488)"
     "devices": [{"device": str, "arithmetic": str}], "profile": str, "seed": int,
     "seconds": float, "gruverify_version": str,
     "complete": bool,                     # false while the run goes on (the CLI rewrites the
                                           # file after each check) and when it was stopped
     "interrupted": str,                   # the signal that stopped it (SIGTERM, SIGINT), else absent
     "checks": [{"name": str, "device": str, "status": "passed"|"failed"|"skipped"|"error",
                 "message": str, "description": str, "cases": int, "inconclusive": int,
                 "seconds": float,
                 "diagnosis": str,          # failed forward checks whose outputs match a known
                                            # bug pattern (gruverify.conformance.diagnosis), else absent
                 "counterexample": {"case": {...}, "problem": str, "law": str, "formula": str,
                                    "numbers": {...}, "reproduce": str,
                                    "diagnosis": str}}]}   # failed/error only; diagnosis as above
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["STATUSES", "CheckResult", "Report", "gruverify_version", "jsonable"]

STATUSES = ("passed", "failed", "skipped", "error")


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

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["counterexample"] is None:
            del d["counterexample"]
        if d["diagnosis"] is None:
            del d["diagnosis"]
        return jsonable(d)  # type: ignore[no-any-return]

    def line(self) -> str:
        tag = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "error": "ERROR"}[self.status]
        extra = ""
        if self.status == "passed":
            extra = f"{self.cases} cases"
            if self.inconclusive:
                extra += f", {self.inconclusive} inconclusive"
            extra += f", {self.seconds:.1f} s"
        elif self.status == "skipped":
            extra = self.message
        else:
            extra = self.message.splitlines()[0] if self.message else ""
        return f"{tag:5}  {self.device:5} {self.name:26} {extra}"


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

    @property
    def verdict(self) -> str:
        """``"pass"`` when no check failed or errored (skipped checks do not fail a target)."""
        return "fail" if any(c.status in ("failed", "error") for c in self.checks) else "pass"

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status in ("failed", "error")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "device": ",".join(self.devices),
            "dtype": self.dtype,
            "verdict": self.verdict,
            "arithmetic": "; ".join(
                v if len(self.arithmetic) == 1 else f"{k}: {v}" for k, v in self.arithmetic.items()
            ),
            "devices": [{"device": d, "arithmetic": self.arithmetic[d]} for d in self.devices],
            "profile": self.profile,
            "seed": self.seed,
            "seconds": round(self.seconds, 3),
            "complete": self.complete,
            **({"interrupted": self.interrupted} if self.interrupted else {}),
            "gruverify_version": gruverify_version(),
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

    def explain_first_failure(self) -> str:
        """Which law, its numbers, the minimal configuration and the command that reproduces it."""
        if not self.failures:
            return ""
        c = self.failures[0]
        lines = [f"First failure: {c.name} on {c.device} ({c.status})", c.message.rstrip()]
        if c.diagnosis and c.diagnosis not in c.message:
            lines.append(f"diagnosis: {c.diagnosis}")
        ce = c.counterexample or {}
        if ce.get("case"):
            lines.append("minimal configuration: " + _kv(ce["case"]))
        if ce.get("reproduce"):
            lines.append(f"reproduce: {ce['reproduce']}")
        return "\n".join(lines)

    def render(self) -> str:
        lines = [self.header(), *(c.line() for c in self.checks)]
        counts = {s: sum(c.status == s for c in self.checks) for s in STATUSES}
        lines.append(
            f"verdict: {self.verdict.upper()}  ({counts['passed']} passed, {counts['failed']} "
            f"failed, {counts['error']} errors, {counts['skipped']} skipped; {self.seconds:.1f} s)"
        )
        if self.failures:
            lines += ["", self.explain_first_failure()]
        return "\n".join(lines)


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
