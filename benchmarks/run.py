"""Run gruverify's benchmarks and print their tables.

    python -m benchmarks                        # everything (several minutes on 2 cores)
    python -m benchmarks --quick                # smaller sizes and fewer seeds
    python -m benchmarks --only gradients       # one benchmark (repeatable)
    python -m benchmarks --device cuda          # sensitivity in TF32 too, check on cpu + cuda
    python -m benchmarks --markdown --json out.json
    python -m benchmarks --threads 0            # torch's default thread count in-process

In-process benchmarks (gradients, sensitivity, detection) run with ``torch.set_num_threads(1)``
unless ``--threads`` says otherwise: the checker's cases are tiny, and on a loaded 2-core machine
torch's second thread made ``gruverify check`` about 3x slower (benchmark 1 shows both).

Benchmarks: ``check`` (1, wall time of ``gruverify check``), ``gradients`` (2, gradient verdict
cost vs torch.autograd.gradcheck), ``reference`` (3, numpy reference vs torch float64),
``sensitivity`` (4, smallest weight perturbation flagged), ``detection`` (5, examples until a
planted mutant is found), ``isolation`` (6, the overhead of ``--isolate`` on the default check and
the verdict times of planted misbehaving targets). The figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Table, machine

__all__ = ["BENCHMARKS", "ONLY_BY_NAME", "main"]

BENCHMARKS = {
    "check": "benchmarks.check_time",
    "ratio": "benchmarks.check_ratio",
    "cost": "benchmarks.cost_model",
    "scale": "benchmarks.scale_calibration",
    "gradients": "benchmarks.gradient_cost",
    "reference": "benchmarks.reference_speed",
    "sensitivity": "benchmarks.sensitivity",
    "detection": "benchmarks.detection",
    "isolation": "benchmarks.isolation",
}


ONLY_BY_NAME = {"scale"}
"""Benchmarks run only when named (``--only scale``): the error model at hidden 1024, 512 steps,
batch 64 takes about an hour on two loaded cores."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer seeds")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="cuda adds TF32 sensitivity; default: the checker's default devices",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch.set_num_threads(N) for the in-process benchmarks (default 1; "
        "0 leaves torch's default). 'check' and 'reference' run their own "
        "processes and report their thread settings",
    )
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--json", metavar="PATH", help="also write the tables as JSON")
    args = parser.parse_args(argv)  # fmt: skip
    device = args.device
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: torch sees no CUDA device")
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    info = machine(device or "cpu")
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"# {command.strip()}")
    for k, v in info.items():
        print(f"#   {k}: {v}")
    tables: list[Table] = []
    timings = {}
    for name in args.only or [n for n in BENCHMARKS if n not in ONLY_BY_NAME]:
        module = importlib.import_module(BENCHMARKS[name])
        start = time.perf_counter()
        new = module.run(quick=args.quick, device=device)
        timings[name] = time.perf_counter() - start
        for t in new:
            print()
            print(t.markdown() if args.markdown else t.text(), flush=True)
        tables += new
    print()
    print("# benchmark seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": command, "machine": info, "seconds": timings,
                       "tables": [t.as_dict() for t in tables]}, f, indent=1, default=str)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
