"""The checker's cases: ``gruverify.strategies`` configurations restricted to what a target supports.

A ``CheckCase`` is a ``strategies.Config`` (layers, directions, bias, layout, sizes, initial state,
padding), a parameter kind (ordinary, large, saturating, chrono), an input kind (ordinary, large,
zeros) and a seed; ``CheckCase.problem()`` builds the ``Problem`` deterministically with
``strategies.make_case``, so hypothesis shrinks cases towards the smallest configuration, ordinary
parameters and seed 0, and the case itself is the counterexample. Biases are random and nonzero
(a dropped ``b_hn`` shows). By default the checker keeps examples cheap: at most 9 steps, sizes
up to 9, batch up to 4 (``Sizes()``); a long-sequence check (``LONG_STEPS``: 33 to 130 steps, past
the chunk boundaries at 32, 64 and 128, at the same small sizes) carries state across chunk
boundaries in every run. ``Sizes(hidden=, steps=, batch=)`` (``--max-hidden``, ``--max-steps``,
``--max-batch``) raises the limits: input and hidden sizes up to ``hidden``, lengths up to
``steps``, batches up to ``batch``, drawn where kernels change path
(``strategies.sized_configs``: tile multiples and one either side, powers of two in time and one
past, the maximum itself).

A target that fixes its weights (``fixed_params``: a model file's GRU,
``gruverify.targets.model_files``) gets cases with those weights: the configuration's sizes, layers,
directions and bias are theirs (``pin_fixed``), everything else (steps, batch, layout, lengths,
initial state, input kind, seed) is drawn as usual, and a check whose pinned features the weights
contradict does not run (``fixed_conflict``).

``check_cases(capabilities, forced)`` draws only features the target supports; ``forced`` pins
features on or off (e.g. ``{"bidirectional": True}``; the names: ``core.features.CASE_SWITCHES``).
A ``CheckCase`` is not a ``strategies.Case`` (a built problem with its labels, for the property
suite): it is the recipe, which hypothesis shrinks.

A ``Pinned`` case is one a check runs every time, whatever the seed (hypothesis' explicit phase):
the configuration that exposes a bug a random draw may miss (three layers for a middle-layer
gradient, a short sequence in a bidirectional padded batch, an initial state of exactly +-1).
``Pinned.case(capabilities, forced)`` adapts it to the target (features it lacks switched off,
the check's pinned features set) and the case may fix ``lengths`` and ``|h0|`` (``h0_fill``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from gruverify.core.features import CASE_SWITCHES
from gruverify.core.params import GRUParams, StackParams
from gruverify.core.problem import Capabilities, Problem
from gruverify.strategies import (
    INPUT_KINDS,
    PARAM_KINDS,
    Config,
    InputKind,
    ParamKind,
    configs,
    make_case,
    sized_configs,
)

__all__ = [
    "LONG_STEPS",
    "MAX_BATCH",
    "MAX_SIZE",
    "MAX_STEPS",
    "SWITCHES",
    "CheckCase",
    "Pinned",
    "Sizes",
    "check_cases",
    "fixed_conflict",
    "fixed_params_of",
    "pin_fixed",
]

SWITCHES = CASE_SWITCHES
"""Features a case can switch on; each is drawn only if the target supports it."""

MAX_STEPS, MAX_SIZE, MAX_BATCH = 9, 9, 4

LONG_STEPS = (33, 130)
"""The step range of a long-sequence check by default: past the chunk boundaries at 32, 64, 128."""


@dataclasses.dataclass(frozen=True)
class Sizes:
    """The largest sizes the checker draws: ``hidden`` (input and hidden sizes), ``steps`` and
    ``batch``; None keeps the default (``MAX_SIZE``, ``MAX_STEPS``, ``MAX_BATCH``)."""

    hidden: int | None = None
    steps: int | None = None
    batch: int | None = None

    def __post_init__(self) -> None:
        for name in ("hidden", "steps", "batch"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"max_{name} must be a positive integer, got {v!r}")

    @property
    def max_hidden(self) -> int:
        return MAX_SIZE if self.hidden is None else self.hidden

    @property
    def max_steps(self) -> int:
        return MAX_STEPS if self.steps is None else self.steps

    @property
    def max_batch(self) -> int:
        return MAX_BATCH if self.batch is None else self.batch

    @property
    def scaled(self) -> bool:
        """Whether any limit exceeds the default: draws then favour kernel path changes."""
        return (
            self.max_hidden > MAX_SIZE or self.max_steps > MAX_STEPS or self.max_batch > MAX_BATCH
        )

    def long_steps(self) -> tuple[int, int] | None:
        """The step range of a long-sequence check: ``LONG_STEPS``, up to ``steps`` when that is
        larger; None when ``steps`` was set below its start (the user's GRU takes no more)."""
        lo, hi = LONG_STEPS
        if self.steps is not None and self.steps < lo:
            return None
        return lo, max(hi, self.max_steps)

    def long_pinned_steps(self) -> int | None:
        """The length of a long-sequence check's pinned case: one past the largest power of two
        ``2^k`` with ``2^k + 1 <= max(LONG_STEPS[0], steps)`` (33 by default, 129 at
        ``--max-steps 200``, 513 at 1000: past the boundary of a time tile or chunk of ``2^k``
        steps); None when ``steps`` was set below ``LONG_STEPS[0]`` (as ``long_steps``)."""
        if self.long_steps() is None:
            return None
        top = max(LONG_STEPS[0], self.max_steps)
        return _past_power_of_two(top)

    def options(self) -> list[str]:
        """The command-line options that give these sizes (none for the defaults)."""
        out = []
        for name, v in (("hidden", self.hidden), ("steps", self.steps), ("batch", self.batch)):
            if v is not None:
                out += [f"--max-{name}", str(v)]
        return out

    def describe(self) -> str:
        return f"hidden <= {self.max_hidden}, steps <= {self.max_steps}, batch <= {self.max_batch}"


def _past_power_of_two(top: int) -> int:
    """``2^k + 1`` for the largest ``k`` with ``2^k + 1 <= top`` (``top >= 2``)."""
    k = (top - 1).bit_length() - 1
    return (1 << k) + 1


@dataclasses.dataclass(frozen=True)
class CheckCase:
    """One drawn configuration; ``problem()`` builds its data from ``seed``.

    ``lengths`` (a padded batch) replaces the drawn lengths; ``h0_fill`` sets every entry of the
    initial state to ``+-h0_fill`` (the drawn signs) instead of scaling it by ``h0_scale``.
    """

    config: Config
    param_kind: ParamKind
    input_kind: InputKind
    seed: int
    h0_scale: float = 1.0
    lengths: tuple[int, ...] | None = None
    h0_fill: float | None = None
    fixed: GRUParams | None = dataclasses.field(default=None, compare=False, repr=False)
    """Weights fixed by the target (``fixed_params``): the problem's parameters, whatever
    ``param_kind`` draws (the configuration is pinned to their shapes, ``pin_fixed``)."""

    def problem(self) -> Problem:
        p = make_case(self.config, self.param_kind, self.input_kind, self.seed).problem
        if self.fixed is not None:
            p = dataclasses.replace(p, params=self.fixed)
        if p.h0 is not None and self.h0_fill is not None:
            p = dataclasses.replace(p, h0=np.where(p.h0 < 0, -self.h0_fill, self.h0_fill))
        elif p.h0 is not None and self.h0_scale != 1.0:
            p = dataclasses.replace(p, h0=p.h0 * self.h0_scale)
        if p.lengths is not None and self.lengths is not None:
            p = dataclasses.replace(p, lengths=np.asarray(self.lengths, dtype=np.int64))
        return p

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dataclasses.asdict(self.config)
        d.update(param_kind=self.param_kind, input_kind=self.input_kind, seed=self.seed)
        d["h0_scale"] = self.h0_scale
        if self.lengths is not None:
            d["lengths"] = list(self.lengths)
        if self.h0_fill is not None:
            d["h0_fill"] = self.h0_fill
        if self.fixed is not None:
            d["param_kind"] = f"fixed (digest {self.fixed.digest()[:12]})"
        return d

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())


