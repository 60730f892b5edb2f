"""Scale-only planted bugs: ``ZooGRU`` wrong only where production kernels change path.

Real kernels tile the hidden units (32, 64 or 128 at a time, with a tail when ``H`` is not a
multiple), split the batch into blocks, split time into chunks and may spill the state to a
lower-precision buffer on long runs. A bug on one of those paths is invisible at the checker's
default sizes (``H <= 9``, ``B <= 4``, ``T <= 9``), except the chunk boundary in time, which the
default ``forward[long]`` check crosses (33 to 130 steps). Each class names the size options that
expose it (``gruverify.zoo.SCALE_OPTIONS``), e.g.
``gruverify check gruverify.zoo.scale:HiddenTileTail --max-hidden 64``.

- ``HiddenTileTail``: hidden units in tiles of 32; the last, partial tile (``H > 32``,
  ``H % 32 != 0``) skips the reset gate (``r = 1`` there).
- ``BatchBlockTail``: the batch in blocks of 8; the rows of the last, partial block (``B > 8``,
  ``B % 8 != 0``) never carry their state: every step reads the initial state.
- ``LongSequenceSpill``: from step 256 on (``T > 256``), the carried state is read back from a
  float16 buffer (rounded to float16 before each step).
- ``ChunkBoundaryState``: time in chunks of 32 steps; each chunk after the first restarts from the
  initial state instead of the state carried over (``T > 32``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gruverify.zoo.base import Gates, ZooGRU

__all__ = [
    "BATCH_BLOCK",
    "CHUNK_STEPS",
    "HIDDEN_TILE",
    "SPILL_STEP",
    "BatchBlockTail",
    "ChunkBoundaryState",
    "HiddenTileTail",
    "LongSequenceSpill",
]

HIDDEN_TILE = 32
BATCH_BLOCK = 8
SPILL_STEP = 256
CHUNK_STEPS = 32


class _RemembersInitialState(ZooGRU):
    """Keeps the initial state of the direction being run (``self._h0``) for the cell."""

    def run_direction(
        self, layer: int, direction: int, seq: Tensor, h0: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        self._h0 = h0
        return super().run_direction(layer, direction, seq, h0, lengths)


class HiddenTileTail(ZooGRU):
    """The tail tile of hidden units skips the reset gate: with units in tiles of 32, units
    ``32 * (H // 32)`` to ``H - 1`` compute ``n = tanh(W_in x + b_in + W_hn h + b_hn)``.

    A synthetic pattern: a tiled kernel whose remainder loop was written separately and lost a
    multiply. Visible for ``H > 32`` not a multiple of 32 (``--max-hidden 64``).
    """

    def candidate(self, x: Tensor, h: Tensor, r: Tensor, g: Gates) -> Tensor:
        H = r.shape[-1]
        tail = H - H % HIDDEN_TILE
        if H > HIDDEN_TILE and tail < H:
            r = torch.cat([r[..., :tail], torch.ones_like(r[..., tail:])], dim=-1)
        return super().candidate(x, h, r, g)


class BatchBlockTail(_RemembersInitialState):
    """The tail block of the batch never carries its state: with the batch in blocks of 8, rows
    ``8 * (B // 8)`` to ``B - 1`` start every step from the initial state.

    A synthetic pattern: a batch-blocked kernel whose remainder block reads the state from the
    input buffer instead of the workspace. Visible for ``B > 8`` not a multiple of 8 and ``T > 1``
    (``--max-batch 16``).
    """

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        B = h.shape[0]
        tail = B - B % BATCH_BLOCK
        if B > BATCH_BLOCK and tail < B:
            h = torch.cat([h[:tail], self._h0[tail:]], dim=0)
        return super().cell(x, h, g, k)


class LongSequenceSpill(ZooGRU):
    """From step 256 on, the carried state is read back from a float16 buffer: ``h`` is rounded to
    float16 before each step ``k >= 256`` (relative error up to 2^-11).

    A synthetic pattern: a persistent kernel that keeps the state in registers for 256 steps and
    then spills it to a half-precision scratch buffer. Visible for ``T > 256`` (``--max-steps 300``) in float32
    and float64.
    """

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        if k >= SPILL_STEP:
            h = h.to(torch.float16).to(h.dtype)
        return super().cell(x, h, g, k)


class ChunkBoundaryState(_RemembersInitialState):
    """Each chunk of 32 steps after the first restarts from the initial state: at steps
    ``k = 32, 64, ...`` the cell reads ``h0`` instead of the carried state.

    A synthetic pattern: a kernel that splits time into chunks and reloads the state from the
    caller's ``h0`` at each chunk launch (issue 13: before the long-sequence check it passed
    ``gruverify check``). Visible for ``T > 32``: the default check's ``forward[long]`` catches it.
    """

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        if k > 0 and k % CHUNK_STEPS == 0:
            h = self._h0
        return super().cell(x, h, g, k)
