"""Jittor ``jittor.nn.GRU`` parameters <-> canonical parameters.

``jittor.nn.GRU(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)``
(jittor/nn.py, jittor 1.3.11) holds its weights as attributes named as torch names them and packed
the same way, gates r, z, n along the rows::

    weight_ih_l{k}[_reverse] (3H, I_k)   weight_hh_l{k}[_reverse] (3H, H)
    bias_ih_l{k}[_reverse]   (3H,)       bias_hh_l{k}[_reverse]   (3H,)

with all six biases (no folding; ``bias=False`` has none) and the reset-after GRU
``n = tanh(ih_n + r * hh_n)``, ``h' = (1 - z) n + z h`` (``GRU.call_rnn_cell``). ``state_dict()``
holds exactly these names. The mapping is torch's (``gruverify.layouts.torch_layout``), so the
round trip is exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.torch_layout import gru_from_torch, gru_to_torch

__all__ = ["JITTOR_GATE_ORDER", "gru_from_jittor", "gru_to_jittor"]

JITTOR_GATE_ORDER = ("r", "z", "n")
_NAME = re.compile(r"^(weight|bias)_(ih|hh)_l\d+(_reverse)?$")


def gru_to_jittor(params: GRUParams) -> dict[str, np.ndarray]:
    """The ``state_dict`` (float64 numpy) of a ``jittor.nn.GRU`` computing ``params`` (no biases
    for ``bias=False``)."""
    return gru_to_torch(params)  # type: ignore[no-any-return]


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "numpy") and not isinstance(v, np.ndarray):
        v = v.numpy()
    return np.array(v, dtype=np.float64)


def gru_from_jittor(state_dict: Mapping[str, Any]) -> GRUParams:
    """Canonical parameters from a ``jittor.nn.GRU`` state dict (Jittor vars or arrays); any other
    key is an error."""
    flat = {}
    for key, value in state_dict.items():
        if not _NAME.match(key):
            raise LayoutError(f"unexpected key {key!r} in a jittor.nn.GRU state dict")
        flat[key] = _np(value)
    if not flat:
        raise LayoutError("no weight_ih_l0 ... entries: not a jittor.nn.GRU state dict")
    return gru_from_torch(flat)
