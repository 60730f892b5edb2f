"""GRU classes handed to the pytest plugin as objects (tests/test_plugin_class_object.py)."""

from __future__ import annotations

from typing import ClassVar

from gruverify.zoo.mutants import ResetBefore


class DeclaredResetBefore(ResetBefore):
    """A correct reset-before GRU (``a_n = W_in x + b_in + W_hn (r h) + b_hn``) that says so."""

    gruverify_variant: ClassVar[str] = "reset_before"
    gruverify_missing: ClassVar[dict[str, str]] = {"dropout": "checked without dropout here"}
