"""PaddlePaddle ``paddle.nn.GRU`` parameters <-> canonical parameters.

``paddle.nn.GRU(input_size, hidden_size, num_layers, direction, time_major, dropout, ...)``
(paddle/nn/layer/rnn.py, paddlepaddle 3.3) names its parameters as torch does and packs them the
same way, gates r, z, c (c is the candidate, canonical n) along the rows::

    weight_ih_l{k}[_reverse] (3H, I_k)   weight_hh_l{k}[_reverse] (3H, H)
    bias_ih_l{k}[_reverse]   (3H,)       bias_hh_l{k}[_reverse]   (3H,)

with all six biases (no folding), the reset-after GRU ``c = tanh(W_ic x + b_ic + r * (W_hc h +
b_hc))`` and the canonical update, written ``h' = (h - c) * z + c``. Its ``state_dict()`` also holds
each parameter a second time under its cell's name (``{k}.cell_fw.weight_ih``,
``{k}.cell_bw.weight_ih``: the same tensors); ``gru_from_paddle`` reads the ``_l{k}`` names and
ignores those aliases. The mapping is torch's (``gruverify.layouts.torch_layout``), so the round
trip is exact: ``from_paddle(to_paddle(p)) == p``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.torch_layout import gru_from_torch, gru_to_torch

__all__ = ["PADDLE_GATE_ORDER", "gru_from_paddle", "gru_to_paddle", "paddle_direction"]

PADDLE_GATE_ORDER = ("r", "z", "n")
_FLAT_NAME = re.compile(r"^(weight|bias)_(ih|hh)_l\d+(_reverse)?$")
_CELL_ALIAS = re.compile(r"^\d+\.cell(_fw|_bw)?\.(weight|bias)_(ih|hh)$")


def paddle_direction(bidirectional: bool) -> str:
    """Paddle's ``direction`` argument: ``"bidirect"`` or ``"forward"``."""
    return "bidirect" if bidirectional else "forward"


def gru_to_paddle(params: GRUParams) -> dict[str, np.ndarray]:
    """The ``weight_*_l{k}`` / ``bias_*_l{k}`` entries of a ``paddle.nn.GRU`` state dict computing
    ``params`` (float64 numpy; no biases for ``bias=False``, i.e. ``bias_*_attr=False``)."""
    return gru_to_torch(params)  # type: ignore[no-any-return]


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "numpy") and not isinstance(v, np.ndarray):
        v = v.numpy()
    return np.array(v, dtype=np.float64)


def gru_from_paddle(state_dict: Mapping[str, Any]) -> GRUParams:
    """Canonical parameters from a ``paddle.nn.GRU`` state dict (Paddle tensors or arrays); the
    cell aliases (``0.cell_fw.weight_ih`` ...) are ignored, any other key is an error."""
    flat = {}
    for key, value in state_dict.items():
        if _FLAT_NAME.match(key):
            flat[key] = _np(value)
        elif not _CELL_ALIAS.match(key):
            raise LayoutError(f"unexpected key {key!r} in a paddle.nn.GRU state dict")
    if not flat:
        raise LayoutError("no weight_ih_l0 ... entries: not a paddle.nn.GRU state dict")
    return gru_from_torch(flat)
