"""Explain a failed forward check: which known bug pattern the target's outputs match.

``explain_failure(check, impl, case, model)`` runs ``gruverify.conformance.diagnosis`` on the problem the
check's law compared (``check.diagnose(case.problem(), arithmetic)``). A shrunk counterexample is often too
small to tell patterns apart (one step from ``h0 = 0`` cannot tell reset-before from ``b_hn``
outside the reset product: both give ``n = tanh(W_in x + b_in + b_hn)``), so when the diagnosis
there is missing or ambiguous it is repeated on the same case enlarged (at least 4 steps, batch 2,
sizes 3, an initial state where the target takes one; same kinds and seed), and the unambiguous
answer is kept, naming the problem it was found on.
"""

from __future__ import annotations

import dataclasses

from gruverify.conformance.cases import CheckCase
from gruverify.conformance.checks import Check
from gruverify.conformance.diagnosis import Diagnosis, diagnose_implementation
from gruverify.conformance.suggest import explaining_declaration
from gruverify.core.problem import Implementation
from gruverify.error_model import ErrorModel

__all__ = ["enlarged", "explain_failure"]


def enlarged(case: CheckCase, impl: Implementation) -> CheckCase:
    """``case`` with at least 4 steps, batch 2 (when batched), input and hidden size 3 and an
    initial state (when ``impl`` supports one); every other choice and the seed unchanged."""
    c = case.config
    changes: dict[str, object] = {
        "steps": max(c.steps, 4),
        "input_size": max(c.input_size, 3),
        "hidden_size": max(c.hidden_size, 3),
    }
    if c.batch is not None:
        changes["batch"] = max(c.batch, 2)
    if impl.capabilities.supports("initial_state"):
        changes["initial_state"] = True
    return dataclasses.replace(case, config=dataclasses.replace(c, **changes))  # type: ignore[arg-type]


def _diagnose(
    check: Check, impl: Implementation, case: CheckCase, model: ErrorModel
) -> Diagnosis | None:
    assert check.diagnose is not None
    try:
        return diagnose_implementation(
            impl, check.diagnose(case.problem(), model.arithmetic), model
        )
    except Exception:  # a diagnosis is an extra: it never turns a failure into an error
        return None


def explain_failure(
    check: Check, impl: Implementation, case: CheckCase, model: ErrorModel
) -> str | None:
    """The diagnosis sentence for a failed check on ``case``, or None (the check does not
    diagnose, or no known pattern fits). For a hand-written GRU checked through a declaration,
    also the declaration under which it matches the reference, when ``suggest`` finds one
    (``explaining_declaration``)."""
    if check.diagnose is None:
        return None
    text = _pattern(check, impl, case, model)
    declared = explaining_declaration(impl)
    if declared is None:
        return text
    return declared if text is None else f"{text}; {declared}"


def _pattern(check: Check, impl: Implementation, case: CheckCase, model: ErrorModel) -> str | None:
    """The known bug pattern the failure on ``case`` (or on it enlarged) matches, or None."""
    assert check.diagnose is not None
    found = _diagnose(check, impl, case, model)
    if found is not None and not found.alternatives:
        return str(found)
    bigger = enlarged(case, impl)
    if bigger == case:
        return None if found is None else str(found)
    again = _diagnose(check, impl, bigger, model)
    if again is None or (found is not None and len(again.alternatives) >= len(found.alternatives)):
        return None if found is None else str(found)
    return (
        f"{again} (on the counterexample enlarged: "
        f"{check.diagnose(bigger.problem(), model.arithmetic).describe()})"
    )
