"""The ONNX -> Apache TVM conversion path: torch ``nn.GRU`` -> ``torch.onnx.export`` (the
``onnx-torchscript`` target's export, ``gruverify.targets.onnx_export``) -> TVM's relax ONNX
frontend (``tvm.relax.frontend.onnx.from_onnx``) -> compiled for ``llvm`` -> run.

Measured (apache-tvm 0.27.0.post1, torch 2.13.0, onnx 1.23.2): the exported graph's ``GRU`` node is
refused by the frontend, ``OpNotImplemented: The following operators are not supported for frontend
ONNX: GRU`` (the relax frontend's converter table, ``_get_convert_map``, has no ``GRU``, ``LSTM``
or ``RNN``; the old Relay frontend, which had them, is gone since TVM 0.20). ``make_tvm_target``
builds the real path on a probe GRU (1 layer, the exporter's usual graph with dynamic time and
batch axes) and raises ``TargetError`` with the frontend's own error, so the matrix row says why,
and says something else on the day the frontend converts a GRU.

TVM's relax PyTorch frontend (``from_exported_program``) does translate ``aten.gru.input``, for one
layer only (``NotImplementedError: Multi-layer GRU is not yet supported``), unrolled over a static
sequence length: that path is not this row (docs/library-targets.md).
"""

from __future__ import annotations

from typing import Any

from gruverify.core.problem import Implementation
from gruverify.targets.errors import TargetError

__all__ = ["make_tvm_target", "tvm_onnx_probe"]


def _exported_probe() -> Any:
    """The ONNX model the ``onnx-torchscript`` target exports for a one-layer GRU (3 -> 4) over a
    batched, time-major input with an initial state."""
    import numpy as np

    from gruverify.core.params import random_gru_params
    from gruverify.core.problem import Problem
    from gruverify.targets.onnx_export import OnnxExportTarget

    rng = np.random.default_rng(0)
    problem = Problem(random_gru_params(3, 4, 1, False, True, rng=rng),
                      rng.standard_normal((5, 2, 3)), rng.uniform(-1, 1, (1, 2, 4)))  # fmt: skip
    return OnnxExportTarget("torchscript").model(problem)


def tvm_onnx_probe() -> str | None:
    """Run TVM's relax ONNX frontend on an exported GRU: None when it converts it, else its error
    (``"ExceptionType: message"``). Raises ``TargetError`` when TVM or onnx is not installed."""
    try:
        from tvm.relax.frontend.onnx import from_onnx
    except ImportError as e:
        raise TargetError(f"the tvm target needs apache-tvm: {e}") from e
    model = _exported_probe()
    try:
        from_onnx(model, keep_params_in_input=True)
    except Exception as e:  # the frontend's refusal is the finding to report
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"
    return None


def make_tvm_target(device: str, dtype: str | None) -> Implementation:
    """The ``tvm`` target; raises ``TargetError`` (the frontend's reason) while TVM's relax ONNX
    frontend cannot convert a GRU node."""
    if device != "cpu" or (dtype or "float32") != "float32":
        raise TargetError(f"tvm compiles float32 for llvm (the cpu) here, not {dtype} on {device}")
    refusal = tvm_onnx_probe()
    import tvm

    version = getattr(tvm, "__version__", "?")
    if refusal is not None:
        raise TargetError(
            f"apache-tvm {version}: tvm.relax.frontend.onnx.from_onnx cannot convert the exported "
            f"GRU node: {refusal}"
        )
    raise TargetError(
        f"apache-tvm {version}: the relax ONNX frontend now converts a GRU node, but gruverify's "
        "tvm target does not yet compile and run it (gruverify/targets/tvm_target.py)"
    )
