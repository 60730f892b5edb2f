"""MindSpore ``mindspore.nn.GRU`` parameters <-> canonical parameters.

``mindspore.nn.GRU(input_size, hidden_size, num_layers, has_bias, batch_first, dropout,
bidirectional)`` (mindspore/nn/layer/rnns.py, mindspore 2.10) keeps one ``Parameter`` per layer,
direction and kind in four ``ParameterTuple`` lists (``w_ih_list``, ``w_hh_list``, ``b_ih_list``,
``b_hh_list``), named as torch names them and packed the same way, gates r, z, n along the rows::

    weight_ih_l{k}[_reverse] (3H, I_k)   weight_hh_l{k}[_reverse] (3H, H)
    bias_ih_l{k}[_reverse]   (3H,)       bias_hh_l{k}[_reverse]   (3H,)

with all six biases (no folding; ``has_bias=False`` has none) and, on the CPU
(``rnn_cells._gru_cell``), the reset-after GRU ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``
with the canonical update written ``h' = n + z * (h - n)``. A parameter's name may carry the path of
the cell that holds the GRU (``encoder.gru.weight_ih_l0``): ``gru_from_mindspore`` reads the last
component. The mapping is torch's (``gruverify.layouts.torch_layout``), so the round trip is exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.torch_layout import gru_from_torch, gru_to_torch

__all__ = ["MINDSPORE_GATE_ORDER", "gru_from_mindspore", "gru_to_mindspore"]

MINDSPORE_GATE_ORDER = ("r", "z", "n")
_NAME = re.compile(r"^(?:.*\.)?((?:weight|bias)_(?:ih|hh)_l\d+(?:_reverse)?)$")


def gru_to_mindspore(params: GRUParams) -> dict[str, np.ndarray]:
    """Parameter name -> value (float64 numpy) of a ``mindspore.nn.GRU`` computing ``params``
    (no biases for ``bias=False``, i.e. ``has_bias=False``)."""
    return gru_to_torch(params)  # type: ignore[no-any-return]


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "asnumpy"):
        v = v.asnumpy()
    return np.array(v, dtype=np.float64)


def gru_from_mindspore(parameters: Mapping[str, Any]) -> GRUParams:
    """Canonical parameters from a ``mindspore.nn.GRU``'s parameters by name (MindSpore tensors or
    arrays, e.g. ``{p.name: p for p in gru.get_parameters()}``); any other name is an error."""
    flat = {}
    for key, value in parameters.items():
        m = _NAME.match(key)
        if m is None:
            raise LayoutError(f"unexpected parameter {key!r} for a mindspore.nn.GRU")
        if m.group(1) in flat:
            raise LayoutError(f"parameter {m.group(1)!r} appears twice ({key!r})")
        flat[m.group(1)] = _np(value)
    if not flat:
        raise LayoutError("no weight_ih_l0 ... parameters: not a mindspore.nn.GRU")
    return gru_from_torch(flat)
