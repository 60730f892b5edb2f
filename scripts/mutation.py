"""Mutation testing of the checker's machinery on a fixed random sample of mutants (docs/mutation.md).

mutmut (pinned in constraints.txt; configured in pyproject.toml, ``[tool.mutmut]``: the modules
mutated and the fast test selection) generates every mutant of ``gruverify/error_model.py``,
``gruverify/conformance/*`` and ``gruverify/laws/*`` (about 7500), and records which selected test
reaches which function. The whole set does not fit 2 cores, so this script draws ``--per-module``
mutants of each module with ``random.Random(--seed)`` (sorted names, ``sample``: the same sample
for the same source), runs only those (each against the selected tests that reach its function,
stopping at the first failure), and prints the score per module, overall, and every survivor.

    python scripts/mutation.py                       # 12 per module, seed 14: ~190 mutants
    python scripts/mutation.py --per-module 4        # a quicker look
    python scripts/mutation.py --names FILE          # rerun the mutants named in FILE
    mutmut show NAME                                 # the diff of one mutant

Run it from the repository root (mutmut writes ``mutants/``, which git and ruff ignore); it
leaves ``mutants/sample.json`` (name -> status). A mutant counts as killed when its tests fail or
time out; ``survived`` and ``no tests`` (no selected test reaches the function) count against the
score.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import random
import subprocess
import sys

KILLED = {"killed", "timeout"}
GENERATE = "gruverify.error_model.x_compare__mutmut_1"
"""One mutant run first: generating it generates them all and collects the test statistics."""


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""One BLAS / OpenMP thread: mutants run in processes forked from a server that imported numpy and
torch, and a thread pool started before the fork spins or hangs in the child."""


def _mutmut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mutmut", *args], capture_output=True, text=True, env=ENV)


def statuses() -> dict[str, str]:
    """Every generated mutant and its status, from ``mutmut results --all true``."""
    out = _mutmut("results", "--all", "true").stdout
    pairs = (line.strip().rsplit(": ", 1) for line in out.splitlines() if ": " in line)
    return {name: status for name, status in pairs}


def module_of(name: str) -> str:
    """``gruverify.laws.gates`` for ``gruverify.laws.gates.x_law_box__mutmut_3``."""
    return name.rsplit(".", 1)[0]


def sample(names: list[str], per_module: int, seed: int) -> list[str]:
    """``per_module`` mutants of each module (all where it has fewer), drawn reproducibly."""
    rng = random.Random(seed)
    by_module: dict[str, list[str]] = collections.defaultdict(list)
    for name in sorted(names):
        by_module[module_of(name)].append(name)
    chosen: list[str] = []
    for module in sorted(by_module):
        pool = by_module[module]
        chosen += rng.sample(pool, min(per_module, len(pool)))
    return chosen


def report(chosen: list[str], status: dict[str, str]) -> str:
    rows = collections.defaultdict(collections.Counter)
    for name in chosen:
        rows[module_of(name)][status.get(name, "missing")] += 1
    lines = [
        "| module | sampled | killed | survived | no tests | other |",
        "|---|---|---|---|---|---|",
    ]
    total = collections.Counter()
    for module in sorted(rows):
        c = rows[module]
        total.update(c)
        killed = sum(c[s] for s in KILLED)
        other = sum(c.values()) - killed - c["survived"] - c["no tests"]
        lines.append(f"| {module} | {sum(c.values())} | {killed} | {c['survived']} | "
                     f"{c['no tests']} | {other} |")  # fmt: skip
    killed = sum(total[s] for s in KILLED)
    lines.append(
        f"\nscore: {killed} of {len(chosen)} killed ({100 * killed / max(1, len(chosen)):.1f}%)"
    )
    survivors = [n for n in chosen if status.get(n) not in KILLED]
    lines.append(f"not killed ({len(survivors)}):")
    lines += [f"  {n}: {status.get(n)}" for n in survivors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-module", type=int, default=12)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--max-children", type=int, default=1, help="parallel mutant runs")
    ap.add_argument("--names", type=pathlib.Path, help="run the mutants named in this file")
    args = ap.parse_args(argv)
    jobs = ["--max-children", str(args.max_children)]
    first = _mutmut("run", *jobs, GENERATE)
    status = statuses()
    if not status or not pathlib.Path("mutants", "mutmut-stats.json").exists():
        # no mutants, or the clean run of the selected tests failed (mutmut saved no stats):
        # every mutant would stay "not checked"
        sys.stdout.write(first.stdout[-3000:] + first.stderr[-3000:])
        return 1
    if args.names is not None:
        chosen = args.names.read_text().split()
    else:
        chosen = sample(list(status), args.per_module, args.seed)
    print(f"{len(status)} mutants; running {len(chosen)}", flush=True)
    subprocess.run(["mutmut", "run", *jobs, *chosen], stdout=subprocess.DEVNULL, env=ENV)
    status = statuses()
    pathlib.Path("mutants", "sample.json").write_text(
        json.dumps({n: status.get(n) for n in chosen}, indent=1)
    )
    print(report(chosen, status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