def _on(feature: str, caps: Capabilities, forced: Mapping[str, bool]) -> bool | None:
    """True / False when pinned (by ``forced`` or by a missing feature), None when drawn."""
    if feature in forced:
        return forced[feature]
    return None if caps.supports(feature) else False


@st.composite
def _cases(
    draw: Any,
    caps: Capabilities,
    forced: Mapping[str, bool],
    min_steps: int,
    min_batch: int,
    big_h0: bool,
    sizes: Sizes,
    steps: tuple[int, int] | None,
    fixed: GRUParams | None,
) -> CheckCase:
    multi = _on("multilayer", caps, forced)
    bias_false = _on("bias_false", caps, forced)
    unbatched = _on("unbatched", caps, forced)
    batch_first = _on("batch_first", caps, forced)
    lengths = _on("lengths", caps, forced)
    h0 = _on("initial_state", caps, forced)
    if min_batch > 1 or lengths or batch_first:
        unbatched = False
    lo, hi = steps or (min(min_steps, sizes.max_steps), sizes.max_steps)
    switches = dict(
        max_layers=1 if multi is False else 3, min_layers=2 if multi else 1,
        bidirectional=_on("bidirectional", caps, forced), unbatched=unbatched is None,
        batch_first=batch_first is None, padded=lengths is None,
        always_padded=bool(lengths), no_bias=bias_false is None, none_h0=h0 is None,
    )  # fmt: skip
    if sizes.scaled or steps is not None:  # a long-sequence check draws like production sizes
        strategy = sized_configs(
            max_steps=hi, min_steps=lo, max_batch=sizes.max_batch, max_size=sizes.max_hidden,
            **switches,  # type: ignore[arg-type]
        )  # fmt: skip
    else:
        strategy = configs(
            max_steps=hi, min_steps=lo, max_batch=sizes.max_batch, max_size=sizes.max_hidden,
            work=4 * max(MAX_STEPS, lo), **switches,  # type: ignore[arg-type]
        )  # fmt: skip
    cfg: Config = draw(strategy)
    changes: dict[str, Any] = {}
    if unbatched:
        changes.update(batch=None, batch_first=False, padded=False)
    elif cfg.batch is not None and cfg.batch < min_batch:
        changes["batch"] = min_batch
    if batch_first:
        changes["batch_first"] = True
    if bias_false is not None:
        changes["bias"] = not bias_false
    if h0 is not None:
        changes["initial_state"] = h0
    cfg = pin_fixed(dataclasses.replace(cfg, **changes), fixed)
    param_kind = draw(st.sampled_from(PARAM_KINDS))
    if cfg.bias is False and param_kind in ("saturating", "chrono"):
        param_kind = "large"  # both set biases: without biases they would mean bias=True
    input_kind = draw(st.sampled_from(INPUT_KINDS))
    h0_scale = draw(st.sampled_from([1.0, 3.0])) if big_h0 and cfg.initial_state else 1.0
    seed = draw(st.integers(0, 2**32 - 1))
    return CheckCase(cfg, param_kind, input_kind, seed, h0_scale, fixed=fixed)


