"""Targets that misbehave in the ways code under test does, for the robustness tests.

Each class is ``torch.nn.GRU`` (so it is correct apart from its one misbehaviour) with a twist in
``forward``; most only misbehave on some configurations, so the checker's probe call (input size
2, hidden size 3, 3 steps) succeeds and the checks find the misbehaviour. Used as
``misbehaving_targets:NAME`` targets (tests/ is on the path).

The ones that end or exhaust their process (``Segfaults``, ``ExitsHard``, ``Aborts``,
``AllocatesTooMuch``) are for isolated runs (``--isolate``, a worker process); in-process they
would take the checker down with them, which is the point of isolation.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import torch
from torch import nn


class _Base(nn.GRU):
    """``nn.GRU`` whose results pass through ``twist``."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        out, h_n = super().forward(input, hx)
        return self.twist(input, out, h_n)

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        return out, h_n


class RaisesOnLargeHidden(_Base):
    """Raises for hidden_size >= 4."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.hidden_size >= 4:
            raise RuntimeError(f"RaisesOnLargeHidden: hidden_size {self.hidden_size} unsupported")
        return out, h_n


class ReturnsNaN(_Base):
    """NaN in the last output feature when input_size >= 3."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3 and isinstance(out, torch.Tensor):
            out = out.clone()
            out[..., -1] = float("nan")
        return out, h_n


class ReturnsInf(_Base):
    """h_n is +inf when input_size >= 3."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        return out, (torch.full_like(h_n, float("inf")) if self.input_size >= 3 else h_n)


class WrongShape(_Base):
    """The output loses its last feature when input_size >= 3."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3 and isinstance(out, torch.Tensor):
            out = out[..., :-1]
        return out, h_n


class WrongDtype(_Base):
    """Returns float64 whatever it was given."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        return (out.double() if isinstance(out, torch.Tensor) else out), h_n.double()


class WrongDevice(_Base):
    """Returns h_n on the meta device (a device that is not the one asked for)."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        return out, h_n.to("meta")


