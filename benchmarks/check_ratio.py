"""Benchmark: the default ``gruverify check`` against ``python -c "import torch"``, side by side.

Issue 13's target: the default check (``python -m gruverify check``, no options: torch.nn.GRU on
every device of the machine, the ``ci`` profile) takes at most 3.5 times as long as importing
torch. Both commands run alternately in fresh processes, ``repeats`` times each (median of 3 by
default), so the load of a shared machine weighs on both alike; the ratio of the medians is the
figure. Wall seconds and CPU seconds (user + system of the process and its children, e.g. an
isolated worker) are reported; a variant row runs the check with ``--no-isolate`` (the target in
the checker's own process) where the checker has that option.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import Table

__all__ = ["TARGET_RATIO", "run", "side_by_side"]

TARGET_RATIO = 3.5

IMPORT_TORCH = (sys.executable, "-c", "import torch")
CHECK = (sys.executable, "-m", "gruverify", "check")


def _timed(cmd: Sequence[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (children's user + system) and exit status of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall, cpu, proc.returncode


def side_by_side(check_args: Sequence[str] = (), repeats: int = 3) -> dict[str, Any]:
    """Run ``import torch`` and ``gruverify check *check_args`` alternately ``repeats`` times;
    their median wall and CPU seconds and the ratios of the medians."""
    torch_runs, check_runs = [], []
    codes = set()
    for _ in range(repeats):
        torch_runs.append(_timed(IMPORT_TORCH)[:2])
        wall, cpu, code = _timed((*CHECK, *check_args))
        check_runs.append((wall, cpu))
        codes.add(code)
    tw = statistics.median(w for w, _ in torch_runs)
    tc = statistics.median(c for _, c in torch_runs)
    cw = statistics.median(w for w, _ in check_runs)
    cc = statistics.median(c for _, c in check_runs)
    return {
        "args": " ".join(check_args) or "(none)",
        "torch_wall": tw, "torch_cpu": tc, "check_wall": cw, "check_cpu": cc,
        "ratio_wall": cw / tw, "ratio_cpu": cc / tc, "exit": sorted(codes),
        "check_walls": [w for w, _ in check_runs], "torch_walls": [w for w, _ in torch_runs],
    }  # fmt: skip


def _variants() -> list[tuple[str, ...]]:
    """The default command, and ``--no-isolate`` when the checker has it."""
    help_text = subprocess.run([*CHECK, "--help"], capture_output=True, text=True).stdout
    return [()] + ([("--no-isolate",)] if "--no-isolate" in help_text else [])


def run(quick: bool = False, device: str | None = None) -> list[Table]:
    """One row per variant: medians of ``repeats`` alternating runs (3; 1 with ``quick``)."""
    repeats = 1 if quick else 3
    table = Table(
        f"1c. default `gruverify check` vs `python -c \"import torch\"`, side by side "
        f"(median of {repeats})",
        ["check options", "import torch wall s", "check wall s", "wall ratio", "import torch CPU s",
         "check CPU s", "CPU ratio", "exit", f"<= {TARGET_RATIO}x"],
    )  # fmt: skip
    for args in _variants():
        r = side_by_side(args, repeats)
        table.add(
            r["args"], r["torch_wall"], r["check_wall"], r["ratio_wall"], r["torch_cpu"],
            r["check_cpu"], r["ratio_cpu"], ",".join(map(str, r["exit"])),
            "met" if r["ratio_wall"] <= TARGET_RATIO else "NOT met",
        )  # fmt: skip
    table.notes.append(
        "each check run alternates with an import-torch run in fresh processes; the ratio is "
        "median check / median import, wall and CPU (user + system, children included: an "
        "isolated worker counts); the target is on the wall ratio"
    )
    return [table]