def check_cases(
    capabilities: Capabilities,
    forced: Mapping[str, bool] | None = None,
    *,
    min_steps: int = 1,
    min_batch: int = 1,
    big_h0: bool = False,
    sizes: Sizes | None = None,
    steps: tuple[int, int] | None = None,
    fixed: GRUParams | None = None,
) -> st.SearchStrategy[CheckCase]:
    """Cases using only supported features; ``forced`` pins features (see ``SWITCHES``);
    ``sizes`` the largest sizes (default ``Sizes()``); ``steps`` a check's own range of lengths
    (a long-sequence check's ``Sizes.long_steps()``) instead of ``min_steps`` to ``sizes.steps``;
    ``fixed`` the target's fixed weights (``pin_fixed``: their shapes win over ``forced``)."""
    forced = dict(forced or {})
    unknown = set(forced) - set(SWITCHES)
    if unknown:
        raise ValueError(f"unknown case features {sorted(unknown)}; known: {SWITCHES}")
    if forced.get("unbatched") and (forced.get("lengths") or forced.get("batch_first")):
        raise ValueError("an unbatched case has neither lengths nor batch_first")
    return _cases(
        capabilities, forced, min_steps, min_batch, big_h0, sizes or Sizes(), steps, fixed
    )


def fixed_params_of(impl: Any) -> GRUParams | None:
    """The weights a target fixes (its ``fixed_params``: a model file's GRU), or None: drawn."""
    fixed = getattr(impl, "fixed_params", None)
    return fixed if isinstance(fixed, StackParams) else None


