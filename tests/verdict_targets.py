"""Targets for the verdict tests (tests/test_verdicts.py): correct GRUs that break the box
``|h| <= max(|h_prev|, 1)`` by a few units of roundoff (a warning) or by more (a failure).

Used as ``verdict_targets:NAME`` targets (tests/ is on the path).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from gruverify.zoo.base import ZooGRU


class TanhOvershoot(ZooGRU):
    """A saturated candidate (``|n| >= 1`` in float32) returned as ``n (1 + overshoot)``."""

    overshoot: ClassVar[float] = 2.0**-21

    def update(self, n: torch.Tensor, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return super().update(torch.where(n.abs() >= 1, n * (1 + self.overshoot), n), z, h)


class TanhEightUnitsOver(TanhOvershoot):
    """``1 + 2^-21`` = ``1 + 8 u`` in float32, as onnxruntime 1.32's GRU returns: a warning."""


class TanhSixteenUnitsOver(TanhOvershoot):
    """``1 + 2^-20`` = ``1 + 16 u``: the largest break that is still a warning."""

    overshoot: ClassVar[float] = 2.0**-20


class TanhFarOver(TanhOvershoot):
    """``1 + 2^-16`` = ``1 + 256 u``: no rounding does that, a failure."""

    overshoot: ClassVar[float] = 2.0**-16
