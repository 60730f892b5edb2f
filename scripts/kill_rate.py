"""Kill rate of the checker over many seeds (what tests/test_kill_rate.py asserts, on more seeds).

Every zoo mutant is run against the check its catalogue entry names, every correct zoo module
against every check; profile ci, float32, CPU, in-process. A mutant counts as flagged when that
check reports what its entry expects: ``failed`` for a bug that changes numbers, gradients or
semantics, ``warning`` for one that is only lax about bad input (and ``failed`` under --strict).
A correct module raises a false alarm when any check is neither passed nor skipped.

Usage: nice python scripts/kill_rate.py [--strict] SEED [SEED ...]
Prints one line per seed, then the escaped mutants and false alarms, if any. Exit 1 if any.
"""

from __future__ import annotations

import sys
import time

from gruverify.conformance import check_names, run_checks
from gruverify.conformance.report import Report
from gruverify.zoo import CORRECT, MUTANTS


def _run(target: str, checks: list[str] | None, seed: int, strict: bool) -> Report:
    return run_checks(
        target, device="cpu", dtype="float32", profile="ci", seed=seed, checks=checks,
        strict=strict,
    )  # fmt: skip


def _expected(severity: str, strict: bool) -> str:
    return "failed" if severity == "failure" or strict else "warning"


def kill_rate(seed: int, strict: bool) -> tuple[int, list[str], list[str]]:
    """(mutants flagged, escaped mutants, false alarms) on one seed."""
    names = sorted(n for n, e in MUTANTS.items() if e.check in check_names())
    escaped: list[str] = []
    for name in names:
        entry = MUTANTS[name]
        (res,) = _run(f"{entry.cls.__module__}:{name}", [entry.check], seed, strict).checks
        if res.status != _expected(entry.severity, strict):
            escaped.append(f"{name}: {res.status} {res.message.splitlines()[0][:100]}")
    alarms: list[str] = []
    for name, entry in sorted(CORRECT.items()):
        report = _run(f"{entry.cls.__module__}:{name}", None, seed, strict)
        alarms += [
            f"{name}: {c.name} {c.status} {c.message.splitlines()[0][:100]}"
            for c in report.checks
            if c.status not in ("passed", "skipped")
        ]
    return len(names) - len(escaped), escaped, alarms


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    seeds = [int(a) for a in argv if a != "--strict"]
    if not seeds:
        print(__doc__)
        return 2
    bad = 0
    for seed in seeds:
        t0 = time.perf_counter()
        flagged, escaped, alarms = kill_rate(seed, strict)
        print(
            f"seed {seed}: mutants flagged {flagged}/{flagged + len(escaped)}, correct modules' "
            f"false alarms {len(alarms)} (of {len(CORRECT)}) [{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
        for line in escaped + alarms:
            print("   ", line, flush=True)
        bad += len(escaped) + len(alarms)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