def pin_fixed(config: Config, fixed: GRUParams | None) -> Config:
    """``config`` with the sizes, layers, directions and bias of ``fixed`` weights (unchanged
    when None): the shapes of a case whose parameters are fixed."""
    if fixed is None:
        return config
    return dataclasses.replace(
        config, input_size=fixed.input_size, hidden_size=fixed.hidden_size,
        num_layers=fixed.num_layers, bidirectional=fixed.bidirectional, bias=fixed.bias,
    )  # fmt: skip


def fixed_conflict(
    fixed: GRUParams, forced: Mapping[str, bool], required: tuple[str, ...], forward: bool
) -> str | None:
    """Why a check cannot run on ``fixed`` weights: a feature it ``forced`` that the weights
    decide otherwise (their directions, biases, layers). A forward-equivalence check
    (``forward``) runs with the weights' configuration instead, unless it ``required`` the
    feature; None: no conflict."""
    has = {
        "bidirectional": fixed.bidirectional,
        "bias_false": not fixed.bias,
        "multilayer": fixed.num_layers > 1,
    }
    phrases = {
        "bidirectional": ("one direction", "two directions"),
        "bias_false": ("biases", "no biases"),
        "multilayer": ("one layer", f"{fixed.num_layers} layers"),
    }
    for feature, on in forced.items():
        if feature in has and has[feature] != on and (feature in required or not forward):
            return f"its GRU has {phrases[feature][has[feature]]}"
    return None


@dataclasses.dataclass(frozen=True)
class Pinned:
    """A case a check runs under every seed, before the drawn ones (see the module docstring).

    ``why`` says which defect it is there for.
    """

    config: Config
    why: str
    param_kind: ParamKind = "ordinary"
    input_kind: InputKind = "ordinary"
    seed: int = 0
    lengths: tuple[int, ...] | None = None
    h0_fill: float | None = None

    def case(
        self,
        capabilities: Capabilities,
        forced: Mapping[str, bool] | None = None,
        *,
        min_steps: int = 1,
        min_batch: int = 1,
        fixed: GRUParams | None = None,
    ) -> CheckCase:
        """The pinned case for a target with ``capabilities`` under a check's ``forced`` features:
        each feature is on when ``forced`` says so, else when the pinned configuration has it and
        the target supports it; at least ``min_steps`` steps and a batch of ``min_batch``; the
        shapes of ``fixed`` weights when the target fixes them (``pin_fixed``)."""
        forced = dict(forced or {})
        c = self.config

        def on(feature: str, has: bool) -> bool:
            return forced[feature] if feature in forced else has and capabilities.supports(feature)

        unbatched = on("unbatched", c.batch is None) and not (
            min_batch > 1 or forced.get("lengths") or forced.get("batch_first")
        )
        batch = None if unbatched else max(c.batch or 1, min_batch)
        lengths = not unbatched and on("lengths", c.padded)
        steps = max(c.steps, min_steps)
        layers = max(c.num_layers, 2) if on("multilayer", c.num_layers > 1) else 1
        cfg = dataclasses.replace(
            c, steps=steps, batch=batch, num_layers=layers,
            bidirectional=on("bidirectional", c.bidirectional), bias=not on("bias_false", not c.bias),
            batch_first=not unbatched and on("batch_first", c.batch_first),
            initial_state=on("initial_state", c.initial_state), padded=lengths,
        )  # fmt: skip
        cfg = pin_fixed(cfg, fixed)
        given = self.lengths
        if given is not None and (not lengths or len(given) != batch or max(given) > steps):
            given = None  # the configuration changed under it: the drawn lengths
        return CheckCase(
            cfg, self.param_kind, self.input_kind, self.seed, 1.0, given, self.h0_fill, fixed
        )
