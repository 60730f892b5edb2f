"""Benchmark 1: wall time of ``gruverify check`` on the default target, per profile and per check.

Runs the command line exactly as a user would (``python -m gruverify check --profile P --seed 0
--json FILE``; no target, no device: torch.nn.GRU in float32 on every device of the machine), so
the wall time includes starting Python and importing torch. The per-check seconds come from the
JSON report. Target: the default (``ci``) run in 30 s or less on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import Table

__all__ = ["TARGET_SECONDS", "measure_cli", "run"]

TARGET_SECONDS = 30.0


def measure_cli(
    profile: str,
    *,
    checks: Sequence[str] = (),
    device: str | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run ``gruverify check`` once; wall seconds, in-process seconds, verdict and per-check rows.

    ``threads`` sets ``OPENBLAS_NUM_THREADS`` and ``OMP_NUM_THREADS`` for the run (None: as set).
    """
    env = dict(os.environ)
    if threads is not None:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "gruverify", "check", "--profile", profile,
               "--seed", str(seed), "--json", path]  # fmt: skip
        if device is not None:
            cmd += ["--device", device]
        for c in checks:
            cmd += ["--check", c]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1) or not os.path.exists(path):
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
        with open(path) as f:
            report = json.load(f)
    return {
        "profile": profile + ("" if threads is None else f", {threads} thread(s)"),
        "wall_s": wall,
        "checker_s": float(report["seconds"]),
        "verdict": report["verdict"],
        "devices": report["device"],
        "checks": [
            {
                "name": c["name"],
                "device": c["device"],
                "status": c["status"],
                "cases": int(c["cases"]),
                "seconds": float(c["seconds"]),
            }
            for c in report["checks"]
        ],
    }


def run(quick: bool = False, device: str | None = None) -> list[Table]:
    """Both tables: wall time per profile, and seconds per check under each profile.

    ``device`` is not passed on: the default command checks every device of the machine.
    """
    device = None
    profiles = ["quick", "ci"] if quick else ["quick", "ci", "thorough"]
    results = [measure_cli(p, device=device) for p in profiles]
    results.append(measure_cli("ci", device=device, threads=1))
    summary = Table(
        "1a. `gruverify check` (default target) wall time per profile",
        ["profile", "wall s", "checker s", "startup s", "checks", "examples", "verdict",
         "target"],
    )  # fmt: skip
    for r in results:
        examples = sum(c["cases"] for c in r["checks"])
        target = f"<= {TARGET_SECONDS:.0f} s: " + (
            "met" if r["wall_s"] <= TARGET_SECONDS else "NOT met"
        )
        summary.add(
            r["profile"], r["wall_s"], r["checker_s"], r["wall_s"] - r["checker_s"],
            len(r["checks"]), examples, r["verdict"],
            target if r["profile"].startswith("ci") else "",
        )  # fmt: skip
    summary.notes.append(
        "wall = the whole command (Python start, torch import, all checks); checker = "
        "run_checks alone (the report's seconds); seed 0 for every profile; 'N thread(s)': "
        "OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = N (otherwise as the environment has them: "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')})"
    )
    per = Table(
        "1b. seconds per check (examples in brackets)",
        ["check", "device", *[f"{r['profile']} s" for r in results]],
    )
    keys = [(c["name"], c["device"]) for c in results[0]["checks"]]
    for key in keys:
        cells = []
        for r in results:
            c = next((c for c in r["checks"] if (c["name"], c["device"]) == key), None)
            cells.append("-" if c is None else f"{c['seconds']:.2f} ({c['cases']})")
        per.add(key[0], key[1], *cells)
    return [summary, per]
