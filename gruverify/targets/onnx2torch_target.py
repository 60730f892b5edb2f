"""``torch.nn.GRU`` -> ONNX (the ``onnx-torchscript`` export) -> onnx2torch -> a torch module.

onnx2torch (pip ``onnx2torch``) turns an ONNX graph into a ``torch.fx.GraphModule`` with one torch
module per ONNX node, each re-implementing the node from its converter registry
(``onnx2torch.node_converters``). The target exports the drawn GRU with the export of
``onnx-torchscript`` (``gruverify.targets.onnx_export``), converts it with
``onnx2torch.convert`` and would run the converted module in float32.

Measured (onnx2torch 1.5.15, torch 2.13.0, onnx 1.23.2): **there is no converter for the ONNX
``GRU`` operator** (nor ``LSTM`` or ``RNN``: the registry has none at any opset), so
``onnx2torch.convert`` raises ``NotImplementedError: Converter is not implemented
(OperationDescription(domain='', operation_type='GRU', version=14))``. torch's default export
(opset 20 here) fails one node earlier, on ``Shape`` version 19. The factory tries the conversion
once, on a small GRU, and raises ``TargetError`` with onnx2torch's own error, so the matrix row
says "unavailable" with that reason. Should a later onnx2torch convert the GRU, the target runs the
converted module (forward; gradients through torch's autograd are not wired yet).

onnx2torch imports torchvision at import time (for its ``NonMaxSuppression`` and ``RoiAlign``
converters only). PyPI's torchvision wheels are built against CUDA torch and do not load with the
CPU torch wheel ("operator torchvision::nms does not exist"); when ``import torchvision`` fails, the
target gives onnx2torch placeholder ``torchvision`` modules so that every other converter loads
(those two converters then fail if a graph uses them; a GRU graph does not).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

import numpy as np

from gruverify.core.params import Variant, random_gru_params
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.targets.errors import TargetError
from gruverify.targets.recent import Recent

__all__ = ["ONNX2TORCH_MISSING", "Onnx2TorchGRUTarget", "import_onnx2torch"]

GRADIENTS_REASON = (
    "not wired: onnx2torch 1.5.15 converts no GRU, so gradients through a converted module were "
    "never measured"
)
ONNX2TORCH_MISSING = {"gradients": GRADIENTS_REASON, "dropout": "an exported model has no dropout"}
_MAX_MODULES = 16


def _torchvision_placeholder() -> None:
    """Replace a torchvision that does not import with empty modules (module docstring)."""
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    package = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("torchvision is not importable here (gruverify's onnx2torch target)")

    ops.roi_align = unavailable  # type: ignore[attr-defined]
    ops.nms = unavailable  # type: ignore[attr-defined]
    ops.batched_nms = unavailable  # type: ignore[attr-defined]
    package.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"] = package
    sys.modules["torchvision.ops"] = ops


def import_onnx2torch() -> Any:
    """The ``onnx2torch`` module, or ``TargetError``."""
    if importlib.util.find_spec("onnx2torch") is None:  # before touching torchvision
        raise TargetError(
            "onnx2torch needs onnx2torch (gruverify[onnx2torch], in .venv-onnx2torch: "
            "bash scripts/library_envs.sh)"
        )
    try:
        importlib.import_module("torchvision")
    except Exception:  # ImportError, or RuntimeError/OSError from a CUDA-built wheel
        _torchvision_placeholder()
    try:
        return importlib.import_module("onnx2torch")
    except ImportError as e:
        raise TargetError(f"onnx2torch needs onnx2torch (gruverify[onnx2torch]): {e}") from e


def _gru_node_error(onnx2torch: Any) -> str:
    """onnx2torch's error for the ONNX GRU operator alone (a one-node model, opset 22), or ''."""
    from gruverify.targets.onnx_reference_target import NodeConfig, make_onnx_gru_node_model

    config = NodeConfig(2, 3, "forward", 1, True, False, False, 0, "float32")
    try:
        onnx2torch.convert(make_onnx_gru_node_model(config))
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return ""


class Onnx2TorchGRUTarget:
    """nn.GRU -> ONNX -> onnx2torch -> torch module (module docstring)."""

    variant: Variant = "reset_after"

    def __init__(self, *, dtype: str = "float32", device: str = "cpu") -> None:
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"onnx2torch runs float32 on the cpu here, not {dtype} on {device}")
        self.onnx2torch = import_onnx2torch()
        from gruverify.targets.onnx_export import OnnxExportTarget

        self.exporter = OnnxExportTarget("torchscript")
        self.dtype = dtype
        self.device = device
        self.name = "onnx2torch"
        self.capabilities = Capabilities(dict(ONNX2TORCH_MISSING))
        self.compile_seconds = 30.0
        self._modules: Recent[Any] = Recent(_MAX_MODULES)
        params = random_gru_params(2, 3, 1, rng=0)
        self._convert(Problem(params, np.zeros((3, 2, 2))))  # TargetError when it cannot

    def _convert(self, problem: Problem) -> Any:
        model = self.exporter.model(problem)
        try:
            return self.onnx2torch.convert(model)
        except Exception as e:
            version = getattr(self.onnx2torch, "__version__", "")
            if not version:
                from importlib.metadata import version as dist_version

                version = dist_version("onnx2torch")
            node = _gru_node_error(self.onnx2torch)
            raise TargetError(
                f"onnx2torch {version} cannot convert torch's ONNX export of nn.GRU: "
                f"{type(e).__name__}: {e}" + (f"; the GRU node alone: {node}" if node else "")
            ) from e

    def _module(self, problem: Problem) -> Any:
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.num_directions, p.bias,
               problem.batched, problem.batch_first, problem.h0 is not None,
               problem.lengths is not None, p.digest())  # fmt: skip
        return self._modules.get(key, lambda: self._convert(problem))

    def forward(self, problem: Problem) -> Outputs:
        import torch

        module = self._module(problem)
        args = [torch.as_tensor(np.asarray(problem.x, np.float32))]
        if problem.lengths is not None:
            args.append(torch.as_tensor(np.asarray(problem.lengths, np.int64)))
        if problem.h0 is not None:
            args.append(torch.as_tensor(np.asarray(problem.h0, np.float32)))
        with torch.no_grad():
            output, h_n = module(*args)
        return Outputs(output.double().numpy(), h_n.double().numpy())

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")
