"""Hypothesis strategies for the checker's cases: small GRU configurations and their data.

A ``Case`` is a configuration (layers, directions, bias, layout, sizes, initial state, lengths)
plus an integer seed for the weights and data; ``Case.problem()`` builds the ``Problem``
deterministically from it, so hypothesis shrinks cases towards the smallest configuration and the
case itself is the counterexample. Weights and biases are uniform in ``[-1/sqrt(H), 1/sqrt(H)]``
(torch's initialisation; the biases are nonzero, so a dropped ``b_hn`` shows), inputs standard
normal, initial states uniform in ``[-s, s]`` with ``s`` 1 or 3 (beyond 1 the box bound bites).

``cases(capabilities, forced)`` draws only features the target supports; ``forced`` pins
features on or off (e.g. ``{"bidirectional": True}``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from gruverify.interface import Capabilities, Problem
from gruverify.params import random_gru_params

__all__ = ["Case", "cases"]

# features a case can switch on; each is drawn only if the target supports it
_SWITCHES = ("multilayer", "bidirectional", "bias_false", "batch_first", "unbatched", "lengths")


@dataclasses.dataclass(frozen=True)
class Case:
    """One drawn configuration; ``problem()`` builds its data from ``seed``."""

    num_layers: int
    bidirectional: bool
    bias: bool
    batched: bool
    batch_first: bool
    steps: int
    batch: int
    input_size: int
    hidden_size: int
    has_h0: bool
    h0_scale: float
    lengths: tuple[int, ...] | None
    seed: int

    def problem(self) -> Problem:
        rng = np.random.default_rng(self.seed)
        params = random_gru_params(
            self.input_size, self.hidden_size, self.num_layers, self.bidirectional, self.bias,
            rng=rng,
        )  # fmt: skip
        T, B, I, H = self.steps, self.batch, self.input_size, self.hidden_size
        D = 2 if self.bidirectional else 1
        x = rng.standard_normal((T, B, I))
        h0 = rng.uniform(-self.h0_scale, self.h0_scale, (self.num_layers * D, B, H))
        if not self.batched:
            x, h0 = x[:, 0], h0[:, 0]
        elif self.batch_first:
            x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
        return Problem(
            params, x, h0 if self.has_h0 else None, self.batch_first,
            None if self.lengths is None else np.array(self.lengths, dtype=np.int64),
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lengths"] = None if self.lengths is None else list(self.lengths)
        return d

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())


def _flag(
    feature: str, caps: Capabilities, forced: Mapping[str, bool], allowed: bool = True
) -> st.SearchStrategy[bool]:
    """False when unsupported, pinned when forced, else drawn (shrinking towards off)."""
    if feature in forced:
        return st.just(forced[feature])
    if not allowed or not caps.supports(feature):
        return st.just(False)
    return st.booleans()


@st.composite
def _cases(
    draw: Any,
    caps: Capabilities,
    forced: Mapping[str, bool],
    min_steps: int,
    min_batch: int,
    big_h0: bool,
) -> Case:
    multilayer = draw(_flag("multilayer", caps, forced))
    num_layers = draw(st.integers(2, 3)) if multilayer else 1
    bidirectional = draw(_flag("bidirectional", caps, forced))
    bias = not draw(_flag("bias_false", caps, forced))
    use_lengths = draw(_flag("lengths", caps, forced, allowed=not forced.get("unbatched", False)))
    unbatched = draw(_flag("unbatched", caps, forced, allowed=min_batch <= 1 and not use_lengths))
    batch_first = draw(_flag("batch_first", caps, forced, allowed=not unbatched))
    steps = draw(st.integers(min_steps, 7))
    batch = 1 if unbatched else draw(st.integers(min_batch, 3 if min_batch <= 1 else 4))
    input_size = draw(st.integers(1, 4))
    hidden_size = draw(st.integers(1, 5))
    if forced.get("initial_state") is not None:
        has_h0 = forced["initial_state"]
    else:
        has_h0 = caps.supports("initial_state") and draw(st.booleans())
    h0_scale = draw(st.sampled_from([1.0, 3.0])) if big_h0 and has_h0 else 1.0
    lengths = (
        tuple(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)))
        if use_lengths
        else None
    )
    seed = draw(st.integers(0, 2**16))
    return Case(
        num_layers, bidirectional, bias, not unbatched, batch_first, steps, batch, input_size,
        hidden_size, has_h0, h0_scale, lengths, seed,
    )  # fmt: skip


def cases(
    capabilities: Capabilities,
    forced: Mapping[str, bool] | None = None,
    *,
    min_steps: int = 1,
    min_batch: int = 1,
    big_h0: bool = False,
) -> st.SearchStrategy[Case]:
    """Cases using only supported features; ``forced`` pins features (see ``_SWITCHES``)."""
    forced = dict(forced or {})
    unknown = set(forced) - set(_SWITCHES) - {"initial_state"}
    if unknown:
        raise ValueError(f"unknown case features {sorted(unknown)}; known: {_SWITCHES}")
    return _cases(capabilities, forced, min_steps, min_batch, big_h0)
