"""The storage formats a GRU can be checked in, by the names torch gives them."""

from __future__ import annotations

__all__ = ["DTYPES"]

DTYPES: tuple[str, ...] = ("float64", "float32", "float16", "bfloat16")
"""float64, float32, float16 and bfloat16: the dtypes the error model, the targets and the command
line accept (TF32 is an arithmetic of float32 storage, not a dtype of its own)."""
