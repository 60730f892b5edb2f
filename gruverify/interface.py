"""The adapter API in one import: what an implementation takes, gives and declares.

This module is the public face of ``gruverify.core.problem`` (the problem, its outputs and
gradients, the capabilities and the ``Implementation`` protocol) for people who write an adapter
(docs/adapters.md). gruverify's own modules import from ``gruverify.core`` directly.
"""

from gruverify.core.arithmetic import round_to_dtype
from gruverify.core.params import Variant
from gruverify.core.problem import (
    Capabilities,
    Gradients,
    Implementation,
    Outputs,
    Problem,
    rounded,
)

__all__ = [
    "Capabilities",
    "Gradients",
    "Implementation",
    "Outputs",
    "Problem",
    "Variant",
    "round_to_dtype",
    "rounded",
]
