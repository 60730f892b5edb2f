"""What the benchmarks share: tables, timing, the machine's description, and checker hooks.

The hooks wrap the checker from outside (no edits to ``gruverify``): ``no_shrink`` sets the
runner's shrink budget to zero (detection does not depend on shrinking, only the reported
counterexample does), and ``counting_law`` counts the examples a check runs until its first failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = [
    "Table",
    "counting_law",
    "fmt",
    "machine",
    "median_time",
    "no_shrink",
]


@dataclasses.dataclass
class Table:
    """A titled table of rows; ``text()`` aligns it for a terminal, ``markdown()`` for the docs."""

    title: str
    columns: Sequence[str]
    rows: list[list[Any]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, *row: Any) -> None:
        if len(row) != len(self.columns):
            raise ValueError(
                f"{self.title}: row has {len(row)} cells, expected {len(self.columns)}"
            )
        self.rows.append(list(row))

    def _cells(self) -> list[list[str]]:
        return [[fmt(c) for c in r] for r in self.rows]

    def text(self) -> str:
        cells = self._cells()
        widths = [
            max([len(str(h))] + [len(r[i]) for r in cells]) for i, h in enumerate(self.columns)
        ]
        line = "  ".join(str(h).ljust(w) for h, w in zip(self.columns, widths, strict=True))
        out = [self.title, "=" * len(self.title), line, "-" * len(line)]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
        out += [f"  note: {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        out.append("|" + "---|" * len(self.columns))
        out += ["| " + " | ".join(r) + " |" for r in self._cells()]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": list(self.columns), "rows": self.rows,
                "notes": self.notes}  # fmt: skip


def fmt(v: Any) -> str:
    """Numbers to short strings: floats with 3 significant digits, None as a dash."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e4 or abs(v) < 1e-2:
            return f"{v:.2g}"
        return f"{v:.3g}"
    return str(v)


def median_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    """``git rev-parse --short HEAD`` of the repository, plus "+ local changes" when dirty."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + local changes" if dirty.strip() else "")


def machine(device: str = "cpu") -> dict[str, str]:
    """The machine the figures come from: CPU, cores, load, library versions, GPU if used."""
    import numpy as np
    import torch

    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "load average (1, 5, 15 min)": load,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch threads (in-process benchmarks)": str(torch.get_num_threads()),
        "numpy": np.__version__,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
    }
    info["gruverify commit"] = _commit()
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cudnn"] = str(torch.backends.cudnn.version())  # type: ignore[no-untyped-call]
        info["cudnn.allow_tf32"] = str(torch.backends.cudnn.allow_tf32)
    return info


@contextlib.contextmanager
def no_shrink() -> Iterator[None]:
    """Set the runner's shrink budget to 0 s for every profile while the block runs.

    A failing check then stops at its first failure instead of spending up to 10 s (``ci``)
    shrinking the counterexample; the pass/fail outcome is the same.
    """
    from gruverify.conformance import runner

    saved = dict(runner.SHRINK_SECONDS)
    for k in list(runner.SHRINK_SECONDS):
        runner.SHRINK_SECONDS[k] = 0.0
    try:
        yield
    finally:
        runner.SHRINK_SECONDS.clear()
        runner.SHRINK_SECONDS.update(saved)


@dataclasses.dataclass
class Counter:
    """Examples run by a wrapped law, and the 1-based index of the first failing one."""

    calls: int = 0
    first_failure: int | None = None
    first_failure_s: float | None = None
    start: float = dataclasses.field(default_factory=time.perf_counter)


def counting_law(law: Callable[..., None]) -> tuple[Callable[..., None], Counter]:
    """``law`` wrapped to count its calls and remember when it first raised (not Inconclusive)."""
    from gruverify.laws.base import Inconclusive

    counter = Counter()

    def wrapped(impl: Any, problem: Any, model: Any) -> None:
        counter.calls += 1
        try:
            law(impl, problem, model)
        except Inconclusive:
            raise
        except Exception:
            if counter.first_failure is None:
                counter.first_failure = counter.calls
                counter.first_failure_s = time.perf_counter() - counter.start
            raise

    return wrapped, counter
