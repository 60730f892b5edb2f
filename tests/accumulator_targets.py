"""GRUs that declare their accumulator, for tests/test_error_model_accumulator.py (``accumulator_targets:NAME``
targets; tests/ is on the path).

``DeclaresBoth``: the zoo's correct explicit GRU declaring a float32 accumulator and an activation
error, to follow both declarations through ``resolve_target`` and the isolation protocol.
``AccumulatesInStorage``: the same GRU declaring that its products accumulate in float16 (a torch
module summing in its own format would say so, opting out of torch's float32 default).
"""

from __future__ import annotations

from typing import ClassVar

from gruverify.zoo.base import ZooGRU


class DeclaresBoth(ZooGRU):
    """Correct; declares ``gruverify_accumulator = "float32"`` and an activation error."""

    gruverify_accumulator: ClassVar[str] = "float32"
    gruverify_activation_error: ClassVar[float] = 1e-5


class AccumulatesInStorage(ZooGRU):
    """Correct; declares ``gruverify_accumulator = "float16"``."""

    gruverify_accumulator: ClassVar[str] = "float16"


class DeclaresNonsense(ZooGRU):
    """Declares an accumulator that is no format."""

    gruverify_accumulator: ClassVar[str] = "float24"
