"""torch.ao's dynamically quantized GRU as an ``Implementation``: ``torch-dynamic-int8``.

``torch.ao.nn.quantized.dynamic.GRU.from_float`` of a ``torch.nn.GRU`` holding the drawn float32
weights, with torch's default dynamic qconfig (what ``torch.ao.quantization.quantize_dynamic``
does to a model's GRU). Its arithmetic, read from torch 2.13's code and confirmed by an emulation
that matches it to 1.5e-7 (docs/error-model.md):

* weights: int8, one scale per matrix, symmetric (``MinMaxObserver``, ``per_tensor_symmetric``:
  ``s = max |w| / 127.5``, zero point 0); biases float32;
* activations: quantized per call to unsigned 7 bits (``make_quantized_cell_params_dynamic(...,
  reduce_range=True)``: fbgemm's and x86's ``quantized::linear_dynamic`` with ``reduce_range``):
  the input projection of a layer in one call over the whole sequence and batch (torch precomputes
  it), the recurrent product once per step over the batch; ``step = (max(v, 0) - min(v, 0)) /
  127``. So a sequence's result depends on its batch-mates: the declaration's ``batch_coupled``.

The target declares that (``quantization``: the ``int8-dynamic-7bit`` preset) and hands over its
effective weights (``effective_params``: the packed int8 weights dequantized, read with
``_weight_bias()``, the module's own accessor), so the error model runs the reference on them and
models only the activations. ``TorchDynamicInt8Target(declare=False)`` declares nothing: judged as
plain float32 it fails (the calibration's point of comparison).

Missing: ``gradients`` (an inference kernel), ``bias_false`` (``from_float`` requires biases),
``unbatched`` (the kernel needs ``(T, B, I)``), ``dropout`` (eval-only).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gruverify.core.arithmetic import ARITHMETICS, Arithmetic
from gruverify.core.params import GRUParams
from gruverify.core.problem import Problem
from gruverify.core.quantization import PRESETS, Quantization
from gruverify.layouts.torch_layout import gru_from_torch, gru_to_torch
from gruverify.targets.errors import TargetError
from gruverify.targets.recent import Recent
from gruverify.targets.torch_module import TorchModuleTarget

__all__ = ["TORCH_DYNAMIC_INT8", "TORCH_DYNAMIC_MISSING", "TorchDynamicInt8Target"]

TORCH_DYNAMIC_INT8: Quantization = PRESETS["int8-dynamic-7bit"]
"""What torch.ao's dynamic GRU does (module docstring)."""

TORCH_DYNAMIC_MISSING = {
    "gradients": "torch.ao's dynamic quantized GRU is an inference kernel (no autograd)",
    "bias_false": "torch.ao.nn.quantized.dynamic.GRU.from_float requires biases",
    "unbatched": "the quantized GRU kernel needs a batch axis (input must have 3 dimensions)",
    "dropout": "a quantized GRU runs in eval mode only",
}
_MAX_MODULES = 8


def _quantized_gru(params: GRUParams, batch_first: bool) -> Any:
    """``torch.ao.nn.quantized.dynamic.GRU.from_float`` of an ``nn.GRU`` holding ``params``."""
    import torch
    from torch.ao.nn.quantized.dynamic import GRU
    from torch.ao.quantization import default_dynamic_qconfig

    p = params
    float_gru = torch.nn.GRU(p.input_size, p.hidden_size, p.num_layers, bias=p.bias,
                             batch_first=batch_first, bidirectional=p.bidirectional)  # fmt: skip
    sd = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in gru_to_torch(p).items()}
    float_gru.load_state_dict(sd, strict=True)
    float_gru.qconfig = default_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates the quantized tensor constructors
        return GRU.from_float(float_gru)


class TorchDynamicInt8Target(TorchModuleTarget):
    """``torch-dynamic-int8`` (module docstring). ``declare`` False: no declared quantization."""

    def __init__(self, *, device: str = "cpu", dtype: str = "float32", declare: bool = True):
        if device != "cpu" or dtype != "float32":
            raise TargetError(
                f"torch-dynamic-int8 runs float32 on the cpu (asked for {dtype} on {device})"
            )
        try:
            import torch.ao.nn.quantized.dynamic  # noqa: F401
        except ImportError as e:  # pragma: no cover - torch without its quantization package
            raise TargetError(f"torch-dynamic-int8 needs torch.ao.nn.quantized: {e}") from e
        name = "torch-dynamic-int8" + ("" if declare else "[undeclared]")
        self.quantization: Quantization | None = TORCH_DYNAMIC_INT8 if declare else None
        self._quantized: Recent[Any] = Recent(_MAX_MODULES)
        super().__init__(_quantized_gru, name=name, device=device, dtype=dtype,
                         missing=TORCH_DYNAMIC_MISSING, probe=False)  # fmt: skip

    @property
    def arithmetic(self) -> Arithmetic:
        """Plain float32 around the quantized products (the declared quantization is added by
        ``error_model.arithmetic_of`` from ``quantization``)."""
        return ARITHMETICS["float32"]

    def _module(self, problem: Problem) -> Any:
        p = problem.params
        key = (p.digest(), p.num_layers, p.bidirectional, p.bias, problem.batch_first)
        return self._quantized.get(key, lambda: _quantized_gru(p, problem.batch_first))

    def effective_params(self, params: GRUParams) -> GRUParams:
        """The weights the kernel multiplies by: its packed int8 weights dequantized, its float
        biases (``_weight_bias()``), in the canonical layout, float64."""
        import torch

        module = self._module(Problem(params, np.zeros((1, 1, params.input_size))))
        wb = module._weight_bias()
        sd: dict[str, Any] = {k: v.dequantize().to(torch.float64).numpy()
                              for k, v in wb["weight"].items()}  # fmt: skip
        sd.update({k: v.detach().to(torch.float64).numpy() for k, v in wb["bias"].items()})
        return gru_from_torch(sd)

    def with_dropout(self, dropout: float) -> TorchModuleTarget:
        raise TargetError(TORCH_DYNAMIC_MISSING["dropout"])
