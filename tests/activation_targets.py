"""GRUs with approximate activations, for the declared-arithmetic tests (tests/test_activation_error.py).

``ApproximateGRU`` is the zoo's explicit GRU with every sigmoid and tanh value off by
``planted * sin(a)`` (``a`` the pre-activation): a smooth error of at most ``planted``, like a
polynomial or rational approximation's, whose derivative is off by at most ``planted`` too.
Subclasses set ``planted`` and declare (or not) ``gruverify_activation_error``. Used as
``activation_targets:NAME`` targets (tests/ is on the path).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from gruverify.zoo.base import Gates, ZooGRU

DECLARED = 1e-4
"""The activation error the declaring classes declare."""


class ApproximateGRU(ZooGRU):
    """Sigmoid and tanh values off by ``planted * sin(a)``; declares nothing."""

    planted: ClassVar[float] = DECLARED

    def wiggle(self, a: Tensor) -> Tensor:
        return self.planted * torch.sin(a)

    def sigmoid(self, a: Tensor) -> Tensor:
        return torch.sigmoid(a) + self.wiggle(a)

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        r = self.sigmoid(x @ g.W_ir.T + g.b_ir + h @ g.W_hr.T + g.b_hr)
        z = self.sigmoid(x @ g.W_iz.T + g.b_iz + h @ g.W_hz.T + g.b_hz)
        a_n = self.candidate(x, h, r, g)
        return self.update(torch.tanh(a_n) + self.wiggle(a_n), z, h)


class DeclaredWithinBound(ApproximateGRU):
    """Off by at most 1e-4, and declares 1e-4: it must pass."""

    gruverify_activation_error: ClassVar[float] = DECLARED


def planted_times(multiple: float) -> type[ApproximateGRU]:
    """A class that declares ``DECLARED`` and is off by ``multiple`` times it."""
    return type(
        f"Planted{multiple:g}x",
        (ApproximateGRU,),
        {"planted": multiple * DECLARED, "gruverify_activation_error": DECLARED},
    )


class PlantedFiveTimes(ApproximateGRU):
    """Off by up to 5e-4 while declaring 1e-4: it must still fail."""

    planted: ClassVar[float] = 5 * DECLARED
    gruverify_activation_error: ClassVar[float] = DECLARED


class PlantedTenTimes(ApproximateGRU):
    """Off by up to 1e-3 while declaring 1e-4: it must still fail."""

    planted: ClassVar[float] = 10 * DECLARED
    gruverify_activation_error: ClassVar[float] = DECLARED


class BadDeclaration(ZooGRU):
    """Declares an activation error that is not a number in [0, 0.1)."""

    gruverify_activation_error: ClassVar[object] = "small"
