"""The issue text beside a standalone script, and writing both from a counterexample file.

``issue_text(data, reproduction)`` is Markdown: a title, the library and its versions (as
installed where the script was written), the platform, what was expected with the equation, what
happened (the recorded numbers, and the known finding when gruverify has one), the script, and
the command that found it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from collections.abc import Mapping
from typing import Any

from gruverify.conformance.counterexample import read_counterexample
from gruverify.conformance.standalone.calls import StandaloneError
from gruverify.conformance.standalone.script import Reproduction, standalone_script, title_of
from gruverify.targets.findings import finding_for

__all__ = ["EXPECTED", "issue_text", "write_standalone"]

_STEP = {
    "reset_after": "n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   (reset-after, torch.nn.GRU)",
    "reset_before": "n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)   (reset-before, Cho et al. "
    "2014)",
}
_GATES = "r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)\nz = sigmoid(W_iz x + b_iz + W_hz h + b_hz)\n"

EXPECTED = {
    "forward": "The output and final state of the GRU, which runs each sequence for its own length "
    "(outputs past it are zero):\n\n```\n{gates}{step}\nh' = (1 - z) * n + z * h\n```\n\n"
    "within {TOL:.3g} of its float64 value (rounding in {dtype}).",
    "box": "Every state within [-max(|h_prev|, 1), max(|h_prev|, 1)]: h' = (1 - z) * n + z * h "
    "is a convex combination of h and n = tanh(...) in [-1, 1], with z = sigmoid(...) in [0, 1] "
    "(allowing {SLACK:.3g} relative for rounding).",
    "bad_state": "An error for an initial state of shape {BAD_SHAPE}: the input needs "
    "{GOOD_SHAPE} (layers x directions, batch, hidden), and a state of another shape is a bug "
    "in the caller.",
    "gradient": "The gradient of L = sum(d_out * output) + sum(d_hn * h_n) with respect to "
    "{QUANTITY} equal to the GRU's (central differences of the float64 GRU; the script also "
    "differences the library's own float64 forward), within {TOL:.3g}:\n\n```\n{gates}{step}\n"
    "h' = (1 - z) * n + z * h\n```",
    "nonfinite": "A finite gradient of L = sum(d_out * output) + sum(d_hn * h_n) with respect to "
    "{QUANTITY}: the GRU's is finite there (central differences of the float64 GRU, and of the "
    "library's own float64 forward), for\n\n```\n{gates}{step}\nh' = (1 - z) * n + z * h\n```",
    "crash": "The call returns (or raises an error): it must never end the process it runs in. "
    "Returning, its output and final state are the GRU's\n\n```\n{gates}{step}\n"
    "h' = (1 - z) * n + z * h\n```\n\nwithin {TOL:.3g} of their float64 values (rounding in "
    "{dtype}). The script runs the call in a child process and reports how it ended.",
}


def _versions(distributions: tuple[str, ...]) -> str:
    """The installed ones' versions (TensorFlow's is one of two names); none: each named so."""
    out = []
    for d in (*distributions, "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out.append(f"{d} {importlib.metadata.version(d)}")
    missing = [f"{d} (not installed here)" for d in distributions]
    return ", ".join(out if len(out) > 1 else missing + out)


def _happened(data: Mapping[str, Any]) -> str:
    numbers = data.get("numbers") or {}
    text = ", ".join(f"{k} = {v}" for k, v in numbers.items())
    finding = finding_for(str(data["target"]), str(data["check"]))
    more = f"\n\nKnown to gruverify: {finding}." if finding is not None else ""
    return f"{data.get('law', data['check'])}: {text} (case: {data['case']}).{more}"


def issue_text(data: Mapping[str, Any], rep: Reproduction, script_name: str = "repro.py") -> str:
    """The issue's Markdown (module docstring)."""
    values = {**rep.constants, "gates": _GATES, "step": _STEP[rep.variant],
              "dtype": data["dtype"]}  # fmt: skip
    expected = EXPECTED[rep.kind].format(**values)
    found = data.get("rerun_check") or f"gruverify check {data['target']}"
    return "\n".join([
        f"# {title_of(rep.kind, rep.library, data, rep.constants)}", "",
        f"**Library**: {rep.library} ({_versions(rep.distributions)}), dtype {data['dtype']} on "
        f"{data['device']}.  ",
        f"**Platform**: {platform.platform()}, Python {platform.python_version()}.", "",
        "## Expected", "", expected, "",
        "## What happened", "", _happened(data), "",
        f"## Reproduction (`python {script_name}`: exit status 1 while the bug is present)", "",
        "```python", rep.script.rstrip("\n"), "```", "",
        "## How it was found", "",
        f"`{found}` (gruverify, a GRU conformance checker); the script was written from its "
        "counterexample by `gruverify reproduce FILE --standalone`.", "",
    ])  # fmt: skip


def write_standalone(path: str, out: str | None = None, issue: str | None = None) -> str:
    """Write the standalone script of the counterexample file ``path`` to ``out`` (default: the
    file's name with ``.py``) and, with ``issue``, its issue text; returns the script's path.
    ``CounterexampleError`` or ``StandaloneError`` when the file cannot be turned into one."""
    data = read_counterexample(path)
    rep = standalone_script(data)
    out = out or os.path.splitext(path)[0] + ".py"
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(rep.script)
        if issue is not None:
            with open(issue, "w", encoding="utf-8") as f:
                f.write(issue_text(data, rep, os.path.basename(out)))
    except OSError as e:
        raise StandaloneError(f"cannot write {e.filename}: {e.strerror}") from e
    return out
