"""Checking a model file: one verdict per GRU it holds, and one for the file.

``run_file_checks(path, declaration=, options=, ...)`` lists the file's GRUs
(``gruverify.targets.model_files.file_grus``: every GRU, or the one ``Declaration.node`` names,
each matched to its layer of ``Declaration.source`` when one is given) and runs the checks on each
with ``run_checks`` (the target ``path`` with ``node`` set to the GRU, so every reproduce line and
counterexample file names its GRU). With a source, each GRU's report starts with the result
``SOURCE_CHECK``: passed when the file's weights, biases and attributes are exactly the source's
under the file format's layout, failed with how they differ otherwise
(``gruverify.targets.model_source.differences``); its forward checks are then judged against the
reference with the source's weights. The file's verdict fails when one GRU's does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from gruverify.conformance.options import RunOptions
from gruverify.conformance.report import CheckResult, Report, gruverify_version
from gruverify.conformance.runner import run_checks
from gruverify.targets.declaration import Declaration
from gruverify.targets.model_files import FileGRU, file_grus

__all__ = ["SOURCE_CHECK", "FileReport", "run_file_checks", "source_result"]

SOURCE_CHECK = "file matches source"
_SOURCE_DESCRIPTION = (
    "the file's W, R, B and attributes are exactly the source's under the format's layout"
)


@dataclasses.dataclass
class FileReport:
    """The reports of a model file's GRUs (one per GRU, in the file's order)."""

    path: str
    reports: list[Report]
    source: str | None = None
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        """``"fail"`` when one GRU's verdict fails, else ``"pass"``."""
        return "fail" if any(r.verdict == "fail" for r in self.reports) else "pass"

    def summary(self) -> list[str]:
        """One line per GRU (its verdict and counts), then the file's."""
        lines = [
            f"  GRU {_node(r)}: {r.verdict_phrase()}; {r.count_phrase()}" for r in self.reports
        ]
        failing = [_node(r) for r in self.reports if r.verdict == "fail"]
        against = f" against --source {self.source}" if self.source else ""
        what = f"; failing: {', '.join(failing)}" if failing else ""
        lines.append(
            f"{self.path}: {self.verdict.upper()} ({len(self.reports)} GRU"
            f"{'s' * (len(self.reports) != 1)}{against}{what}; {self.seconds:.1f} s)"
        )
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "verdict": self.verdict,
            "source": self.source,
            "seconds": round(self.seconds, 3),
            "gruverify_version": gruverify_version(),
            "grus": [r.to_dict() for r in self.reports],
        }


def _node(report: Report) -> str:
    return str(report.declaration.get("node") or report.target)


def source_result(entry: FileGRU) -> CheckResult | None:
    """The ``SOURCE_CHECK`` result of a GRU matched to a source (None without a source)."""
    found = entry.differences()  # None: no source
    if found is None:
        return None
    if not found:
        return CheckResult(
            SOURCE_CHECK, "cpu", "passed",
            f"exactly the source's {entry.source_name()} (weights, biases, attributes)",
            _SOURCE_DESCRIPTION, cases=1,
        )  # fmt: skip
    text = "; ".join(found)
    message = f"{entry.name} is not the source's {entry.source_name()}: {text}"
    return CheckResult(
        SOURCE_CHECK, "cpu", "failed", message, _SOURCE_DESCRIPTION, cases=1, diagnosis=text
    )


def run_file_checks(
    path: str,
    *,
    declaration: Declaration | None = None,
    options: RunOptions | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    begin: Callable[[FileGRU], None] | None = None,
    **keywords: Any,
) -> FileReport:
    """Check every GRU of the model file ``path`` (module docstring). ``begin`` is called with
    each GRU before its checks, ``progress`` with each result; ``keywords`` go to ``run_checks``
    (``node`` and ``source`` may be keywords too).
    ``TargetError`` (a usage error) for a file, node or source that cannot be used."""
    start = time.monotonic()
    chosen = {k: keywords.pop(k) for k in ("node", "source") if k in keywords}
    declaration = dataclasses.replace(declaration or Declaration(), **chosen)
    reports = []
    for entry in file_grus(path, declaration):
        if begin is not None:
            begin(entry)
        first = source_result(entry)
        if first is not None and progress is not None:
            progress(first)
        report = run_checks(
            path, declaration=dataclasses.replace(declaration, node=entry.name),
            options=options, progress=progress, **keywords,
        )  # fmt: skip
        if first is not None:
            report.checks.insert(0, first)
        reports.append(report)
    return FileReport(path, reports, declaration.source, time.monotonic() - start)
