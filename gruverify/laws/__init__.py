"""The GRU's laws, each a function that checks one case and explains a violation with numbers.

A law function takes an ``Implementation`` (or reference data) and one case, and raises
``LawViolation`` (an AssertionError) whose message carries the law, its formula, the numbers
(expected, got, tolerance) and where. The property suite (properties/) draws cases with hypothesis;
the conformance checker points the same functions at other people's GRUs.
"""

from gruverify.laws.base import Inconclusive, LawViolation

__all__ = ["Inconclusive", "LawViolation"]
