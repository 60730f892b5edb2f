"""Suite-wide setting: one torch compute thread per test process.

The suite runs tiny tensors under ``pytest -n 2`` on 2 cores; torch's default intra-op pool (one
thread per core in every worker) oversubscribes the cores and made the reference tests 2-3x slower.
"""

from __future__ import annotations

import torch

torch.set_num_threads(1)
