"""Which checks catch which planted bug: every zoo mutant against the whole default run.

Runs ``gruverify check gruverify.zoo.mutants:NAME`` (all checks, profile ci, seed 0, float32, CPU,
in-process) for every mutant of ``gruverify.zoo.MUTANTS`` and prints, per mutant, the checks that
did not pass; then, per check, the mutants it catches and those only it catches (the table "What
each check is for" in docs/checker.md). About 10 minutes on two busy cores.

Usage: nice python scripts/check_coverage.py [JSON]   (JSON: also write the matrix there)
"""

from __future__ import annotations

import json
import sys

from gruverify.conformance import check_names, run_checks
from gruverify.zoo import MUTANTS


def matrix() -> dict[str, dict[str, str]]:
    """Mutant -> {check: status} for every check that did not pass."""
    out: dict[str, dict[str, str]] = {}
    for name, entry in sorted(MUTANTS.items()):
        report = run_checks(
            f"{entry.cls.__module__}:{name}", device="cpu", dtype="float32", profile="ci", seed=0
        )
        out[name] = {c.name: c.status for c in report.checks if c.status != "passed"}
        print(f"{name}: {', '.join(sorted(out[name])) or 'nothing'}", flush=True)
    return out


def main(argv: list[str]) -> int:
    m = matrix()
    if argv:
        with open(argv[0], "w") as f:
            json.dump(m, f, indent=1)
    for check in check_names():
        caught = sorted(n for n, d in m.items() if check in d)
        only = [n for n in caught if len(m[n]) == 1]
        print(f"{check}: catches {len(caught)}; only it: {', '.join(only) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
