"""gruverify's conformance checks for MiniGRU: one test per check (skips name their reason)."""

from gruverify.pytest_plugin import conformance_tests

test_minigru_conformance = conformance_tests("my_gru:MiniGRU", device="cpu")
