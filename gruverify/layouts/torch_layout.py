"""torch.nn.GRU / nn.GRUCell / nn.RNN state dicts <-> canonical parameters.

torch packs gates in the order r, z, n: ``weight_ih_l{k}[_reverse]`` (3H, I_k),
``weight_hh_l{k}[_reverse]`` (3H, H), ``bias_ih_l{k}[_reverse]`` (3H), ``bias_hh_l{k}[_reverse]`` (3H).
nn.GRUCell uses the same names without the ``_l{k}`` suffix. nn.RNN has one block instead of three.
Values may be numpy arrays or torch tensors; ``to_*`` returns numpy arrays unless ``as_torch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, RNNCellParams, RNNParams, StackParams
from gruverify.layouts.errors import LayoutError

__all__ = [
    "TORCH_GATE_ORDER",
    "gru_cell_from_torch",
    "gru_cell_to_torch",
    "gru_from_torch",
    "gru_to_torch",
    "rnn_from_torch",
    "rnn_to_torch",
    "torch_state_dict",
]

TORCH_GATE_ORDER = ("r", "z", "n")


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu()
        if str(v.dtype) in ("torch.bfloat16", "torch.float16"):
            v = v.double()
        v = v.numpy()
    return np.array(v, dtype=np.float64)


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _pack_cell(cell: GRUCellParams[np.ndarray], bias: bool, sfx: str) -> dict[str, np.ndarray]:
    out = {
        f"weight_ih{sfx}": np.concatenate([cell.W_ir, cell.W_iz, cell.W_in]),
        f"weight_hh{sfx}": np.concatenate([cell.W_hr, cell.W_hz, cell.W_hn]),
    }
    if bias:
        out[f"bias_ih{sfx}"] = np.concatenate([cell.b_ir, cell.b_iz, cell.b_in])
        out[f"bias_hh{sfx}"] = np.concatenate([cell.b_hr, cell.b_hz, cell.b_hn])
    return out


def _unpack_cell(sd: Mapping[str, Any], sfx: str, bias: bool) -> GRUCellParams[np.ndarray]:
    w_ih, w_hh = _np(_get(sd, f"weight_ih{sfx}")), _np(_get(sd, f"weight_hh{sfx}"))
    if w_ih.ndim != 2 or w_ih.shape[0] % 3 or w_hh.shape != (w_ih.shape[0], w_ih.shape[0] // 3):
        raise LayoutError(
            f"weight_ih{sfx} {w_ih.shape} and weight_hh{sfx} {w_hh.shape} are not (3H, I) and"
            " (3H, H) stacked as r, z, n"
        )
    H = w_hh.shape[1]
    if bias:
        b_ih, b_hh = _np(_get(sd, f"bias_ih{sfx}")), _np(_get(sd, f"bias_hh{sfx}"))
        for name, b in ((f"bias_ih{sfx}", b_ih), (f"bias_hh{sfx}", b_hh)):
            if b.shape != (3 * H,):
                raise LayoutError(f"{name} has shape {b.shape}, expected ({3 * H},)")
    else:
        b_ih = b_hh = np.zeros(3 * H)
    return GRUCellParams(
        W_ir=w_ih[:H], W_iz=w_ih[H : 2 * H], W_in=w_ih[2 * H :],
        W_hr=w_hh[:H], W_hz=w_hh[H : 2 * H], W_hn=w_hh[2 * H :],
        b_ir=b_ih[:H], b_iz=b_ih[H : 2 * H], b_in=b_ih[2 * H :],
        b_hr=b_hh[:H], b_hz=b_hh[H : 2 * H], b_hn=b_hh[2 * H :],
    )  # fmt: skip


def _get(sd: Mapping[str, Any], key: str) -> Any:
    if key not in sd:
        raise LayoutError(f"state dict has no {key!r}; it has {sorted(sd)}")
    return sd[key]


def _maybe_torch(d: dict[str, np.ndarray], as_torch: bool, dtype: Any = None) -> dict[str, Any]:
    if not as_torch:
        return d
    import torch

    return {k: torch.tensor(v, dtype=dtype or torch.float64) for k, v in d.items()}


def gru_to_torch(params: GRUParams, *, as_torch: bool = False, dtype: Any = None) -> dict[str, Any]:
    """The state dict of an ``nn.GRU`` computing ``params``."""
    out: dict[str, np.ndarray] = {}
    for layer, row in enumerate(params.cells):
        for d, cell in enumerate(row):
            out.update(_pack_cell(cell, params.bias, _suffix(layer, d)))
    return _maybe_torch(out, as_torch, dtype)


def gru_from_torch(state_dict: Mapping[str, Any]) -> GRUParams:
    """Canonical parameters from an ``nn.GRU`` state dict (any number of layers, directions)."""
    keys = set(state_dict)
    bias = "bias_ih_l0" in keys
    bidirectional = "weight_ih_l0_reverse" in keys
    layers = 0
    while f"weight_ih_l{layers}" in keys:
        layers += 1
    if layers == 0:
        raise LayoutError(f"no 'weight_ih_l0' in the state dict; keys are {sorted(keys)}")
    rows = tuple(
        tuple(
            _unpack_cell(state_dict, _suffix(layer, d), bias)
            for d in range(2 if bidirectional else 1)
        )
        for layer in range(layers)
    )
    return StackParams(rows, bias=bias)


def gru_cell_to_torch(
    cell: GRUCellParams[np.ndarray], bias: bool = True, *, as_torch: bool = False, dtype: Any = None
) -> dict[str, Any]:
    """The state dict of an ``nn.GRUCell`` computing ``cell``."""
    return _maybe_torch(_pack_cell(cell, bias, ""), as_torch, dtype)


def gru_cell_from_torch(state_dict: Mapping[str, Any]) -> GRUCellParams[np.ndarray]:
    """Canonical parameters from an ``nn.GRUCell`` state dict."""
    return _unpack_cell(state_dict, "", "bias_ih" in state_dict)


def rnn_to_torch(params: RNNParams, *, as_torch: bool = False, dtype: Any = None) -> dict[str, Any]:
    """The state dict of an ``nn.RNN(nonlinearity='tanh')`` computing ``params``."""
    out: dict[str, np.ndarray] = {}
    for layer, row in enumerate(params.cells):
        for d, cell in enumerate(row):
            sfx = _suffix(layer, d)
            out[f"weight_ih{sfx}"] = cell.W_ih
            out[f"weight_hh{sfx}"] = cell.W_hh
            if params.bias:
                out[f"bias_ih{sfx}"] = cell.b_ih
                out[f"bias_hh{sfx}"] = cell.b_hh
    return _maybe_torch(out, as_torch, dtype)


def rnn_from_torch(state_dict: Mapping[str, Any]) -> RNNParams:
    """Canonical parameters from an ``nn.RNN`` state dict."""
    keys = set(state_dict)
    bias = "bias_ih_l0" in keys
    dirs = 2 if "weight_ih_l0_reverse" in keys else 1
    rows = []
    layer = 0
    while f"weight_ih_l{layer}" in keys:
        row = []
        for d in range(dirs):
            sfx = _suffix(layer, d)
            W_hh = _np(_get(state_dict, f"weight_hh{sfx}"))
            zeros = np.zeros(W_hh.shape[0])
            row.append(
                RNNCellParams(
                    W_ih=_np(_get(state_dict, f"weight_ih{sfx}")),
                    W_hh=W_hh,
                    b_ih=_np(_get(state_dict, f"bias_ih{sfx}")) if bias else zeros,
                    b_hh=_np(_get(state_dict, f"bias_hh{sfx}")) if bias else zeros,
                )
            )
        rows.append(tuple(row))
        layer += 1
    if not rows:
        raise LayoutError(f"no 'weight_ih_l0' in the state dict; keys are {sorted(keys)}")
    return StackParams(tuple(rows), bias=bias)


def torch_state_dict(module: Any) -> dict[str, Any]:
    """``module.state_dict()`` with every value detached (a convenience for the converters)."""
    return {k: v.detach() for k, v in module.state_dict().items()}
