"""A counterexample file as a standalone Python script that imports only the library and numpy.

``standalone_script(data)`` (``data``: a counterexample file's entries,
``gruverify.conformance.counterexample.read_counterexample``) returns the script's text and what the
issue text needs (``Reproduction``). The script holds the case inline (``case_text``), the float64
GRU of the target's variant and one check body (``script_text``), and the library's call
(``calls``). What it checks follows the saved check:

* ``forward[...]``, ``lengths truncation``: output and h_n against the float64 GRU, within the
  tolerance the counterexample recorded (``numbers["tolerance"]``; ``forward[saturated]``'s case is
  the saturated problem the law compared);
* ``h0=None equals zeros``: the same comparison with no initial state, within the error model's
  tolerance for that problem;
* ``box invariance``: ``|h_t| <= max(|h_(t-1)|, 1)`` within the recorded slack;
* ``bad initial state rejected``: the wrong shape the check saw accepted must raise;
* ``gradient[...]``: the recorded quantity's gradient (torch-based targets, paddle) against central
  differences of the float64 GRU and of the library's own float64 forward; a gradient that broke
  the output contract with non-finite entries (``kind_of``: ``nonfinite``) must be finite where the
  GRU's is;
* a forward check whose call ended the worker process (the law ``CRASH_LAW``: a segmentation
  fault): the call in a child process, its signal reported; once it returns, the forward
  comparison (``crash``);
* any other check (``chunked continuation``, ``layer stacking``, ...): the forward comparison on
  its saved case, when the target's forward call already disagrees with the GRU there
  (``forward_fallback`` runs it to see, with the error model's tolerance); otherwise a
  ``StandaloneError``, as for a target without a template.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.conformance.counterexample import load_problem
from gruverify.conformance.standalone.calls import Call, StandaloneError, call_for
from gruverify.conformance.standalone.case_text import (
    CASE_HELPERS,
    array_source,
    case_sha256,
    flat_cells,
)
from gruverify.conformance.standalone.inline import zoo_source
from gruverify.conformance.standalone.script_text import (
    BAD_STATE_MAIN,
    BOX_MAIN,
    COMPARE,
    CRASH_MAIN,
    FORWARD_MAIN,
    GRADIENT_MAIN,
    NONFINITE_MAIN,
    REFERENCE,
)
from gruverify.core.arithmetic import arithmetic_for
from gruverify.core.params import Variant
from gruverify.core.problem import Problem
from gruverify.error_model import ErrorModel, Inconclusive, arithmetic_of
from gruverify.laws.base import LawViolation
from gruverify.laws.equivalence import law_forward_equivalence, saturated_problem
from gruverify.targets import TargetError, resolve_target

__all__ = [
    "SUPPORTED_CHECKS",
    "Reproduction",
    "check_kind",
    "forward_fallback",
    "standalone_script",
    "title_of",
]

SUPPORTED_CHECKS = (
    "forward[...]", "lengths truncation", "h0=None equals zeros", "box invariance",
    "bad initial state rejected", "gradient[...]",
)  # fmt: skip

_VARIANTS: dict[str, Variant] = {"keras-reset-before": "reset_before"}
_MAINS = {"forward": FORWARD_MAIN, "box": BOX_MAIN, "bad_state": BAD_STATE_MAIN,
          "gradient": GRADIENT_MAIN, "nonfinite": NONFINITE_MAIN, "crash": CRASH_MAIN}  # fmt: skip
CRASH_LAW = "the target's process survives every call"
"""The law of a call that ended the worker process (``gruverify.guard.TargetDied``)."""


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """A standalone script and what its issue text says about it."""

    script: str
    library: str
    distributions: tuple[str, ...]
    kind: str
    """``forward``, ``box``, ``bad_state`` or ``gradient``."""
    variant: Variant
    problem: Problem
    constants: Mapping[str, Any]
    """The check's constants as written in the script (``TOL``, ``SLACK``, ``BAD_SHAPE``, ...)."""


def check_kind(check: str) -> str | None:
    """The script's kind of check for the saved ``check`` (module docstring); None when the check
    has no template of its own (``standalone_script`` then tries the forward comparison)."""
    if check.startswith("forward[") or check in ("lengths truncation", "h0=None equals zeros"):
        return "forward"
    if check.startswith("gradient["):
        return "gradient"
    return {"box invariance": "box", "bad initial state rejected": "bad_state"}.get(check)


def kind_of(data: Mapping[str, Any]) -> str | None:
    """``check_kind`` of the saved check, unless its law says more: a forward call that ended the
    process is ``crash``, a gradient with non-finite entries (the output contract) ``nonfinite``."""
    check, law = str(data["check"]), str(data.get("law", ""))
    kind = check_kind(check)
    if law == CRASH_LAW:
        if kind != "forward":
            raise StandaloneError(f"{check}: a crash has a standalone script for the forward checks "
                                  "only; replay it with `gruverify reproduce FILE`")  # fmt: skip
        return "crash"
    if (
        kind == "gradient"
        and law == "output contract"
        and "non-finite" in (data.get("numbers") or {})
    ):
        return "nonfinite"
    return kind


