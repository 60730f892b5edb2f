"""Benchmark: what isolation costs, and how soon a misbehaving target gets its verdict.

6a. The overhead of isolation on the default check: ``python -m gruverify check --seed 0 --json
FILE`` (torch.nn.GRU, every device of the machine, the ``ci`` profile) with ``--no-isolate`` and
with ``--isolate``, run alternately (in-process, isolated, in-process, ...) ``repeats`` times each,
so that both see the same load; the medians and their ratio, for the whole command (wall) and for
the checking alone (the report's seconds).

6b. The planted misbehaving targets of ``tests/misbehaving_targets.py`` with default settings
(isolated, the adaptive limits, ``--timeout`` 60 s): the wall time until the verdict, the exit
status and what the first failure says. Skipped under ``--quick`` (several minutes).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Table

__all__ = ["PLANTED", "measure_overhead", "measure_planted", "run"]

TESTS = Path(__file__).resolve().parents[1] / "tests"

PLANTED = (
    "Hangs", "SpinsOnLargeInput", "HangsAlways", "Segfaults", "ExitsHard", "Aborts",
    "AllocatesHuge",
)  # fmt: skip
"""Hangs on some inputs (asleep, or spinning on a core), on every call, a segmentation fault,
``os._exit``, an abort, a 1 TiB allocation."""


def _run(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "gruverify", "check", *args, "--json", path]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, check=False)
        wall = time.perf_counter() - start
        report = json.loads(Path(path).read_text()) if os.path.exists(path) else {}
    first = next((c for c in report.get("checks", []) if c["status"] in ("failed", "error")), None)
    return {
        "wall_s": wall, "checker_s": float(report.get("seconds", "nan")), "rc": proc.returncode,
        "verdict": report.get("verdict", "-"), "checks": len(report.get("checks", [])),
        "first": None if first is None else (first["name"], first["message"].splitlines()[0]),
        "stderr": proc.stderr[-500:],
    }  # fmt: skip


def measure_overhead(repeats: int = 3) -> dict[str, Any]:
    """The default check in-process and isolated, alternately, ``repeats`` times each."""
    runs: dict[str, list[dict[str, Any]]] = {"--no-isolate": [], "--isolate": []}
    for _ in range(repeats):
        for mode in runs:
            r = _run(["--seed", "0", mode])
            if r["rc"] != 0:
                raise RuntimeError(f"gruverify check {mode} exited {r['rc']}: {r['stderr']}")
            runs[mode].append(r)
    med = {
        mode: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "checker_s")}
        for mode, rs in runs.items()
    }
    return {"runs": runs, "median": med}


def measure_planted(name: str) -> dict[str, Any]:
    """``gruverify check misbehaving_targets:NAME`` with default settings."""
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return _run([f"misbehaving_targets:{name}"], env)


def run(quick: bool = False, device: str | None = None) -> list[Table]:
    o = measure_overhead()
    a, b = o["median"]["--no-isolate"], o["median"]["--isolate"]
    overhead = Table(
        "6a. isolation overhead on the default `gruverify check` (median of 3, side by side)",
        ["run", "wall s (3 runs)", "median wall s", "median checker s"],
    )
    for mode, rs in o["runs"].items():
        m = o["median"][mode]
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in rs)
        overhead.add(f"check {mode}", walls, m["wall_s"], m["checker_s"])
    overhead.add("ratio isolated / in-process", "", b["wall_s"] / a["wall_s"],
                 b["checker_s"] / a["checker_s"])  # fmt: skip
    overhead.notes.append(
        "runs alternate (in-process, isolated, ...) so both see the same load; wall = the whole "
        "command, checker = run_checks alone (the JSON report's seconds)"
    )
    tables = [overhead]
    if not quick:
        planted = Table(
            "6b. planted misbehaving targets, default settings: time to the verdict",
            ["target", "wall s", "exit", "checks", "first failure"],
        )
        for name in PLANTED:
            r = measure_planted(name)
            first = "-" if r["first"] is None else f"{r['first'][0]}: {r['first'][1][:110]}"
            planted.add(name, r["wall_s"], r["rc"], r["checks"], first)
        planted.notes.append(
            "gruverify check misbehaving_targets:NAME (tests/ on PYTHONPATH), no other option: "
            "isolated, adaptive per-call limits, --timeout 60"
        )
        tables.append(planted)
    return tables
