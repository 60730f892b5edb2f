"""Soak: the thorough profile, many times, with fresh seeds, on every correct built-in target.

Usage (from the repository root)::

    nice python scripts/soak.py --minutes 30 --out .out/soak        # bounded by wall time
    nice python scripts/soak.py --rounds 3 --targets torch-gru       # bounded by rounds

A *run* is ``run_checks(target, device="cpu", profile="thorough", seed=fresh)``; an *alarm* is a
failed check on a correct target (the goal is zero), unless it is one of the library defects the
checker is meant to find, documented in docs/checker.md ("Findings on real libraries"): those
count as *known findings* (``KNOWN_FINDINGS``: target -> (text in the failure, what it is)). Each round runs every fast
target once (torch-gru, torch-grucell, each class of ``gruverify.zoo.CORRECT``); the library
targets (onnx-torchscript, keras-reset-after, keras-reset-before, flax-linen; those installed) are
slower and run every ``--library-every`` rounds. Every run is appended to OUT/runs.jsonl (target,
seed, verdict, failed checks with their first message line, seconds) and an alarm's
counterexample files go to OUT/artifacts; the summary (runs, alarms, time, per target) is printed
and written to OUT/summary.json (``--summarize OUT/runs.jsonl`` recomputes it from a log). The
exit status is 1 if there was an alarm.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIBRARY_TARGETS = {
    "onnx-torchscript": ("onnx", "onnxruntime"),
    "keras-reset-after": ("keras",),
    "keras-reset-before": ("keras",),
    "flax-linen": ("flax", "jax"),
}


_TANH = ("the box", "onnxruntime's tanh returns 1 + 2^-21 (|h| > 1)")
_KERAS_H0 = ("an initial state of shape", "Keras broadcasts a wrong-shaped initial state")
KNOWN_FINDINGS: dict[str, tuple[str, str]] = {
    "onnx-torchscript": _TANH,
    "onnx-dynamo": _TANH,
    "keras-reset-after": _KERAS_H0,
    "keras-reset-before": _KERAS_H0,
}
"""Library defects the checker reports on purpose (docs/checker.md, Findings on real libraries)."""


def is_known(target: str, failure: dict[str, str]) -> bool:
    """True when ``failure`` (check, message) is a documented finding on ``target``."""
    known = KNOWN_FINDINGS.get(target)
    return known is not None and known[0] in failure.get("message", "")


def fast_targets() -> list[str]:
    from gruverify.zoo import CORRECT

    return ["torch-gru", "torch-grucell"] + [
        f"{e.cls.__module__}:{e.cls.__name__}" for e in CORRECT.values()
    ]


def library_targets() -> list[str]:
    return [
        t
        for t, mods in LIBRARY_TARGETS.items()
        if all(importlib.util.find_spec(m) is not None for m in mods)
    ]


def soak_one(target: str, seed: int, artifacts: str) -> dict[str, Any]:
    from gruverify.conformance import run_checks

    start = time.monotonic()
    report = run_checks(target, device="cpu", profile="thorough", seed=seed, artifacts=artifacts)
    return {
        "target": target,
        "seed": seed,
        "verdict": report.verdict,
        "checks": len(report.checks),
        "passed": sum(c.status == "passed" for c in report.checks),
        "skipped": sum(c.status == "skipped" for c in report.checks),
        "cases": sum(c.cases for c in report.checks),
        "failures": [
            {
                "check": c.name,
                "status": c.status,
                "message": (c.message.splitlines() or [""])[0],
                "file": (c.counterexample or {}).get("file"),
            }
            for c in report.failures
        ],
        "seconds": round(time.monotonic() - start, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=None, help="stop starting runs after this")
    ap.add_argument("--rounds", type=int, default=None, help="stop after this many rounds")
    ap.add_argument("--library-every", type=int, default=3, help="library targets every N rounds")
    ap.add_argument("--targets", nargs="*", default=None, help="only these targets")
    ap.add_argument("--out", default=".out/soak", help="output directory")
    ap.add_argument("--summarize", metavar="RUNS_JSONL", help="only summarize a runs.jsonl log")
    args = ap.parse_args(argv)
    if args.summarize:
        lines = Path(args.summarize).read_text(encoding="utf-8").splitlines()
        logged = [json.loads(line) for line in lines if line.strip()]
        summary = summarize(logged, sum(float(r["seconds"]) for r in logged) / 60)
        print(json.dumps(summary, indent=1))
        return 1 if summary["alarms"] else 0
    if args.minutes is None and args.rounds is None:
        ap.error("give --minutes or --rounds")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fast = fast_targets() if args.targets is None else args.targets
    lib = library_targets() if args.targets is None else []
    rng = random.SystemRandom()
    start = time.monotonic()
    deadline = None if args.minutes is None else start + 60 * args.minutes
    runs: list[dict[str, Any]] = []
    rnd = 0
    with open(out / "runs.jsonl", "a", encoding="utf-8") as log:
        while args.rounds is None or rnd < args.rounds:
            todo = fast + (lib if rnd % max(1, args.library_every) == 0 else [])
            for target in todo:
                if deadline is not None and time.monotonic() > deadline:
                    break
                r = soak_one(target, rng.randrange(2**31), str(out / "artifacts"))
                runs.append(r)
                log.write(json.dumps(r) + "\n")
                log.flush()
                print(f"{r['verdict'].upper():4} {target:45} seed {r['seed']:>10}  "
                      f"{r['cases']:>5} cases  {r['seconds']:6.1f} s", flush=True)  # fmt: skip
                for f in r["failures"]:
                    tag = "known" if is_known(target, f) else "ALARM"
                    print(f"     {tag} {f['check']}: {f['message']}  ({f['file']})", flush=True)
            else:
                rnd += 1
                continue
            break
    summary = summarize(runs, (time.monotonic() - start) / 60)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 1 if summary["alarms"] else 0


def summarize(runs: list[dict[str, Any]], minutes: float) -> dict[str, Any]:
    """Runs, cases, alarms (failed checks not documented as findings) and known findings."""
    import torch

    per: dict[str, dict[str, float]] = {}
    for r in runs:
        p = per.setdefault(
            str(r["target"]),
            {"runs": 0, "cases": 0, "alarms": 0, "known findings": 0, "seconds": 0.0},
        )
        p["runs"] += 1
        p["cases"] += int(r["cases"])
        p["seconds"] = round(p["seconds"] + float(r["seconds"]), 1)
        for f in r["failures"]:
            p["known findings" if is_known(str(r["target"]), f) else "alarms"] += 1
    return {
        "profile": "thorough",
        "runs": len(runs),
        "cases": sum(int(r["cases"]) for r in runs),
        "alarms": sum(int(p["alarms"]) for p in per.values()),
        "known findings": sum(int(p["known findings"]) for p in per.values()),
        "minutes": round(minutes, 1),
        "torch": torch.__version__,
        "per_target": per,
    }


if __name__ == "__main__":
    sys.exit(main())
