"""The ``paddle`` target with ``bias=False`` claimed, to save the crash's counterexample (issue 23).

The built-in target declares ``bias_false`` missing (``paddle.nn.GRU(bias_ih_attr=False,
bias_hh_attr=False)`` segfaults), so ``gruverify check paddle`` never makes that call and saves no
case of it. ``PaddleClaimingBiasFalse`` is the same target building bias-less layers as Paddle's
API asks; ``gruverify check paddle_claims_bias_false:PaddleClaimingBiasFalse --check
'forward[bias=False]'`` (tests/ on the path) runs it in a worker, the worker dies with SIGSEGV and
the case is saved: docs/repros/paddle-bias-false-crash.json is that file, its target set to
``paddle`` (the call its standalone script makes is the built-in target's).
"""

from __future__ import annotations

import warnings
from typing import Any

from gruverify.core.problem import Capabilities, Problem
from gruverify.layouts.paddle_layout import paddle_direction
from gruverify.targets.paddle_target import UNBATCHED_REASON, PaddleGRUTarget


class PaddleClaimingBiasFalse(PaddleGRUTarget):
    """``paddle`` with ``bias=False`` supported: the layer gets ``bias_*_attr=False``."""

    capabilities = Capabilities({"unbatched": UNBATCHED_REASON})

    def _layer(self, problem: Problem) -> Any:
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.bidirectional, p.bias,
               problem.batch_first)  # fmt: skip
        if not p.bias and key not in self._layers:
            self.paddle.set_device("cpu")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._layers[key] = self.paddle.nn.GRU(
                    p.input_size, p.hidden_size, p.num_layers,
                    direction=paddle_direction(p.bidirectional),
                    time_major=not problem.batch_first, dropout=self.dropout,
                    bias_ih_attr=False, bias_hh_attr=False,
                )  # fmt: skip
        return super()._layer(problem)
