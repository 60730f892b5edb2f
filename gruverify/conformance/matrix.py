"""The conformance matrix: every built-in target checked in one run, as JSON, a table and a picture.

``run_matrix(MatrixPlan(...))`` checks each target in a process of its own,
``PYTHON -m gruverify check TARGET --json F --profile P --seed S``, ``jobs`` at a time. One process
per target keeps frameworks apart (Keras reads its backend once per process: ``keras-tensorflow``
and ``tflite`` get ``KERAS_BACKEND=tensorflow``, the others none) and lets a target whose framework
lives in another environment run under that environment's interpreter (``python_for``). A target
whose framework cannot be imported there is ``unavailable``, with the checker's one-line reason.

Written to the output directory: ``matrix.json`` (schema below), ``matrix.md`` (``render_markdown``)
and ``matrix.png`` (``gruverify.conformance.matrix_plot``, when matplotlib is installed)::

    {"date": ISO 8601, "machine": {"platform", "python", "cpus", "processor", "load_average"},
     "gruverify_version": str, "profile": str, "seed": int, "jobs": int, "seconds": float,
     "checks": [check name, ...],                  # the columns, in the checker's order
     "targets": [{"target": str, "library": str, "version": str,
                  "verdict": "pass" | "fail" | "error" | "unavailable", "reason": str,
                  "checks": {check name: status},   # statuses of gruverify.conformance.report
                  "warnings": int, "seconds": float, "python": str,
                  "findings": [{"check", "status", "message",
                                "explanation", "seen_in", "upstream"}]}]}   # "" where unknown

A finding is a check that failed, warned, errored, xfailed or xpassed; its explanation comes from
``gruverify.targets.findings`` (empty: not explained yet). ``regressions(previous, current)`` lists
what got worse between two ``matrix.json`` documents: a verdict (pass < fail < error; a target that
ran and is now unavailable) or a check's status (``STATUS_RANK``).

Settings may also come from ``[tool.gruverify.matrix]`` (``load_matrix_table``); with ``--config
FILE`` each target's check reads its ``[tool.gruverify]`` settings from FILE too (acknowledged
findings per target, ``strict``)::

    [tool.gruverify.matrix]
    targets = ["torch-gru", "mlx"]                       # default: every built-in target
    python = {paddle = ".venv-paddle/bin/python"}        # target -> interpreter
    timeout = {torch-compile = 300}                      # target -> check --timeout (per call)
    jobs = 2
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gruverify.conformance.checks import check_names
from gruverify.conformance.options import RunOptions
from gruverify.conformance.report import gruverify_version
from gruverify.core.options import render_args
from gruverify.targets.findings import finding_for
from gruverify.targets.library_targets import LIBRARY_OF
from gruverify.targets.registry import TARGETS

__all__ = [
    "DEFAULT_TIMEOUTS",
    "KERAS_TENSORFLOW",
    "LIBRARY",
    "SLOW",
    "STATUS_RANK",
    "VERDICT_RANK",
    "MatrixError",
    "MatrixPlan",
    "load_matrix_table",
    "regressions",
    "row_from_report",
    "render_markdown",
    "run_matrix",
    "write_matrix",
]


class MatrixError(ValueError):
    """Settings the matrix cannot use (a usage error: exit status 2)."""


LIBRARY: dict[str, str] = {
    "torch-gru": "torch",
    "torch-grucell": "torch",
    "numpy-reference": "numpy",
    "torch-reference": "torch",
    "torch-dynamic-int8": "torch",
    "onnx-torchscript": "onnxruntime",
    "onnx-dynamo": "onnxruntime",
    "keras-reset-after": "keras",
    "keras-reset-before": "keras",
    "flax-linen": "flax",
    "flax-nnx": "flax",
    **LIBRARY_OF,
}
"""Built-in target -> the distribution whose version the matrix reports."""

KERAS_TENSORFLOW = ("keras-tensorflow", "tflite", "tf2onnx", "tflite-dynamic-int8")
"""Targets that need ``KERAS_BACKEND=tensorflow`` in their process."""

DEFAULT_TIMEOUTS: dict[str, float] = {"torch-compile": 300.0, "jittor": 300.0}
"""Per-call limits (``check --timeout``) for targets whose first calls compile: torch-compile's
backward compilation of a three-layer GRU takes over a minute on 2 cores with a cold cache, and so
does Jittor's g++ compilation of a GRU's backward ops with a cold ``~/.cache/jittor``."""

SLOW = (
    "torch-compile",
    "mindspore",
    "jittor",
    "torch-export",
    "tflite",
    "executorch",
    "onnx-dynamo",
    "tf2onnx",
    "tflite-dynamic-int8",
)
"""Targets that compile per input shape, slowest first: started first, in this order, so the
others run beside them."""

STATUS_RANK = {
    "passed": 0, "xpass": 0, "skipped": 1, "ignored": 1, "inconclusive": 1,
    "warning": 2, "xfail": 2, "failed": 3, "error": 3,
}  # fmt: skip
"""How bad a check's status is, for regressions (higher is worse; a passed check now skipped is a
lost check)."""

VERDICT_RANK = {"pass": 0, "fail": 1, "error": 2}
"""How bad a verdict is (``unavailable`` after a run that ran is a regression of its own)."""

FINDING_STATUSES = ("failed", "warning", "error", "xfail", "xpass")


@dataclasses.dataclass(frozen=True)
class MatrixPlan:
    """What to run: targets, profile, seed, parallelism, interpreters and limits."""

    targets: tuple[str, ...]
    out: str
    profile: str = "ci"
    seed: int = 0
    jobs: int = 1
    python_for: Mapping[str, str] = dataclasses.field(default_factory=dict)
    timeout_for: Mapping[str, float] = dataclasses.field(default_factory=dict)
    target_limit: float = 1800.0
    """The most one target's whole check may take (wall seconds); then it is killed: error."""
    checks: tuple[str, ...] = ()
    """Run only these checks (``check --check``); empty: all."""
    config: str | None = None
    """The settings file each target's check reads ``[tool.gruverify]`` from (``check --config``:
    its acknowledged findings, strictness, sizes), the one the matrix read its own table from;
    None: each check reads the working directory's ``pyproject.toml``, as ``gruverify check``
    does."""

    def python(self, target: str) -> str:
        return self.python_for.get(target, sys.executable)

    def options(self, target: str) -> RunOptions:
        """What the matrix asks of ``target``'s check."""
        timeout = self.timeout_for.get(target, DEFAULT_TIMEOUTS.get(target))
        return RunOptions(
            profile=self.profile, seed=self.seed, checks=self.checks or None,
            artifacts=os.path.join(self.out, "artifacts", target),
            timeout=float(timeout) if timeout else None,
        )  # fmt: skip

    def check_command(self, target: str, report: str) -> list[str]:
        cmd = [self.python(target), "-m", "gruverify", "check", target, "--json", report]
        if self.config is not None:
            cmd += ["--config", os.path.abspath(self.config)]
        return cmd + render_args(self.options(target), reproduce_only=False)


