"""The ``mnn`` target's two conversion variants as targets ``gruverify check`` can name, to save
their findings' counterexamples (issue 23).

``MnnGRUTarget(dynamic_time=True)`` and ``MnnGRUTarget(origin_rnn=True)`` are no built-in names
(the matrix's ``mnn`` row is the default conversion). ``gruverify check
mnn_variants:MnnDynamicTime --profile quick --seed 0`` and ``... mnn_variants:MnnOriginRnn ...``
(tests/ on the path) run them; docs/repros/mnn-dynamic-time.json and mnn-origin-rnn.json are the
files they saved, their targets set to ``mnn[dynamic-time]`` and ``mnn[origin-rnn]`` (the calls
their standalone scripts make).
"""

from __future__ import annotations

from typing import Any

from gruverify.core.problem import Capabilities
from gruverify.targets.mnn_target import MNN_MISSING, MnnGRUTarget


class MnnDynamicTime(MnnGRUTarget):
    """``mnn`` with the time axis of the ONNX file dynamic."""

    capabilities = Capabilities(dict(MNN_MISSING))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(dynamic_time=True, **kwargs)


class MnnOriginRnn(MnnGRUTarget):
    """``mnn`` converted with ``--useOriginRNNImpl``."""

    capabilities = Capabilities(dict(MNN_MISSING))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(origin_rnn=True, **kwargs)
