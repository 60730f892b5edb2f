"""What a law raises when it does not hold, or cannot be judged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# the error model decides what is inconclusive, and compares (Verdict)
from gruverify.error_model import Inconclusive, Verdict

__all__ = ["LawViolation", "Inconclusive", "verdict_violation"]


class LawViolation(AssertionError):
    """A law failed on one case.

    ``law`` names it, ``formula`` states it, ``numbers`` holds the figures behind the verdict
    (expected, got, tolerance, where), ``case`` describes the configuration.
    """

    def __init__(
        self,
        law: str,
        formula: str,
        detail: str,
        numbers: Mapping[str, Any] | None = None,
        case: str = "",
    ) -> None:
        self.law = law
        self.formula = formula
        self.detail = detail
        self.numbers = dict(numbers or {})
        self.case = case
        msg = f"{law} violated: {detail}\n  law: {formula}"
        if self.numbers:
            msg += "\n  " + ", ".join(f"{k}={_fmt(v)}" for k, v in self.numbers.items())
        if case:
            msg += f"\n  case: {case}"
        super().__init__(msg)


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def verdict_violation(
    law: str, formula: str, v: Verdict, case: str, extra: str = "", **more: Any
) -> LawViolation:
    """The ``LawViolation`` of a failed comparison ``v`` (``error_model.compare``): ``v`` as the
    detail (then ``extra``), its quantity, expected, got, error, tolerance and index as the
    numbers (then ``more``)."""
    numbers = {
        "quantity": v.quantity,
        "expected": v.expected,
        "got": v.got,
        "error": v.error,
        "tolerance": v.tolerance,
        "index": v.index,
        **more,
    }
    return LawViolation(law, formula, f"{v}{extra}", numbers, case)
