"""Built-in targets from other libraries: ONNX export, Keras 3, Flax. Factories import lazily.

Each factory takes ``(device, dtype)`` like the registry's (``dtype`` None: the target's default)
and imports its library only when called, so ``gruverify targets`` lists these without onnx, keras
or flax installed; a missing library or an unsupported dtype/device raises ``TargetError``.
"""

from __future__ import annotations

from collections.abc import Callable

from gruverify.core.problem import Implementation
from gruverify.targets.errors import TargetError

__all__ = ["EXTERNAL_TARGETS"]


def _float32_cpu(name: str, device: str, dtype: str | None) -> None:
    if dtype not in (None, "float32"):
        raise TargetError(f"{name} runs float32 only, not {dtype}")
    if device != "cpu":
        raise TargetError(f"{name} runs on the cpu only, not {device}")


def _onnx(exporter: str) -> Callable[[str, str | None], Implementation]:
    def factory(device: str, dtype: str | None) -> Implementation:
        _float32_cpu(f"onnx-{exporter}", device, dtype)
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise TargetError(f"onnx-{exporter} needs onnx and onnxruntime: {e}") from e
        from gruverify.targets.onnx_export import OnnxExportTarget

        return OnnxExportTarget("dynamo" if exporter == "dynamo" else "torchscript")

    return factory


def _keras(reset_after: bool) -> Callable[[str, str | None], Implementation]:
    def factory(device: str, dtype: str | None) -> Implementation:
        from gruverify.targets.keras_target import KerasGRUTarget

        return KerasGRUTarget(reset_after, dtype=dtype or "float32", device=device)

    return factory


def _flax(kind: str) -> Callable[[str, str | None], Implementation]:
    def factory(device: str, dtype: str | None) -> Implementation:
        from gruverify.targets.flax_target import FlaxGRUCellTarget

        return FlaxGRUCellTarget(
            "nnx" if kind == "nnx" else "linen", dtype=dtype or "float32", device=device
        )

    return factory


EXTERNAL_TARGETS: dict[str, tuple[Callable[[str, str | None], Implementation], str]] = {
    "onnx-torchscript": (
        _onnx("torchscript"),
        "torch.nn.GRU -> torch.onnx.export(dynamo=False) -> onnxruntime; float32, forward only",
    ),
    "onnx-dynamo": (
        _onnx("dynamo"),
        "torch.nn.GRU -> torch.onnx.export(dynamo=True) -> onnxruntime; float32, forward only, "
        "exported per sequence length (the dynamic time axis is broken), no lengths",
    ),
    "keras-reset-after": (
        _keras(True),
        "keras.layers.GRU(reset_after=True) stacks, torch backend; float32 (float64 by --dtype)",
    ),
    "keras-reset-before": (
        _keras(False),
        "keras.layers.GRU(reset_after=False) stacks, torch backend, judged as reset-before; "
        "float32",
    ),
    "flax-linen": (_flax("linen"), "flax.linen.GRUCell stepped over time (jax); float32"),
    "flax-nnx": (
        _flax("nnx"),
        "flax.nnx.GRUCell stepped over time (jax); float32; flax.nnx.GRUCell has no b_hn parameter",
    ),
}
"""Name -> (factory, description), merged into ``gruverify.targets.TARGETS``."""
