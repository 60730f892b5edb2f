"""``torch.nn.GRU`` -> ONNX (the ``onnx-torchscript`` export) -> MNN's converter -> MNN's runtime.

The path a user takes to deploy a torch GRU with MNN (Alibaba's inference engine): export the
module with ``torch.onnx.export`` (the export of ``onnx-torchscript``, ``gruverify.targets.
onnx_export``: one export per configuration, the drawn weights replayed into it), convert the
``.onnx`` with MNN's converter (``MNNConvert -f ONNX``; here its Python binding
``_tools.mnnconvert``, the C++ converter the ``mnnconvert`` command wraps) and run the ``.mnn`` file
with ``MNN.nn.load_module_from_file`` (the Module API the converter asks for: "The model has
subgraphs, please use MNN::Express::Module to run it"). Float32 on the CPU.

What the converter produces: each ONNX ``GRU`` node becomes MNN's GRU, computed by default with a
``While`` loop over time (the converter says "Try to use While to compute GRU ..., if don't want it,
add --useOriginRNNImpl"), unrolled when the time axis is static ("Single SeqLength, don't use while
but unrool it"). A conversion takes ~0.05 s, so the target converts per configuration, sequence
length and weight set (cached).

Measured (MNN 3.6.1, torch 2.13.0, onnx 1.23.2):

* With a **dynamic time axis** (the ``onnx-torchscript`` export's default) the converter unrolls
  one step ("Single SeqLength, don't use while but unrool it"): the model runs T = 1 only and
  returns no outputs for any longer sequence, at any batch ("Reshape error" at batch 1, "Broad
  cast error, dim1 = B, dim2 = T * B" above; ``FINDINGS``; ``MnnGRUTarget(dynamic_time=True)``
  shows it). So the
  target exports the time axis static (``dynamic_time=False``, one export per sequence length; the
  batch axis stays dynamic, which works).
* With ``--useOriginRNNImpl`` (MNN's fused RNN op instead of the While loop;
  ``MnnGRUTarget(origin_rnn=True)``) the **reverse direction's final state is wrong**: ``Y`` and the
  forward direction's ``Y_h`` are right, the reverse ``Y_h`` is off by ~0.7 and equals none of the
  reverse outputs (``FINDINGS``). The default conversion is right.

Missing: ``gradients`` (inference only), ``dropout`` (an inference model has none).

MNN's Python package has a side effect this target avoids: ``import MNN.tools`` imports
``MNN.tools.utils.log``, which runs ``pip install -U aliyun-log-python-sdk`` when that package is
missing and reports each conversion (arguments, model sizes, a machine id) to an Aliyun log service.
The target only imports ``MNN`` (the runtime) and ``_tools`` (the converter's C++ binding).
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

import numpy as np

from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.targets.errors import TargetError
from gruverify.targets.recent import Recent

__all__ = ["MNN_MISSING", "MnnGRUTarget", "convert_onnx_to_mnn", "import_mnn"]

GRADIENTS_REASON = "the converted .mnn model is run for inference only (no gradients)"
MNN_MISSING = {
    "gradients": GRADIENTS_REASON,
    "dropout": "a converted inference model has no dropout",
}
_MAX_MODULES = 16


def import_mnn() -> tuple[Any, Any]:
    """``(MNN, _tools)``: MNN's runtime and its converter binding, or ``TargetError``."""
    try:
        import _tools  # type: ignore[import-not-found]
        import MNN  # type: ignore[import-not-found]
    except ImportError as e:
        raise TargetError(f"mnn needs MNN (pip install MNN, gruverify[mnn]): {e}") from e
    return MNN, _tools


class _quiet_fds:
    """Silence file descriptors 1 and 2 for a block: MNN's converter and runtime print progress
    lines from C++ (errors still arrive as exceptions or missing outputs)."""

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = [os.dup(1), os.dup(2)]
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)


