"""Shared pieces of the property tests: the device parameter and the law runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import note, reject

from gruverify.laws.base import Inconclusive

__all__ = ["CUDA", "DEVICES", "LOW_DTYPES", "run_law"]

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