def forward_fallback(data: Mapping[str, Any], problem: Problem) -> dict[str, Any]:
    """For a check without a template: the saved case's forward comparison, when the target's
    forward call already disagrees with the GRU there (a zoo mutant caught by a metamorphic check
    often does). Returns the file's entries with that comparison's law and numbers; raises
    ``StandaloneError`` when the forward call agrees (the failure needs the check's own steps:
    two calls, a permuted batch, ...) or cannot be judged."""
    check = str(data["check"])
    no_template = (
        f"no standalone template for check {check!r} (supported: {', '.join(SUPPORTED_CHECKS)})"
    )
    try:
        impl = resolve_target(
            str(data["target"]), device=str(data["device"]), dtype=str(data["dtype"]),
            cell=bool(data.get("cell", False)),
        )  # fmt: skip
        law_forward_equivalence(impl, problem, ErrorModel(arithmetic_of(impl)))
    except LawViolation as e:  # no tolerance recorded (a wrong shape): the error model's is used
        return {**data, "law": e.law, "numbers": dict(e.numbers)}
    except (TargetError, Inconclusive) as e:
        raise StandaloneError(f"{no_template}; its case cannot be run forward: {e}") from e
    raise StandaloneError(
        f"{no_template}, and on its case one forward call agrees with the GRU (the failure needs "
        "the check's own calls); replay it with `gruverify reproduce FILE`"
    )


def _variant(target: str) -> Variant:
    """The variant the target is judged as: a built-in's, or a class's ``gruverify_variant``."""
    if target in _VARIANTS or ":" not in target:
        return _VARIANTS.get(target, "reset_after")
    module, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise StandaloneError(f"cannot import {target}: {type(e).__name__}: {e}") from e
    variant: Variant = getattr(obj, "gruverify_variant", "reset_after")
    return variant


def _forward_tolerance(problem: Problem, data: Mapping[str, Any], variant: Variant) -> float:
    """The error model's tolerance for the problem (the larger of output's and h_n's)."""
    arithmetic = arithmetic_for(str(data["dtype"]), str(data["device"]))
    error = float(data.get("activation_error") or 0.0)
    arithmetic = dataclasses.replace(arithmetic, activation_error=error)
    _, tol = ErrorModel(arithmetic).forward(problem, variant)
    return float(max(tol.output, tol.h_n))


def _constants(
    kind: str, data: Mapping[str, Any], problem: Problem, variant: Variant
) -> tuple[Problem, dict[str, Any]]:
    """The problem the script checks and the check's constants, from the saved entries."""
    numbers = data.get("numbers") or {}
    check = str(data["check"])
    if kind == "crash":
        return problem, {"TOL": _forward_tolerance(problem, data, variant)}
    if kind == "nonfinite":
        return problem, _cotangents(data, {"QUANTITY": str(numbers["quantity"])})
    if kind == "box":
        return dataclasses.replace(problem, lengths=None), {"SLACK": float(numbers["slack"])}
    if kind == "bad_state":
        shape = tuple(int(s) for s in numbers["expected shape"])
        wrong = tuple(int(s) for s in numbers["accepted shape"])
        return dataclasses.replace(problem, lengths=None), {"BAD_SHAPE": wrong, "GOOD_SHAPE": shape}
    if check == "forward[saturated]":
        problem = saturated_problem(problem, arithmetic_for(str(data["dtype"])))
    if check == "h0=None equals zeros":
        problem = dataclasses.replace(problem, h0=None)
    recorded = numbers.get("tolerance")
    if kind == "forward" and check != "h0=None equals zeros" and isinstance(recorded, float):
        return problem, {"TOL": recorded}
    if kind == "forward":
        return problem, {"TOL": _forward_tolerance(problem, data, variant)}
    if not isinstance(recorded, float) or "quantity" not in numbers:
        raise StandaloneError(f"{check}: the counterexample records no gradient tolerance")
    return problem, _cotangents(data, {"TOL": recorded, "QUANTITY": str(numbers["quantity"])})


def _cotangents(data: Mapping[str, Any], constants: dict[str, Any]) -> dict[str, Any]:
    """``constants`` and the gradient check's cotangents ``D_OUT``, ``D_HN`` (None: unused)."""
    saved = data.get("cotangents") or {}
    d_out, d_hn = saved.get("d_output"), saved.get("d_h_n")
    return {
        **constants,
        "D_OUT": None if d_out is None else np.asarray(d_out, np.float64),
        "D_HN": None if d_hn is None else np.asarray(d_hn, np.float64),
    }