class NotTensors(_Base):
    """Returns h_n as a nested list when input_size >= 3."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        return out, (h_n.tolist() if self.input_size >= 3 else h_n)


class Hangs(_Base):
    """Sleeps 300 s (a hang, for a test's 1 s timeout) when input_size >= 4."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 4:
            time.sleep(300)
        return out, h_n


class Slow(_Base):
    """Correct, but every call takes 20 ms more: a run of every check lasts tens of seconds, long
    enough to be interrupted half-way on any machine."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        time.sleep(0.02)
        return out, h_n


class MutatesInput(_Base):
    """Zeroes its input in place (through .data) after computing, when input_size >= 2."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        out, h_n = super().forward(input, hx)
        if self.input_size >= 2 and isinstance(input, torch.Tensor):
            input.data.zero_()
        return out, h_n


class ChangesDefaultDtype(_Base):
    """Sets torch's default dtype to float64 and leaves it so."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        torch.set_default_dtype(torch.float64)
        return out, h_n


class EnablesTF32(_Base):
    """Turns on TF32 matmuls and leaves them on."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = False
        return out, h_n


class ChangesGradMode(_Base):
    """Switches grad mode off and leaves it off."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        torch.set_grad_enabled(False)
        return out, h_n


class ReseedsRNG(_Base):
    """Reseeds torch's global generator."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        torch.manual_seed(1234)
        return out, h_n


class DrawsRandomNumbers(_Base):
    """Draws from torch's, numpy's and Python's generators but computes correctly: not a failure."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        import random

        import numpy as np

        torch.rand(3)
        np.random.rand(3)
        random.random()
        return out, h_n


class KeepsState(_Base):
    """With hx=None, starts from the previous call's final state (state kept between calls)."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        prev = getattr(self, "_last", None)
        if hx is None and prev is not None and isinstance(input, torch.Tensor):
            want = (self.num_layers * (2 if self.bidirectional else 1),
                    *((input.shape[0 if self.batch_first else 1],) if input.dim() == 3 else ()),
                    self.hidden_size)  # fmt: skip
            if tuple(prev.shape) == want:
                hx = prev
        out, h_n = super().forward(input, hx)
        self._last = h_n.detach()
        return out, h_n


class Nondeterministic(_Base):
    """Adds random noise of 1e-3 to its output."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if isinstance(out, torch.Tensor):
            out = out + 1e-3 * torch.rand_like(out)
        return out, h_n


class ExitsProcess(_Base):
    """Calls sys.exit(3) when input_size >= 3."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3:
            sys.exit(3)
        return out, h_n


class WrongSignature(nn.Module):
    """A constructor that does not take torch.nn.GRU's arguments."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size


class RaisesInConstructor(nn.GRU):
    """A constructor that raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("RaisesInConstructor: this GRU needs a GPU")


class HangsInConstructor(nn.GRU):
    """A constructor that hangs (sleeps 300 s)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(300)
        super().__init__(*args, **kwargs)


NOT_CALLABLE = 42
"""Not a class or factory."""


class ReturnsOnCPU(_Base):
    """Returns h_n on the CPU whatever device it runs on (a no-op on a CPU-only run)."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        return out, h_n.cpu()


class HangsAlways(_Base):
    """Every call sleeps 300 s (the build's probe call hangs too)."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        time.sleep(300)
        return out, h_n


class SpinsOnLargeInput(_Base):
    """Busy-loops (holding a core, and the GIL) for 300 s when input_size >= 4: a hang that an
    abandoned thread cannot hide."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 4:
            end = time.monotonic() + 300
            while time.monotonic() < end:
                pass
        return out, h_n


def _wrong_state(module: nn.GRU, input: Any, hx: Any) -> bool:
    if hx is None or not isinstance(input, torch.Tensor):
        return False
    batch = (input.shape[0 if module.batch_first else 1],) if input.dim() == 3 else ()
    want = (module.num_layers * (2 if module.bidirectional else 1), *batch, module.hidden_size)
    return tuple(hx.shape) != want


class HangsOnBadState(_Base):
    """Sleeps 300 s when given an initial state of the wrong shape (instead of raising)."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        if _wrong_state(self, input, hx):
            time.sleep(300)
        return super().forward(input, hx)


class SegfaultsOnBadState(_Base):
    """A segmentation fault when given an initial state of the wrong shape (isolated runs only)."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        if _wrong_state(self, input, hx):
            _segfault()
        return super().forward(input, hx)


def _segfault() -> None:
    import ctypes

    ctypes.string_at(0)  # reads address 0: SIGSEGV


class Segfaults(_Base):
    """A segmentation fault (through ctypes) when input_size >= 3."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3:
            _segfault()
        return out, h_n


class ExitsHard(_Base):
    """``os._exit(7)`` when input_size >= 3: no exception, no cleanup, the process is gone."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3:
            os._exit(7)
        return out, h_n


class Aborts(_Base):
    """``os.abort()`` (SIGABRT, as a failed C assertion does) when input_size >= 3."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3:
            os.abort()
        return out, h_n


class AllocatesHuge(_Base):
    """Asks numpy for 1 TiB when input_size >= 3 (more than the machine has: MemoryError)."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3:
            import numpy as np

            np.ones(1 << 37)  # 2^37 float64 = 1 TiB
        return out, h_n


class AllocatesTooMuch(_Base):
    """Maps 6 GiB (untouched, so it costs no memory) when input_size >= 3: more than a worker
    with ``--memory-limit 2`` may map (MemoryError there), harmless elsewhere."""

    def twist(self, input: Any, out: Any, h_n: Any) -> Any:
        if self.input_size >= 3:
            import numpy as np

            block = np.empty(6 << 30, dtype=np.uint8)
            del block
        return out, h_n
