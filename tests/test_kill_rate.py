"""Proving the checker: it flags every planted bug of the zoo and passes every correct GRU.

Under the ``ci`` profile in float32 on the CPU:

- on each of the seeds 0..4, every mutant of ``gruverify.zoo.MUTANTS`` fails the check its catalogue
  entry names (run alone): the kill rate is 100% per seed, not only on a lucky seed (each failure
  message gives that seed's kill rate and the mutants that escaped);
- every mutant's entry names a check of the catalogue (a mutant the catalogue cannot catch would
  name the missing check instead, and ``test_kill_rate`` fails until the check exists);
- each correct module of ``gruverify.zoo.CORRECT`` (written differently from torch) passes every
  check on seed 0: no false alarms.
"""

from __future__ import annotations

import pytest

from gruverify.conformance import check_names, run_checks
from gruverify.conformance.report import Report
from gruverify.zoo import CORRECT, MUTANTS

CAUGHT = sorted(n for n, e in MUTANTS.items() if e.check in check_names())
MISSED = sorted(n for n, e in MUTANTS.items() if e.check not in check_names())


def _run(name: str, module: str, checks: list[str] | None = None, seed: int = 0) -> Report:
    return run_checks(f"{module}:{name}", device="cpu", dtype="float32", profile="ci", seed=seed,
                      checks=checks)  # fmt: skip


def _summary(report: Report) -> str:
    return "; ".join(f"{c.name}: {c.status} ({c.message.splitlines()[0][:90]})"
                     for c in report.checks)  # fmt: skip


SEEDS = (0, 1, 2, 3, 4)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_mutant_fails_its_check(seed: int) -> None:
    escaped = []
    for name in CAUGHT:
        entry = MUTANTS[name]
        report = _run(name, "gruverify.zoo.mutants", [entry.check], seed)
        (result,) = report.checks
        if not (report.verdict == "fail" and result.status == "failed"):
            escaped.append(f"{name} ({entry.pattern}) not caught by {entry.check!r}: "
                           f"{_summary(report)}")  # fmt: skip
    killed = len(CAUGHT) - len(escaped)
    assert not escaped, (
        f"seed {seed}: kill rate {killed}/{len(CAUGHT)} ({100 * killed / len(CAUGHT):.0f}%); "
        + "; ".join(escaped)
    )


def test_kill_rate() -> None:
    """Every mutant names a check of the catalogue (kill rate 100%; a gap would be listed here)."""
    assert len(MUTANTS) >= 20
    assert not MISSED, f"mutants no check of the catalogue is meant to catch: {MISSED}"


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_module_passes_every_check(name: str) -> None:
    cls = CORRECT[name].cls
    report = _run(name, cls.__module__)
    bad = [c for c in report.checks if c.status not in ("passed", "skipped")]
    assert report.verdict == "pass" and not bad, f"false alarm on {name}: {_summary(report)}"