def child_env(target: str) -> dict[str, str]:
    """The environment of ``target``'s check: Keras' backend chosen for it."""
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    if target in KERAS_TENSORFLOW:
        env["KERAS_BACKEND"] = "tensorflow"
    return env


_VERSION_PROBE = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for d in sys.argv[1:]:\n"
    "    try: out[d] = m.version(d)\n"
    "    except m.PackageNotFoundError: out[d] = ''\n"
    "print(json.dumps(out))\n"
)


def library_versions(python: str, distributions: Sequence[str]) -> dict[str, str]:
    """``distributions``' versions as installed for ``python`` ('' where not installed)."""
    try:
        done = subprocess.run(
            [python, "-c", _VERSION_PROBE, *distributions],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return dict(json.loads(done.stdout))
    except (OSError, ValueError, subprocess.SubprocessError):
        return dict.fromkeys(distributions, "")


def _findings(target: str, checks: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    out = []
    for c in checks:
        if c.get("status") not in FINDING_STATUSES:
            continue
        known = finding_for(target, str(c["name"]))
        out.append(
            {
                "check": str(c["name"]),
                "status": str(c["status"]),
                "message": str(c.get("message", "")).splitlines()[0] if c.get("message") else "",
                "explanation": known.what if known else "",
                "seen_in": known.seen_in if known else "",
                "upstream": known.upstream if known else "",
            }
        )
    return out


def row_from_report(target: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """A matrix row's judged part from a ``gruverify check`` JSON report."""
    checks = list(report.get("checks", []))
    devices = {c.get("device") for c in checks}
    statuses = {
        (c["name"] if len(devices) <= 1 else f"{c['name']} [{c.get('device')}]"): c["status"]
        for c in checks
    }
    complete = bool(report.get("complete", True))
    verdict = str(report.get("verdict", "error")) if complete else "error"
    reason = "" if complete else "the check did not finish (the report is partial)"
    return {
        "verdict": verdict,
        "reason": reason,
        "checks": statuses,
        "warnings": int(report.get("warnings", 0)),
        "findings": _findings(target, checks),
        "declaration": dict(report.get("declaration", {})),
    }


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    return last.removeprefix("gruverify: error: ")


def run_target(plan: MatrixPlan, target: str) -> dict[str, Any]:
    """One matrix row: ``target`` checked in a process of its own."""
    row: dict[str, Any] = {
        "target": target, "library": LIBRARY.get(target, ""), "version": "",
        "verdict": "unavailable", "reason": "", "checks": {}, "warnings": 0, "findings": [],
        "seconds": 0.0, "python": plan.python(target),
    }  # fmt: skip
    if not os.path.exists(plan.python(target)):
        row["reason"] = f"no interpreter at {plan.python(target)} (set one with --python-for)"
        return row
    os.makedirs(os.path.join(plan.out, "reports"), exist_ok=True)
    report_path = os.path.join(plan.out, "reports", f"{target}.json")
    if os.path.exists(report_path):
        os.remove(report_path)
    start = time.monotonic()
    try:
        done = subprocess.run(
            plan.check_command(target, report_path), env=child_env(target), capture_output=True,
            text=True, timeout=plan.target_limit, check=False,
        )  # fmt: skip
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        code, stderr = -1, f"killed: the check did not finish within {plan.target_limit:g} s"
    row["seconds"] = round(time.monotonic() - start, 1)
    return _judged(row, target, report_path, code, stderr)


def _judged(
    row: dict[str, Any], target: str, report_path: str, code: int, stderr: str
) -> dict[str, Any]:
    try:
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        report = None
    if report is None:
        row["verdict"] = "unavailable" if code == 2 else "error"
        row["reason"] = _last_line(stderr) or f"gruverify check exited {code} without a report"
        return row
    row.update(row_from_report(target, report))
    if code == -1:
        row["verdict"], row["reason"] = "error", stderr
    elif code not in (0, 1) and not row["reason"]:
        row["verdict"], row["reason"] = "error", _last_line(stderr) or f"exit status {code}"
    return row


def _add_versions(plan: MatrixPlan, rows: list[dict[str, Any]]) -> None:
    by_python: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_python.setdefault(row["python"], []).append(row)
    for python, group in by_python.items():
        versions = library_versions(python, sorted({r["library"] for r in group if r["library"]}))
        for row in group:
            row["version"] = versions.get(row["library"], "")


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count() or 0,
        "processor": platform.processor() or platform.machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else [],
    }


def run_matrix(
    plan: MatrixPlan, *, on_row: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Check ``plan.targets`` (``plan.jobs`` at a time); the ``matrix.json`` document.
    ``on_row`` is called with each row as its target finishes."""
    for target in plan.targets:
        if target not in TARGETS:
            raise MatrixError(f"unknown target {target!r} (run `gruverify targets`)")
    start = time.monotonic()
    rows: dict[str, dict[str, Any]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, plan.jobs)) as pool:
        slow_first = sorted(plan.targets, key=lambda t: SLOW.index(t) if t in SLOW else len(SLOW))
        futures = {pool.submit(run_target, plan, t): t for t in slow_first}
        for future in concurrent.futures.as_completed(futures):
            row = future.result()
            rows[row["target"]] = row
            if on_row is not None:
                on_row(row)
    ordered = [rows[t] for t in plan.targets]
    _add_versions(plan, ordered)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "gruverify_version": gruverify_version(),
        "profile": plan.profile,
        "seed": plan.seed,
        "jobs": plan.jobs,
        "seconds": round(time.monotonic() - start, 1),
        "checks": _columns(ordered),
        "targets": ordered,
    }


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The checks any row ran, in the checker's order (then any other names)."""
    seen = {name for row in rows for name in row["checks"]}
    order = [n for n in check_names() if n in seen]
    return order + sorted(seen - set(order))


# ---------------------------------------------------------------------------------------------
# Regressions.


def regressions(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What got worse from ``previous`` to ``current`` (two ``matrix.json`` documents), one line
    each; targets in only one of them are not compared."""
    before = {row["target"]: row for row in previous.get("targets", [])}
    out = []
    for row in current.get("targets", []):
        old = before.get(row["target"])
        if old is None:
            continue
        name, was, now = row["target"], old["verdict"], row["verdict"]
        if now == "unavailable" and was != "unavailable":
            out.append(f"{name}: {was} -> unavailable ({row.get('reason', '')})")
            continue
        if was in VERDICT_RANK and VERDICT_RANK.get(now, 0) > VERDICT_RANK[was]:
            out.append(f"{name}: verdict {was} -> {now}")
        for check, status in row.get("checks", {}).items():
            before_status = old.get("checks", {}).get(check)
            if before_status is None:
                continue
            if STATUS_RANK.get(status, 3) > STATUS_RANK.get(before_status, 3):
                out.append(f"{name}: {check}: {before_status} -> {status}")
    return out


# ---------------------------------------------------------------------------------------------
# The table.

SYMBOL = {
    "passed": "pass", "warning": "**warn**", "failed": "**FAIL**", "skipped": "skip",
    "error": "**ERROR**", "xfail": "xfail", "xpass": "xpass", "ignored": "ignored",
    "inconclusive": "?",
}  # fmt: skip


def _header(doc: Mapping[str, Any]) -> list[str]:
    m = doc["machine"]
    return [
        f"gruverify {doc['gruverify_version']}, profile `{doc['profile']}`, seed {doc['seed']}, "
        f"{doc['date']}; {m['platform']}, Python {m['python']}, {m['cpus']} CPUs "
        f"({m['processor']}); {len(doc['targets'])} targets in {doc['seconds']:g} s "
        f"with {doc['jobs']} jobs"
        + (
            f", load average {m['load_average'][0]:g} at the end." if m.get("load_average") else "."
        ),
        "",
    ]


def _summary(doc: Mapping[str, Any]) -> list[str]:
    lines = [
        "| target | library | version | verdict | passed | warnings | failed | skipped | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["targets"]:
        statuses = list(row["checks"].values())
        count = {s: statuses.count(s) for s in ("passed", "warning", "skipped")}
        bad = sum(statuses.count(s) for s in ("failed", "error"))
        verdict = row["verdict"] + (f": {row['reason']}" if row["reason"] else "")
        lines.append(
            f"| `{row['target']}` | {row['library']} | {row['version'] or '-'} | {verdict} | "
            f"{count['passed']} | {count['warning']} | {bad} | {count['skipped']} | "
            f"{row['seconds']:g} |"
        )
    return [*lines, ""]


def _grid(doc: Mapping[str, Any]) -> list[str]:
    checks = doc["checks"]
    lines = [
        "| target | " + " | ".join(f"`{c}`" for c in checks) + " |",
        "|---|" + "---|" * len(checks),
    ]
    for row in doc["targets"]:
        cells = [SYMBOL.get(row["checks"].get(c, ""), "") or "" for c in checks]
        if row["verdict"] == "unavailable":
            cells = ["n/a"] * len(checks)
        lines.append(f"| `{row['target']}` | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _finding_lines(doc: Mapping[str, Any]) -> list[str]:
    """One line per finding: a target's checks that one known explanation covers share a line;
    an unexplained result has a line of its own."""
    groups: dict[tuple[str, str], list[Mapping[str, str]]] = {}
    for row in doc["targets"]:
        for f in row["findings"]:
            key = (row["target"], f["explanation"] or f"{f['check']}: {f['message']}")
            groups.setdefault(key, []).append(f)
    lines = []
    for (target, _), group in groups.items():
        f = group[0]
        checks = ", ".join(f"`{g['check']}` ({g['status']})" for g in group)
        text = f"- `{target}`: {checks}: "
        if f["explanation"]:
            text += f"{f['explanation']} (seen in {f['seen_in']}"
            text += f"; upstream: {f['upstream']})" if f["upstream"] else ")"
        else:
            text += f"not explained yet: {f['message']}"
        lines.append(text)
    return lines or ["- none"]


def render_markdown(doc: Mapping[str, Any], picture: str = "") -> str:
    """``matrix.md``: the header, a summary per target, the targets x checks grid, the findings."""
    lines = ["# GRU conformance matrix", "", *_header(doc)]
    if picture:
        lines += [f"![targets x checks]({picture})", ""]
    lines += ["## Targets", "", *_summary(doc)]
    lines += ["## Targets x checks", "", *_grid(doc)]
    lines += ["## Findings", "", *_finding_lines(doc), ""]
    return "\n".join(lines)


def write_matrix(doc: Mapping[str, Any], out: str) -> list[str]:
    """``matrix.json``, ``matrix.md`` and (with matplotlib) ``matrix.png`` in ``out``; the paths."""
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, "matrix.json")]
    with open(paths[0], "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    picture = ""
    try:
        from gruverify.conformance.matrix_plot import plot_matrix

        picture = plot_matrix(doc, os.path.join(out, "matrix.png"))
        paths.append(picture)
    except ImportError:
        pass
    paths.append(os.path.join(out, "matrix.md"))
    with open(paths[-1], "w", encoding="utf-8") as f:
        f.write(render_markdown(doc, os.path.basename(picture) if picture else ""))
    return paths


# ---------------------------------------------------------------------------------------------
# [tool.gruverify.matrix].

_TABLE_KEYS = ("targets", "python", "timeout", "jobs")


def _table_from(data: Mapping[str, Any], path: str) -> dict[str, Any]:
    table = data.get("tool", {}).get("gruverify", {}).get("matrix")
    if table is None and "matrix" in data and "tool" not in data:
        table = data["matrix"]
    if table is None:
        return {}
    where = f"{path} [tool.gruverify.matrix]"
    if not isinstance(table, dict):
        raise MatrixError(f"{where}: expected a table")
    for key, value in table.items():
        if key not in _TABLE_KEYS:
            raise MatrixError(f"{where}: unknown key {key!r}; known: {', '.join(_TABLE_KEYS)}")
        if key in ("python", "timeout") and not isinstance(value, dict):
            raise MatrixError(f"{where}: {key} must be a table of target = value")
        if key == "targets" and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise MatrixError(f"{where}: targets must be a list of target names")
        if key == "jobs" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise MatrixError(f"{where}: jobs must be a positive integer")
    for target in [*table.get("python", {}), *table.get("timeout", {})]:
        if target not in TARGETS:
            raise MatrixError(f"{where}: unknown target {target!r}")
    return dict(table)


def load_matrix_table(path: str | None) -> dict[str, Any]:
    """``[tool.gruverify.matrix]`` of ``path`` (None: ./pyproject.toml if there is one), {} when
    absent; ``MatrixError`` for a table that is wrong."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    if path is None:
        path = "pyproject.toml"
        if not os.path.isfile(path):
            return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise MatrixError(f"{path}: cannot read: {e}") from None
    return _table_from(data, path)