def convert_onnx_to_mnn(model: Any, directory: str, name: str, *, origin_rnn: bool = False) -> str:
    """Convert ``model`` (an ``onnx.ModelProto``) with MNN's converter (``origin_rnn``: with
    ``--useOriginRNNImpl``); the ``.mnn`` file's path."""
    _, tools = import_mnn()
    src = os.path.join(directory, f"{name}.onnx")
    dst = os.path.join(directory, f"{name}.mnn")
    with open(src, "wb") as f:
        f.write(model.SerializeToString())
    args = ["mnnconvert", "-f", "ONNX", "--modelFile", src, "--MNNModel", dst,
            "--bizCode", "gruverify"] + (["--useOriginRNNImpl"] if origin_rnn else [])  # fmt: skip
    with _quiet_fds():
        tools.mnnconvert(args)
    if not os.path.exists(dst):
        raise TargetError(f"MNN's converter wrote no model for {src} (arguments {args[1:]})")
    return dst


class MnnGRUTarget:
    """torch GRU -> ONNX -> MNN converter -> MNN Module runtime (module docstring)."""

    variant: Variant = "reset_after"

    def __init__(
        self,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        dynamic_time: bool = False,
        origin_rnn: bool = False,
    ) -> None:
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"mnn runs float32 on the cpu, not {dtype} on {device}")
        self.mnn, _ = import_mnn()
        from gruverify.targets.onnx_export import OnnxExportTarget

        self.exporter = OnnxExportTarget("torchscript", dynamic_time=dynamic_time)
        self.dtype = dtype
        self.device = device
        self.dynamic_time = dynamic_time
        self.origin_rnn = origin_rnn
        tags = (["dynamic-time"] if dynamic_time else []) + (["origin-rnn"] if origin_rnn else [])
        self.name = "mnn" + (f"[{', '.join(tags)}]" if tags else "")
        self.capabilities = Capabilities(dict(MNN_MISSING))
        self.conversions = 0
        self.compile_seconds = 30.0
        """A new configuration exports and converts (under a second; more on a busy machine)."""
        self._dir = tempfile.TemporaryDirectory(prefix="gruverify-mnn-")
        self._modules: Recent[tuple[Any, list[str]]] = Recent(_MAX_MODULES)

    def _module(self, problem: Problem) -> tuple[Any, list[str]]:
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.num_directions, p.bias,
               problem.batched, problem.batch_first, problem.h0 is not None,
               problem.lengths is not None, None if self.dynamic_time else problem.steps,
               p.digest())  # fmt: skip
        return self._modules.get(key, lambda: self._convert(problem))

    def _convert(self, problem: Problem) -> tuple[Any, list[str]]:
        model = self.exporter.model(problem)
        inputs = [i.name for i in model.graph.input]
        path = convert_onnx_to_mnn(model, self._dir.name, f"gru{self.conversions}",
                                   origin_rnn=self.origin_rnn)  # fmt: skip
        self.conversions += 1
        with _quiet_fds():
            module = self.mnn.nn.load_module_from_file(path, inputs, ["output", "h_n"])
        return module, inputs

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        F = self.mnn.expr
        module, inputs = self._module(problem)
        feeds: dict[str, Any] = {}
        x = np.ascontiguousarray(problem.x, np.float32)
        feeds["x"] = F.const(x, list(x.shape))
        if problem.lengths is not None:
            lengths = np.ascontiguousarray(problem.lengths, np.int32)
            feeds["lengths"] = F.const(lengths, list(lengths.shape), F.NCHW, F.int)
        if problem.h0 is not None:
            h0 = np.ascontiguousarray(problem.h0, np.float32)
            feeds["h0"] = F.const(h0, list(h0.shape))
        with _quiet_fds():
            result = module.forward([feeds[n] for n in inputs])
        if len(result) != 2:
            raise RuntimeError(
                f"{self.name}: MNN's module returned {len(result)} outputs instead of 2 "
                "(its shape computation failed; MNN prints why on stderr)"
            )
        output, h_n = (np.array(r.read(), np.float64) for r in result)
        return Outputs(output, h_n)

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")
