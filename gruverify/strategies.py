"""Hypothesis strategies for GRU problems: configurations, parameters, inputs, dtypes and devices.

They aim at the corners where kernels break (docs/real-bugs.md): sequence length 1 and
lengths past 100, batch 1 and more, input and hidden sizes of 1, odd sizes and sizes that are not
multiples of 8, input size != hidden size, 1 to 3 layers, both directions, batch-first and unbatched
calls, padded batches with per-sequence lengths, no bias, ``h0`` given or ``None``; parameters that
are ordinary (torch's ``U(-1/sqrt(H), 1/sqrt(H))``), large, saturating (biases far beyond the
float32 and float64 gate rounding thresholds, both signs) and chrono initialised; inputs that are
ordinary, large (up to about 1e4) or zero.

At production sizes (``sized_configs``, the checker's ``--max-hidden / --max-steps / --max-batch``)
draws favour the sizes where kernels change path (``TILES``): hidden and input sizes and batches at
a multiple of 8, 16, 32, 64 or 128 and one either side (``path_sizes``), sequence lengths at a power
of two and one past it (``path_steps``), and the maximum itself; an example's cost
``T * B * H * (I + H)`` per layer and direction is capped (``work``) by dropping layers and
directions first, so the largest sizes occur with one layer.

Every strategy generates valid cases directly (nothing is filtered). Random arrays come from a numpy
generator seeded by a drawn integer, so a counterexample is reproducible from its printed seed and
shrinks towards small configurations and seed 0. ``cases()`` gives a ``Case`` (the problem plus the
labels it was drawn with, for counterexample notes); ``problems()`` gives the bare ``Problem``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from hypothesis import note
from hypothesis import strategies as st

from gruverify.core.devices import available_devices
from gruverify.core.dtypes import DTYPES
from gruverify.core.params import (
    VARIANTS,
    GRUCellParams,
    GRUParams,
    StackParams,
    Variant,
    random_gru_params,
)
from gruverify.core.problem import Problem

__all__ = [
    "INPUT_KINDS",
    "PARAM_KINDS",
    "TILES",
    "Case",
    "Config",
    "InputKind",
    "ParamKind",
    "carry_cases",
    "cases",
    "configs",
    "devices",
    "dtypes",
    "make_case",
    "path_sizes",
    "path_steps",
    "problems",
    "seeds",
    "sized_configs",
    "sizes",
    "steps",
    "params_of_kind",
    "variants",
    "with_update_bias",
]

ParamKind = Literal["ordinary", "large", "saturating", "chrono"]
InputKind = Literal["ordinary", "large", "zeros"]
PARAM_KINDS: tuple[ParamKind, ...] = ("ordinary", "large", "saturating", "chrono")
INPUT_KINDS: tuple[InputKind, ...] = ("ordinary", "large", "zeros")

# sizes where kernels break: 1, odd, just off a multiple of 8, and a few multiples of 8
_SPECIAL_SIZES = (1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 33)
_SPECIAL_STEPS = (1, 2, 3, 7, 8, 9, 17, 31, 33, 64, 101, 127, 130)

TILES = (8, 16, 32, 64, 128)
"""Tile widths where kernels change path: hidden-unit tiles, batch blocks (multiples of these and
one either side are favoured by ``path_sizes``)."""


@dataclasses.dataclass(frozen=True)
class Config:
    """The shape of one call. ``batch`` None is an unbatched ``(T, I)`` call."""

    steps: int
    batch: int | None
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    batch_first: bool = False
    initial_state: bool = True
    padded: bool = False

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1


@dataclasses.dataclass(frozen=True)
class Case:
    """A drawn problem and the labels it was drawn with."""

    problem: Problem
    config: Config
    param_kind: ParamKind
    input_kind: InputKind
    seed: int

    def describe(self) -> str:
        return (
            f"{self.problem.describe()}; params={self.param_kind}, inputs={self.input_kind}, "
            f"seed={self.seed}"
        )


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**32 - 1)


def sizes(max_size: int = 33, min_size: int = 1) -> st.SearchStrategy[int]:
    """Sizes from ``min_size`` to ``max_size``, favouring 1, odd numbers and near-multiples of 8."""
    special = [s for s in _SPECIAL_SIZES if min_size <= s <= max_size]
    rest = st.integers(min_size, max_size)
    return st.one_of(st.sampled_from(special), rest) if special else rest


def steps(max_steps: int = 130, min_steps: int = 1) -> st.SearchStrategy[int]:
    """Sequence lengths: mostly short, some medium, some past 100 (when ``max_steps`` allows)."""
    special = [s for s in _SPECIAL_STEPS if min_steps <= s <= max_steps]
    parts = [st.integers(min_steps, min(max_steps, 12))] if min_steps <= 12 else []
    if special:
        parts.append(st.sampled_from(special))
    parts.append(st.integers(min_steps, max_steps))
    return st.one_of(*parts)


def _clamped(values: list[int], lo: int, hi: int) -> list[int]:
    return sorted({v for v in values if lo <= v <= hi})


@st.composite
def _tile_boundary(draw: st.DrawFn, lo: int, hi: int) -> int:
    """A multiple of a tile width of ``TILES`` or one either side, within ``[lo, hi]``: the tile
    first (each equally likely, so 128-unit tiles are as common as 8-unit ones), then the
    multiple, then the offset (shrinks towards the smallest tile, its first multiple, exactly)."""
    tiles = [t for t in TILES if t - 1 <= hi]
    tile = draw(st.sampled_from(tiles))
    m = draw(st.integers(1, max(1, (hi + 1) // tile)))
    v = m * tile + draw(st.sampled_from((0, -1, 1)))
    return min(hi, max(lo, v))


def path_sizes(max_size: int, min_size: int = 1) -> st.SearchStrategy[int]:
    """Sizes from ``min_size`` to ``max_size`` where kernels change path: a multiple of 8, 16, 32,
    64 or 128 or one either side (``TILES``; two draws in five), the maximum itself (one in
    five), the small corner cases of ``sizes``, or any size in range."""
    small = _clamped(list(_SPECIAL_SIZES[:5]), min_size, max_size)
    parts: list[st.SearchStrategy[int]] = [st.sampled_from(small)] if small else []
    if max_size >= TILES[0] - 1:
        parts += [_tile_boundary(min_size, max_size) for _ in range(2)]
    parts += [st.just(max_size), st.integers(min_size, max_size)]
    return st.one_of(*parts)


def path_steps(max_steps: int, min_steps: int = 1) -> st.SearchStrategy[int]:
    """Sequence lengths from ``min_steps`` to ``max_steps`` where kernels change path: a power of
    two and one past it (time split into chunks of 2^k; two draws in six), the largest power of
    two in range or one past it (one in six: the longest chunk boundary, which a run's few draws
    among all the powers would often miss), the maximum itself (one in six), a short sequence,
    or any length in range."""
    marks: list[int] = []
    k = 1
    while k <= max_steps:
        marks += [k, k + 1]
        k *= 2
    special = _clamped(marks, min_steps, max_steps)
    parts = [st.sampled_from(special) for _ in range(2)] if special else []
    top = _clamped(marks[-4:], min_steps, max_steps)[-2:]  # 2^K and 2^K + 1 (or 2^K - 1, 2^K)
    if len(top) == 2 and top[0] > 12:
        parts.append(st.sampled_from(top))
    if min_steps <= 12:
        parts.append(st.integers(min_steps, min(max_steps, 12)))
    parts += [st.just(max_steps), st.integers(min_steps, max_steps)]
    return st.one_of(*parts)


def variants() -> st.SearchStrategy[Variant]:
    return st.sampled_from(VARIANTS)


def dtypes(include: tuple[str, ...] = DTYPES) -> st.SearchStrategy[str]:
    return st.sampled_from(include)


def devices() -> st.SearchStrategy[str]:
    """``"cpu"``, and ``"cuda"`` when torch sees a CUDA device."""
    return st.sampled_from(available_devices())


@st.composite
def configs(
    draw: st.DrawFn,
    *,
    max_steps: int = 130,
    min_steps: int = 1,
    max_batch: int = 5,
    max_size: int = 33,
    max_layers: int = 3,
    bidirectional: bool | None = None,
    unbatched: bool = True,
    batch_first: bool = True,
    padded: bool = True,
    no_bias: bool = True,
    none_h0: bool = True,
    work: int = 400,
    min_layers: int = 1,
    always_padded: bool = False,
    min_hidden: int = 1,
) -> Config:
    """Call configurations. ``work`` caps ``steps * layers * directions`` (long sequences get
    fewer layers, never fewer than ``min_layers``) so a single example stays cheap;
    ``bidirectional`` None draws both; ``always_padded`` gives batched calls with lengths."""
    T = draw(steps(max_steps, min_steps))
    bi = draw(st.booleans()) if bidirectional is None else bidirectional
    dirs = 2 if bi else 1
    layer_cap = max(min_layers, min(max_layers, work // (T * dirs)))
    L = draw(st.integers(min_layers, layer_cap))
    is_batched = draw(st.booleans()) if (unbatched and not always_padded) else True
    if is_batched:
        B: int | None = draw(st.one_of(st.just(1), st.integers(1, max_batch)))
    else:
        B = None
    return Config(
        steps=T,
        batch=B,
        input_size=draw(sizes(max_size)),
        hidden_size=draw(sizes(max_size, min_hidden)),
        num_layers=L,
        bidirectional=bi,
        **_draw_flags(draw, B, no_bias, batch_first, none_h0, padded, always_padded),
    )


def _draw_flags(
    draw: st.DrawFn,
    batch: int | None,
    no_bias: bool,
    batch_first: bool,
    none_h0: bool,
    padded: bool,
    always_padded: bool,
) -> dict[str, bool]:
    """The flags ``configs`` and ``sized_configs`` draw last, each only where allowed (batch-first
    and lengths need a batch axis), in this order: the order is part of what a seed draws."""
    return {
        "bias": draw(st.booleans()) if no_bias else True,
        "batch_first": draw(st.booleans()) if (batch_first and batch is not None) else False,
        "initial_state": draw(st.booleans()) if none_h0 else True,
        "padded": always_padded
        or (draw(st.booleans()) if (padded and batch is not None) else False),
    }


@st.composite
def sized_configs(
    draw: st.DrawFn,
    *,
    max_steps: int,
    max_batch: int,
    max_size: int,
    min_steps: int = 1,
    max_layers: int = 3,
    bidirectional: bool | None = None,
    unbatched: bool = True,
    batch_first: bool = True,
    padded: bool = True,
    no_bias: bool = True,
    none_h0: bool = True,
    work: int | None = None,
    min_layers: int = 1,
    always_padded: bool = False,
    min_hidden: int = 1,
) -> Config:
    """Call configurations at production sizes (module docstring): the arguments of ``configs``,
    with sizes, batches and lengths drawn by ``path_sizes`` and ``path_steps``. ``work`` caps
    ``T * B * H * (I + H) * layers * directions`` (default: one layer and direction at the largest
    sizes) and the states ``T * B * H * layers * directions`` stay within one layer's at the
    largest sizes (the memory of a check); past either an example keeps one direction and
    ``min_layers`` layers, so the largest sizes are drawn with one layer."""
    T = draw(path_steps(max_steps, min_steps))
    is_batched = draw(st.booleans()) if (unbatched and not always_padded) else True
    B: int | None = draw(path_sizes(max_batch)) if is_batched else None
    H = draw(path_sizes(max_size, min_hidden))
    I = draw(path_sizes(max_size))
    budget = work if work is not None else max_steps * max_batch * max_size * 2 * max_size
    states = max_steps * max_batch * max_size  # memory: the states of one layer at the maximum
    one, mem = T * (B or 1) * H * (I + H), T * (B or 1) * H
    bi = draw(st.booleans()) if bidirectional is None else bidirectional
    if bidirectional is None and bi and (2 * one > budget or 2 * mem > states):
        bi = False
    dirs = 2 if bi else 1
    cap = min(budget // max(1, one * dirs), states // max(1, mem * dirs))
    layer_cap = max(min_layers, min(max_layers, cap))
    L = draw(st.integers(min_layers, layer_cap))
    return Config(
        steps=T,
        batch=B,
        input_size=I,
        hidden_size=H,
        num_layers=L,
        bidirectional=bi,
        **_draw_flags(draw, B, no_bias, batch_first, none_h0, padded, always_padded),
    )


def params_of_kind(
    config: Config, kind: ParamKind, rng: np.random.Generator, *, scale: float | None = None
) -> GRUParams:
    """GRU parameters of ``kind`` (ordinary, large, saturating, chrono; see the module docstring)
    for the sizes of ``config``."""
    H = config.hidden_size
    common = dict(
        input_size=config.input_size, hidden_size=H, num_layers=config.num_layers,
        bidirectional=config.bidirectional, bias=config.bias, rng=rng,
    )  # fmt: skip
    if kind == "ordinary":
        return random_gru_params(**common, scale=scale)  # type: ignore[arg-type]
    if kind == "large":
        s = float(rng.uniform(1.0, 4.0)) if scale is None else scale
        return random_gru_params(**common, scale=s, bias_scale=s)  # type: ignore[arg-type]
    if kind == "chrono":
        tmax = float(np.exp(rng.uniform(np.log(3.0), np.log(1000.0))))
        return random_gru_params(**common, scale=scale, chrono_tmax=tmax)  # type: ignore[arg-type]
    if kind == "saturating":
        base = random_gru_params(**common, scale=scale)  # type: ignore[arg-type]

        def saturate(cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
            # biases of both signs, beyond the float32 (16.6 / 10.0) and float64 (36.7 / 19.0)
            # rounding thresholds of sigmoid / tanh, or just below them
            def big() -> np.ndarray:
                mag = rng.uniform(8.0, 60.0, size=H)
                return mag * rng.choice([-1.0, 1.0], size=H)  # type: ignore[no-any-return]

            return cell.replace(b_ir=big(), b_iz=big(), b_in=big())

        return StackParams(tuple(tuple(saturate(c) for c in row) for row in base.cells), bias=True)
    raise ValueError(f"unknown parameter kind {kind!r}; expected one of {PARAM_KINDS}")


def _inputs(shape: tuple[int, ...], kind: InputKind, rng: np.random.Generator) -> np.ndarray:
    if kind == "zeros":
        return np.zeros(shape)
    x = rng.standard_normal(shape)
    if kind == "large":
        # magnitudes from about 10 to about 1e4, per feature
        x = x * 10.0 ** rng.uniform(1.0, 4.0, size=shape[-1])
    elif kind != "ordinary":
        raise ValueError(f"unknown input kind {kind!r}; expected one of {INPUT_KINDS}")
    return x  # type: ignore[no-any-return]


def make_case(
    config: Config,
    param_kind: ParamKind,
    input_kind: InputKind,
    seed: int,
    *,
    scale: float | None = None,
) -> Case:
    """The deterministic problem for a configuration, kinds and seed."""
    rng = np.random.default_rng(seed)
    params = params_of_kind(config, param_kind, rng, scale=scale)
    T, I, H = config.steps, config.input_size, config.hidden_size
    LD = config.num_layers * config.num_directions
    if config.batch is None:
        x_shape: tuple[int, ...] = (T, I)
        h_shape: tuple[int, ...] = (LD, H)
    else:
        B = config.batch
        x_shape = (B, T, I) if config.batch_first else (T, B, I)
        h_shape = (LD, B, H)
    x = _inputs(x_shape, input_kind, rng)
    h0 = rng.uniform(-1.0, 1.0, size=h_shape) if config.initial_state else None
    lengths = None
    if config.padded and config.batch is not None:
        lengths = rng.integers(1, T + 1, size=config.batch)
    problem = Problem(params, x, h0, config.batch_first, lengths)
    return Case(problem, config, param_kind, input_kind, seed)


@st.composite
def cases(
    draw: st.DrawFn,
    config: st.SearchStrategy[Config] | None = None,
    param_kinds: st.SearchStrategy[ParamKind] | None = None,
    input_kinds: st.SearchStrategy[InputKind] | None = None,
) -> Case:
    """A ``Case``: configuration, parameter kind, input kind and seed drawn, problem built."""
    cfg = draw(configs() if config is None else config)
    pk = draw(st.sampled_from(PARAM_KINDS) if param_kinds is None else param_kinds)
    ik = draw(st.sampled_from(INPUT_KINDS) if input_kinds is None else input_kinds)
    case = make_case(cfg, pk, ik, draw(seeds()))
    note(f"case: {case.describe()}")
    return case


def problems(
    config: st.SearchStrategy[Config] | None = None,
    param_kinds: st.SearchStrategy[ParamKind] | None = None,
    input_kinds: st.SearchStrategy[InputKind] | None = None,
) -> st.SearchStrategy[Problem]:
    """Problems drawn as in ``cases`` (the case description goes to ``note()``)."""
    return cases(config, param_kinds, input_kinds).map(lambda c: c.problem)


def with_update_bias(problem: Problem, offset: float) -> Problem:
    """``problem`` with ``offset`` added to every ``b_iz``: large positive offsets drive the update
    gate towards 1 (torch's carry-over regime; the course's ``G_u -> 0``)."""
    rows = tuple(
        tuple(c.replace(b_iz=c.b_iz + offset) for c in row) for row in problem.params.cells
    )
    return dataclasses.replace(problem, params=StackParams(rows, bias=True))


@st.composite
def carry_cases(
    draw: st.DrawFn, config: st.SearchStrategy[Config] | None = None, max_offset: float = 40.0
) -> Case:
    """Cases whose update gates are pushed towards carrying: ``b_iz`` raised by 0 to
    ``max_offset`` (log-uniformly spread, so both the loose and the tight regime occur)."""
    case = draw(cases(config))
    offset = draw(
        st.sampled_from([0.0, 2.0, 5.0, 10.0, 20.0, max_offset]) | st.floats(0, max_offset)
    )
    note(f"update-gate bias offset: {offset}")
    return dataclasses.replace(case, problem=with_update_bias(case.problem, offset))
