"""Standalone reproductions: a counterexample file as a script a library's maintainers can run.

``write_standalone(path, out=None, issue=None)`` reads a counterexample file and writes the script
(``standalone_script``: only the library and numpy imported, the case inline, a float64 GRU, the
library's call, exit status 1 while the bug is present) and, with ``issue``, the issue text
(``issue_text``). ``StandaloneError`` is a usage error: a check or target without a template.
"""

from gruverify.conformance.standalone.calls import StandaloneError, supported_targets
from gruverify.conformance.standalone.issue import issue_text, write_standalone
from gruverify.conformance.standalone.script import (
    SUPPORTED_CHECKS,
    Reproduction,
    standalone_script,
)

__all__ = [
    "SUPPORTED_CHECKS",
    "Reproduction",
    "StandaloneError",
    "issue_text",
    "standalone_script",
    "supported_targets",
    "write_standalone",
]
