"""Proving the checker: it flags every planted bug of the zoo and passes every correct GRU.

Under the ``ci`` profile in float32 on the CPU:

- ``test_kill_rate`` runs every mutant of ``gruverify.zoo.MUTANTS`` against the check its
  catalogue entry names (alone, seed 0) and the bug-free ``ZooGRU`` against each of those checks:
  the kill rate is 100% (the message lists the mutants that escaped) and every kill is the bug's
  (the base passes the same check on the same seed); every entry names a check of the catalogue;
- the kill rate counts failures alone for every mutant whose bug changes numbers, gradients or
  semantics (catalogue severity ``"failure"``: the check fails and so does the verdict); a mutant
  whose only fault is lax validation (severity ``"warning"``: ``AcceptsBadInitialState``) must
  *warn*: the check reports ``warning``, the verdict passes, and under ``--strict`` it fails;
- on each of the seeds 1..4 the same holds mutant by mutant (100% per seed, not only on a lucky
  seed);
- each correct module of ``gruverify.zoo.CORRECT`` (written differently from torch) passes every
  check on seed 0, and *passes*: a check whose cases were all inconclusive (skipped) is no pass,
  so a conditioning rule that judged nothing fails here.
"""

from __future__ import annotations

import dataclasses

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


def _escaped(seed: int) -> list[str]:
    """The mutants their named check does not fail on ``seed``, each with what it reported."""
    escaped = []
    for name in CAUGHT:
        entry = MUTANTS[name]
        report = _run(name, "gruverify.zoo.mutants", [entry.check], seed)
        if not _reported_as(report, entry.severity):
            escaped.append(f"{name} ({entry.pattern}) not caught by {entry.check!r} as a "
                           f"{entry.severity}: {_summary(report)}")  # fmt: skip
    return escaped


def _reported_as(report: Report, severity: str) -> bool:
    """A failure: the check failed, and the verdict. A warning: the check warned, the verdict
    passes, and the same report under ``--strict`` fails."""
    (result,) = report.checks
    if severity == "failure":
        return report.verdict == "fail" and result.status == "failed"
    strict = dataclasses.replace(report, strict=True)
    return result.status == "warning" and report.verdict == "pass" and strict.verdict == "fail"


def test_severities_are_failures_except_lax_validation() -> None:
    """Only a mutant whose one fault is lax input validation may be a warning."""
    assert {n: e.severity for n, e in MUTANTS.items() if e.severity != "failure"} == {
        "AcceptsBadInitialState": "warning"
    }


def _rate(seed: int, escaped: list[str]) -> str:
    killed = len(CAUGHT) - len(escaped)
    return f"seed {seed}: kill rate {killed}/{len(CAUGHT)} ({100 * killed / len(CAUGHT):.0f}%); "


def test_kill_rate() -> None:
    """Seed 0: every mutant fails its named check, which the bug-free base passes."""
    assert len(MUTANTS) >= 20
    assert not MISSED, f"mutants no check of the catalogue is meant to catch: {MISSED}"
    escaped = _escaped(0)
    assert not escaped, _rate(0, escaped) + "; ".join(escaped)
    checks = sorted({MUTANTS[name].check for name in CAUGHT})
    base = _run("ZooGRU", "gruverify.zoo", checks)
    assert [c.name for c in base.checks] == [n for n in check_names() if n in checks]
    wrong = [c for c in base.checks if c.status != "passed"]
    assert not wrong, f"the bug-free base does not pass: {_summary(base)}"


@pytest.mark.parametrize("seed", (1, 2, 3, 4))
def test_every_mutant_fails_its_check(seed: int) -> None:
    escaped = _escaped(seed)
    assert not escaped, _rate(seed, escaped) + "; ".join(escaped)


# Checks a correct module may skip, and why (none: the zoo's modules support every feature).
MAY_SKIP: dict[str, str] = {}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_module_passes_every_check(name: str) -> None:
    cls = CORRECT[name].cls
    report = _run(name, cls.__module__)
    bad = [c for c in report.checks if c.status != "passed" and c.name not in MAY_SKIP]
    assert report.verdict == "pass" and not bad, f"false alarm on {name}: {_summary(report)}"
    judged = [c for c in report.checks if c.name.startswith(("forward", "gradient"))]
    assert len(judged) >= 11 and all(c.status == "passed" and c.cases > c.inconclusive
                                     for c in judged), _summary(report)  # fmt: skip
