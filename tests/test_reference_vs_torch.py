"""The numpy float64 reference against torch, forward and gradients, over ~30 random configurations.

Checked laws (float64 throughout; "rel-to-max" error is ``max|a - b| / max|b|``):

- ``gru_forward == torch.nn.GRU`` and ``rnn_forward == torch.nn.RNN(tanh)``: max abs error of the
  outputs and of ``h_n`` <= 1e-12 (measured about 1e-16), padded batches via
  ``pack_padded_sequence(enforce_sorted=False)`` then ``pad_packed_sequence(total_length=T)``;
- ``gru_cell_step == torch.nn.GRUCell``;
- ``gru_backward`` / ``rnn_backward`` == torch autograd of ``L = sum(d_out * output) +
  sum(d_hn * h_n)`` through nn.GRU / nn.RNN, for the input, the initial state and every parameter:
  rel-to-max error <= 1e-12;
- the numpy reference == ``gruverify.reference.torch_reference`` on CPU float64, both GRU variants and the
  RNN, forward (max abs <= 1e-12) and autograd gradients vs the analytic ones (rel-to-max <= 1e-12).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from gruverify.core.params import Variant, random_gru_params, random_rnn_params
from gruverify.layouts.torch_layout import (
    gru_cell_to_torch,
    gru_from_torch,
    gru_to_torch,
    rnn_from_torch,
    rnn_to_torch,
)
from gruverify.reference import numpy_reference as ref
from gruverify.reference.torch_reference import (
    gru_forward_torch,
    params_to_torch,
    rnn_forward_torch,
)

TOL = 1e-12


@dataclasses.dataclass(frozen=True)
class Config:
    layers: int
    bidirectional: bool
    bias: bool
    batch_first: bool
    batched: bool
    T: int
    B: int
    I: int
    H: int
    h0: bool
    lengths: bool

    def __str__(self) -> str:
        return (
            f"L{self.layers}{'bi' if self.bidirectional else 'uni'}"
            f"{'-nobias' if not self.bias else ''}{'-bf' if self.batch_first else ''}"
            f"{'-unbatched' if not self.batched else ''}-T{self.T}B{self.B}I{self.I}H{self.H}"
            f"{'-h0' if self.h0 else ''}{'-lens' if self.lengths else ''}"
        )


def _configs() -> list[Config]:
    fixed = [
        Config(1, False, True, False, True, 1, 1, 1, 1, False, False),  # T=1, I=H=1
        Config(1, True, True, False, True, 1, 3, 1, 1, True, True),  # T=1, all lengths 1
        Config(2, True, True, True, True, 101, 3, 7, 3, True, True),  # long, padded
        Config(3, True, False, False, True, 104, 2, 13, 17, True, False),  # long, no bias
        Config(1, False, True, False, False, 120, 1, 13, 17, True, False),  # long, unbatched
        Config(3, False, True, True, True, 9, 4, 7, 3, False, True),
        Config(2, True, False, True, False, 5, 1, 1, 1, False, False),
        Config(3, True, True, False, True, 6, 5, 13, 17, False, True),
    ]
    rng = np.random.default_rng(20240611)
    sizes = [1, 2, 3, 7, 13, 17]
    out = list(fixed)
    while len(out) < 30:
        batched = bool(rng.random() < 0.8)
        out.append(
            Config(
                layers=int(rng.integers(1, 4)),
                bidirectional=bool(rng.random() < 0.5),
                bias=bool(rng.random() < 0.75),
                batch_first=bool(rng.random() < 0.5),
                batched=batched,
                T=int(rng.choice([1, 2, 5, 9, 17])),
                B=int(rng.integers(1, 5)) if batched else 1,
                I=int(rng.choice(sizes)),
                H=int(rng.choice(sizes)),
                h0=bool(rng.random() < 0.5),
                lengths=batched and bool(rng.random() < 0.5),
            )
        )
    return out


CONFIGS = _configs()


@dataclasses.dataclass
class Case:
    cfg: Config
    x: np.ndarray
    h0: np.ndarray | None
    lengths: np.ndarray | None
    d_out: np.ndarray
    d_hn: np.ndarray


def _case(cfg: Config, seed: int) -> Case:
    rng = np.random.default_rng(seed)
    D = 2 if cfg.bidirectional else 1
    if not cfg.batched:
        x_shape: tuple[int, ...] = (cfg.T, cfg.I)
        h_shape: tuple[int, ...] = (cfg.layers * D, cfg.H)
        o_shape: tuple[int, ...] = (cfg.T, D * cfg.H)
    else:
        x_shape = (cfg.B, cfg.T, cfg.I) if cfg.batch_first else (cfg.T, cfg.B, cfg.I)
        h_shape = (cfg.layers * D, cfg.B, cfg.H)
        o_shape = (cfg.B, cfg.T, D * cfg.H) if cfg.batch_first else (cfg.T, cfg.B, D * cfg.H)
    lengths = None
    if cfg.lengths:
        lengths = rng.integers(1, cfg.T + 1, size=cfg.B)
    return Case(
        cfg,
        rng.standard_normal(x_shape),
        rng.standard_normal(h_shape) if cfg.h0 else None,
        lengths,
        rng.standard_normal(o_shape),
        rng.standard_normal(h_shape),
    )


def _t(a: np.ndarray | None, grad: bool = False) -> torch.Tensor | None:
    if a is None:
        return None
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _loss(case: Case, out: torch.Tensor, h_n: torch.Tensor) -> torch.Tensor:
    """``sum(d_out * output) + sum(d_hn * h_n)``."""
    d_out = torch.tensor(case.d_out, dtype=torch.float64)
    d_hn = torch.tensor(case.d_hn, dtype=torch.float64)
    return (out * d_out).sum() + (h_n * d_hn).sum()


def _run_module(module: torch.nn.Module, case: Case, grad: bool) -> tuple[Any, ...]:
    """Run nn.GRU / nn.RNN on the case; padded batches go through pack/pad with total_length=T."""
    x, h0 = _t(case.x, grad), _t(case.h0, grad)
    assert x is not None
    if case.lengths is not None:
        packed = pack_padded_sequence(
            x, torch.as_tensor(case.lengths), batch_first=case.cfg.batch_first, enforce_sorted=False
        )
        out_packed, h_n = module(packed, h0)
        out, _ = pad_packed_sequence(
            out_packed, batch_first=case.cfg.batch_first, total_length=case.cfg.T
        )
    else:
        out, h_n = module(x, h0)
    return out, h_n, x, h0


def _torch_module(kind: str, cfg: Config, params: Any) -> torch.nn.Module:
    cls = torch.nn.GRU if kind == "gru" else torch.nn.RNN
    module = cls(
        cfg.I,
        cfg.H,
        num_layers=cfg.layers,
        bias=cfg.bias,
        batch_first=cfg.batch_first,
        bidirectional=cfg.bidirectional,
        dtype=torch.float64,
    )
    to_torch = gru_to_torch if kind == "gru" else rnn_to_torch
    module.load_state_dict(to_torch(params, as_torch=True))
    return module


def _params(kind: str, cfg: Config, seed: int) -> Any:
    make = random_gru_params if kind == "gru" else random_rnn_params
    return make(cfg.I, cfg.H, cfg.layers, cfg.bidirectional, cfg.bias, rng=seed)


def _max_abs(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def _rel_to_max(a: Any, b: Any) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


@pytest.mark.parametrize("kind", ["gru", "rnn"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_forward_matches_torch_module(kind: str, cfg: Config) -> None:
    """``gru_forward`` / ``rnn_forward`` == nn.GRU / nn.RNN float64: max abs error <= 1e-12."""
    seed = CONFIGS.index(cfg)
    case = _case(cfg, seed)
    params = _params(kind, cfg, seed + 1000)
    forward = ref.gru_forward if kind == "gru" else ref.rnn_forward
    res = forward(params, case.x, case.h0, batch_first=cfg.batch_first, lengths=case.lengths)
    with torch.no_grad():
        out, h_n, _, _ = _run_module(_torch_module(kind, cfg, params), case, grad=False)
    e_out, e_hn = _max_abs(res.output, _np(out)), _max_abs(res.h_n, _np(h_n))
    assert res.output.shape == tuple(out.shape) and res.h_n.shape == tuple(h_n.shape)
    assert e_out <= TOL and e_hn <= TOL, (
        f"{kind} {cfg}: max abs error output {e_out:.3g}, h_n {e_hn:.3g}, tolerance {TOL}"
    )


@pytest.mark.parametrize("kind", ["gru", "rnn"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_gradients_match_torch_module_autograd(kind: str, cfg: Config) -> None:
    """Analytic BPTT == torch autograd through nn.GRU / nn.RNN for dx, dh0 and every parameter.

    ``L = sum(d_out * output) + sum(d_hn * h_n)``; rel-to-max error <= 1e-12 for each array.
    """
    seed = CONFIGS.index(cfg)
    case = _case(cfg, seed)
    params = _params(kind, cfg, seed + 2000)
    backward = ref.gru_backward if kind == "gru" else ref.rnn_backward
    g = backward(
        params, case.x, case.h0, case.d_out, case.d_hn,
        batch_first=cfg.batch_first, lengths=case.lengths,
    )  # fmt: skip
    module = _torch_module(kind, cfg, params)
    out, h_n, x, h0 = _run_module(module, case, grad=True)
    _loss(case, out, h_n).backward()
    errors = {"dx": _rel_to_max(g.dx, x.grad)}
    if h0 is not None:
        errors["dh0"] = _rel_to_max(g.dh0, h0.grad)
    from_torch = gru_from_torch if kind == "gru" else rnn_from_torch
    tgrads = from_torch({k: p.grad for k, p in module.named_parameters()})
    for (name, mine), (_, theirs) in zip(g.dparams.named(), tgrads.named(), strict=True):
        if cfg.bias or not name.split(".")[1].startswith("b_"):
            errors[name] = _rel_to_max(mine, theirs)
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] <= TOL, (
        f"{kind} {cfg}: worst rel-to-max gradient error {errors[worst]:.3g} at {worst}, "
        f"tolerance {TOL}"
    )


CELL_CASES = [(1, 1, 1, True), (3, 7, 3, True), (4, 13, 17, False), (2, 2, 5, True)]


@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize(("B", "I", "H", "bias"), CELL_CASES)
def test_cell_step_matches_gru_cell(B: int, I: int, H: int, bias: bool, unbatched: bool) -> None:
    """``gru_cell_step`` == nn.GRUCell float64 (reset-after): max abs error <= 1e-12."""
    rng = np.random.default_rng(B * 100 + I * 10 + H)
    cell = random_gru_params(I, H, bias=bias, rng=rng).cell(0)
    module = torch.nn.GRUCell(I, H, bias=bias, dtype=torch.float64)
    module.load_state_dict(gru_cell_to_torch(cell, bias, as_torch=True))
    x, h = rng.standard_normal((B, I)), rng.standard_normal((B, H))
    mine, _ = ref.gru_cell_step(cell, x, h)
    with torch.no_grad():
        if unbatched:
            theirs = np.stack([_np(module(_t(x[b]), _t(h[b]))) for b in range(B)])
        else:
            theirs = _np(module(_t(x), _t(h)))
    err = _max_abs(mine, theirs)
    assert err <= TOL, f"GRUCell B={B} I={I} H={H} bias={bias}: max abs error {err:.3g} > {TOL}"


def _torch_reference(kind: str, variant: Variant, params: Any, case: Case) -> Any:
    tparams = params_to_torch(params, requires_grad=True)
    x, h0 = _t(case.x, True), _t(case.h0, True)
    assert x is not None
    kw: dict[str, Any] = {"batch_first": case.cfg.batch_first, "lengths": case.lengths}
    if kind == "gru":
        out, h_n = gru_forward_torch(tparams, x, h0, variant=variant, **kw)
    else:
        out, h_n = rnn_forward_torch(tparams, x, h0, **kw)
    _loss(case, out, h_n).backward()
    return out, h_n, x, h0, tparams


# The python-loop autograd reference is slow: every other configuration, two of the long ones
# (T=101 padded bidirectional, T=120 unbatched), not the 3-layer bidirectional T=104.
TORCH_REF_CONFIGS = CONFIGS[:3] + CONFIGS[4:5] + CONFIGS[5::2]


@pytest.mark.parametrize(
    ("kind", "variant"), [("gru", "reset_after"), ("gru", "reset_before"), ("rnn", "reset_after")]
)
@pytest.mark.parametrize("cfg", TORCH_REF_CONFIGS, ids=str)
def test_numpy_reference_matches_torch_reference(kind: str, variant: Variant, cfg: Config) -> None:
    """numpy reference == gruverify.reference.torch_reference (CPU float64): forward max abs <= 1e-12 and
    autograd gradients (dx, dh0, every parameter) vs analytic rel-to-max <= 1e-12."""
    seed = CONFIGS.index(cfg)
    case = _case(cfg, seed + 500)
    params = _params(kind, cfg, seed + 3000)
    kw: dict[str, Any] = {"batch_first": cfg.batch_first, "lengths": case.lengths}
    if kind == "gru":
        g = ref.gru_backward(params, case.x, case.h0, case.d_out, case.d_hn, variant=variant, **kw)
    else:
        g = ref.rnn_backward(params, case.x, case.h0, case.d_out, case.d_hn, **kw)
    out, h_n, x, h0, tparams = _torch_reference(kind, variant, params, case)
    e_out, e_hn = _max_abs(g.forward.output, _np(out)), _max_abs(g.forward.h_n, _np(h_n))
    assert e_out <= TOL and e_hn <= TOL, (
        f"{kind} {variant} {cfg}: forward max abs error output {e_out:.3g}, h_n {e_hn:.3g}"
    )
    errors = {"dx": _rel_to_max(g.dx, x.grad)}
    if h0 is not None:
        errors["dh0"] = _rel_to_max(g.dh0, h0.grad)
    for (name, mine), (_, theirs) in zip(g.dparams.named(), tparams.named(), strict=True):
        errors[name] = _rel_to_max(mine, theirs.grad)
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] <= TOL, (
        f"{kind} {variant} {cfg}: worst rel-to-max gradient error {errors[worst]:.3g} at {worst}, "
        f"tolerance {TOL}"
    )
