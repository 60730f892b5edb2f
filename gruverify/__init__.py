"""gruverify: a verification suite for GRU implementations.

The public API, by layer (each imported lazily, so ``import gruverify.params`` stays light):

- parameters: ``GRUCellParams``, ``RNNCellParams``, ``StackParams``, ``random_gru_params``,
  ``random_rnn_params``
- references: ``gru_forward``, ``gru_backward``, ``rnn_forward``, ``rnn_backward`` (float64 numpy),
  ``gru_forward_torch`` (explicit torch ops, any device)
- interface: ``Problem``, ``Outputs``, ``Gradients``, ``Capabilities``, ``Implementation``
- error model: ``ErrorModel``, ``arithmetic_for``
- checker: ``run_checks``
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GRUCellParams": "gruverify.params",
    "RNNCellParams": "gruverify.params",
    "StackParams": "gruverify.params",
    "random_gru_params": "gruverify.params",
    "random_rnn_params": "gruverify.params",
    "gru_forward": "gruverify.numpy_reference",
    "gru_backward": "gruverify.numpy_reference",
    "rnn_forward": "gruverify.numpy_reference",
    "rnn_backward": "gruverify.numpy_reference",
    "gru_forward_torch": "gruverify.torch_reference",
    "Problem": "gruverify.interface",
    "Outputs": "gruverify.interface",
    "Gradients": "gruverify.interface",
    "Capabilities": "gruverify.interface",
    "Implementation": "gruverify.interface",
    "ErrorModel": "gruverify.error_model",
    "arithmetic_for": "gruverify.error_model",
    "run_checks": "gruverify.conformance",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gruverify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
