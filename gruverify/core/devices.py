"""The devices a GRU can be checked on, as torch names them: the one rule for which exist here."""

from __future__ import annotations

import sys

__all__ = ["available_devices", "loaded_torch_devices"]


def _devices_of(torch: object) -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # type: ignore[attr-defined]


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when torch sees a CUDA device (this imports torch)."""
    import torch

    return _devices_of(torch)


def loaded_torch_devices() -> list[str] | None:
    """``available_devices()`` when something in this process imported torch already, else None
    (without importing it: a worker whose target never needed torch stays without it)."""
    torch = sys.modules.get("torch")
    return None if torch is None else _devices_of(torch)
