"""The conformance checker: run gruverify's laws against a GRU implementation and report.

Programmatic use::

    from gruverify.conformance import run_checks
    report = run_checks("torch-gru", device="cpu", dtype="float32", profile="ci", seed=0)
    report.verdict          # "pass" | "fail"
    report.checks           # [CheckResult(name, device, status, message, counterexample, ...)]
    report.to_json("report.json")
"""

from gruverify.conformance.checks import (
    ALL_CHECKS,
    CHECKS,
    CROSS_DEVICE_CHECKS,
    DEVICE_AGREEMENT,
    Check,
    check_names,
)
from gruverify.conformance.report import CheckResult, Report
from gruverify.conformance.runner import available_devices, run_check, run_checks

__all__ = [
    "ALL_CHECKS",
    "CHECKS",
    "CROSS_DEVICE_CHECKS",
    "DEVICE_AGREEMENT",
    "Check",
    "CheckResult",
    "Report",
    "available_devices",
    "check_names",
    "run_check",
    "run_checks",
]