def _constant_source(name: str, value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{name} = rounded({array_source(value)})"
    return f"{name} = {value!r}"


def _cells_source(cells: Mapping[str, np.ndarray]) -> list[str]:
    items = [f"{c!r}: {array_source(v)}" for c, v in cells.items()]
    return ["CELLS = {" + ", ".join(items) + "}"]


def _case_lines(problem: Problem, data: Mapping[str, Any], variant: Variant) -> list[str]:
    p = problem.params
    lengths = None if problem.lengths is None else [int(v) for v in problem.lengths]
    cells = flat_cells(problem)
    return [
        "# The case in torch.nn.GRU's conventions (x (T, B, I) or batch-first; h0 (L*D, B, H)):",
        f"I, H, L, D, BATCH_FIRST, BIAS = {p.input_size}, {p.hidden_size}, {p.num_layers}, "
        f"{p.num_directions}, {bool(problem.batch_first)}, {bool(p.bias)}",
        f"VARIANT, DTYPE = {variant!r}, {str(data['dtype'])!r}",
        *CASE_HELPERS.strip("\n").splitlines(),
        "",
        "",
        f"X = {array_source(problem.x)}",
        f"H0, LENGTHS = {array_source(problem.h0)}, {lengths!r}",
        *_cells_source(cells),
        f'assert case_sha256() == "{case_sha256(problem)}", "not the case gruverify saved"',
        "X, H0 = rounded(X), rounded(H0)",
        'PARAMS = {c: split(rounded(v), I if c in ("l0", "l0_reverse") else D * H) for c, v in CELLS.items()}',
    ]


def _header(data: Mapping[str, Any], call: Call, title: str) -> list[str]:
    return [
        "#!/usr/bin/env python3",
        f'"""{title}',
        "",
        f"Needs only numpy and {call.library}; the case inline (its sha256 checked), the GRU's equations in",
        f"float64; exit status 1 while {call.library} disagrees. By `gruverify reproduce FILE "
        f"--standalone` (gruverify {data.get('gruverify_version', '?')}, {str(data['check'])!r}).",
        '"""',
        *(["from __future__ import annotations"] if _is_zoo(str(data["target"])) else []),
        "import base64, hashlib, sys  # noqa: E401",
        "from importlib.metadata import distributions, version",
        "import numpy as np",
    ]


def _is_zoo(target: str) -> bool:
    return target.partition(":")[0].startswith("gruverify.zoo")


def _library_code(target: str, call: Call, kind: str) -> str:
    code = call.code.replace("${import_line}", call.import_line).strip("\n")
    if kind not in ("gradient", "nonfinite"):  # the forward scripts need no backward
        code = re.sub(r"\n\ndef library_gradient\(.*?(?=\n\n\ndef |\Z)", "", code, flags=re.S)
    if _is_zoo(target):  # the class's code, inlined
        code = zoo_source(target).strip("\n") + "\n\n\n" + code

    return code


def title_of(kind: str, library: str, data: Mapping[str, Any], constants: Mapping[str, Any]) -> str:
    """The issue's and the script's first line."""
    n = data.get("numbers") or {}
    if kind == "box":
        return f"{library}: GRU state leaves [-1, 1] (|h| = {abs(float(n['got'])):.10g})"
    if kind == "bad_state":
        return (
            f"{library}: GRU accepts an initial state of shape {constants['BAD_SHAPE']} "
            f"where {constants['GOOD_SHAPE']} is required"
        )
    if kind == "crash":
        return (
            f"{library}: the GRU call ends the process ({n.get('how', 'crash')}, {data['check']})"
        )
    if kind == "nonfinite":
        return (f"{library}: gradient of {constants['QUANTITY']} is non-finite where the GRU's is "
                f"finite ({data['check']})")  # fmt: skip
    what = "gradient of " + str(constants["QUANTITY"]) if kind == "gradient" else "GRU output"
    error = n.get("error")
    by = f" by {float(error):.3g}" if isinstance(error, float) else ""
    return f"{library}: {what} differs from the GRU equations{by} ({data['check']})"


def standalone_script(data: Mapping[str, Any]) -> Reproduction:
    """The standalone reproduction of a counterexample file's entries (module docstring)."""
    target, check = str(data["target"]), str(data["check"])
    call = call_for(target, bool(data.get("cell", False)))
    kind = kind_of(data)
    if kind is None:
        data, kind = forward_fallback(data, load_problem(data["problem"])), "forward"
    if kind in ("gradient", "nonfinite") and not call.gradients:
        raise StandaloneError(
            f"{check} on {target}: gradient scripts need a target with a gradient template "
            "(torch-gru, torch-grucell, module:attr, paddle); the forward checks' counterexamples "
            "have scripts"
        )
    variant = _variant(target)
    problem, constants = _constants(kind, data, load_problem(data["problem"]), variant)
    title = title_of(kind, call.library, data, constants)
    lines = [
        *_header(data, call, title), "",

        *_case_lines(problem, data, variant),
        *[_constant_source(k, v) for k, v in constants.items()], "",
        _library_code(target, call, kind), REFERENCE, COMPARE if kind in ("forward", "gradient", "crash") else "",
        _MAINS[kind].replace("{LIBRARY}", call.library), "",
        "installed = {d.name.lower().replace('_', '-') for d in distributions()}",
        f'print(", ".join(f"{{d}} {{version(d)}}" for d in {call.distributions!r} if d in installed), '
        '"| numpy", np.__version__)',
        "sys.exit(main())",
    ]  # fmt: skip
    script = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
    return Reproduction(
        script, call.library, call.distributions, kind, variant, problem, constants
    )  # fmt: skip
