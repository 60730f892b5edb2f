"""Shared pieces of the property tests: the device parameter and the law runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import note, reject

from gruverify.laws.base import Inconclusive

__all__ = ["CUDA", "DEVICES", "LOW_DTYPES", "cases_for", "run_law"]

CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="torch.cuda.is_available() is False: no CUDA device"
)
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, CUDA])]
"""Every law that runs on an implementation runs on the CPU and, when present, on CUDA."""

LOW_DTYPES = ("float32", "float16", "bfloat16")


def run_law(law: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a law; an ``Inconclusive`` case (chaotic at this precision) is rejected, not passed.

    Strategies keep such cases rare, so hypothesis' health check catches a strategy that makes
    them common."""
    try:
        return law(*args, **kwargs)
    except Inconclusive as e:
        note(f"inconclusive: {e}")
        reject()


def cases_for(dtype: str, **config: Any) -> Any:
    """Cases whose comparison with the reference is conclusive at ``dtype``'s precision.

    float64 and float32 take every parameter and input kind. float16 cannot hold inputs near 1e4
    precisely enough (a relative 5e-4 rounding moves a pre-activation by several units, so the
    tolerance reaches the output's size): ordinary or zero inputs, no large weights. bfloat16 (8
    bits) only stays conclusive for gradients on short, ordinary problems.
    """
    from hypothesis import strategies as st

    from gruverify.strategies import cases, configs

    if dtype in ("float64", "float32"):
        return cases(configs(**config))
    inputs = st.sampled_from(("ordinary", "zeros"))
    if dtype == "float16":
        return cases(
            configs(**config), st.sampled_from(("ordinary", "chrono", "saturating")), inputs
        )
    short = {**config, "max_steps": 4, "max_size": 4, "max_layers": 1, "bidirectional": False}
    return cases(configs(**short), st.sampled_from(("ordinary", "chrono")), inputs)
