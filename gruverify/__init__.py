"""gruverify: a verification suite for GRU implementations.

The public API, by layer (each imported lazily, so ``import gruverify.core.params`` stays light):

- parameters: ``GRUCellParams``, ``RNNCellParams``, ``StackParams``, ``random_gru_params``,
  ``random_rnn_params``
- references: ``gru_forward``, ``gru_backward``, ``rnn_forward``, ``rnn_backward`` (float64 numpy),
  ``gru_forward_torch`` (explicit torch ops, any device)
- interface: ``Problem``, ``Outputs``, ``Gradients``, ``Capabilities``, ``Implementation``
- error model: ``ErrorModel``, ``arithmetic_for``
- checker: ``run_checks``; ``GruverifyWarning``, the category of the pytest plugin's warnings
  (``-W error::gruverify.GruverifyWarning`` fails them)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GRUCellParams": "gruverify.core.params",
    "RNNCellParams": "gruverify.core.params",
    "StackParams": "gruverify.core.params",
    "random_gru_params": "gruverify.core.params",
    "random_rnn_params": "gruverify.core.params",
    "gru_forward": "gruverify.reference.numpy_reference",
    "gru_backward": "gruverify.reference.numpy_reference",
    "rnn_forward": "gruverify.reference.numpy_reference",
    "rnn_backward": "gruverify.reference.numpy_reference",
    "gru_forward_torch": "gruverify.reference.torch_reference",
    "Problem": "gruverify.core.problem",
    "Outputs": "gruverify.core.problem",
    "Gradients": "gruverify.core.problem",
    "Capabilities": "gruverify.core.problem",
    "Implementation": "gruverify.core.problem",
    "ErrorModel": "gruverify.error_model",
    "arithmetic_for": "gruverify.error_model",
    "run_checks": "gruverify.conformance",
    "GruverifyWarning": "gruverify.conformance.report",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gruverify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
