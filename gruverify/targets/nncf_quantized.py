"""``openvino-nncf-int8``: NNCF's int8 weight compression of an OpenVINO GRU, which compresses
nothing of a ``GRUSequence``, so the target is unavailable, with the measured reason.

``nncf.compress_weights(model, mode=INT8_ASYM or INT8_SYM)`` (NNCF's weight-only quantization, the
path its documentation gives for OpenVINO models) compresses the weights of the ops its OpenVINO
backend lists as weighted: ``MatMul`` (and grouped MatMul), ``Convolution`` and embeddings
(``WeightCompressionAlgoBackend.matmul_metatypes`` / ``convolution_metatypes`` /
``embedding_metatypes`` of ``nncf.quantization.algorithms.weight_compression.openvino_backend``);
``GRUSequence`` is not among them. Measured (nncf 3.4.0, openvino 2026.4.1): the
``GRUSequence`` model of the ``openvino`` target (``build_openvino_gru_model``, 64 inputs, 128
units) comes back with every constant in f32 and a bit-width table with no layer in it, in both
modes. NNCF's static post-training quantization (``nncf.quantize``) is another path: its MinMax
algorithm puts a ``GRUSequence`` with ``linear_before_reset=True`` (the reset-after GRU of
PyTorch, ONNX exports and Keras) on its ignored list
(``OVMinMaxAlgoBackend.get_ignored_names_by_layer_attributes``), and quantizes activations with
scales fixed by a calibration set, which the declared (dynamic) quantization does not model.

``openvino_nncf_int8_target`` checks the first on the installed versions (build, compress,
inspect: about 1 s) and raises ``TargetError`` with what it found; if a later NNCF compresses a
``GRUSequence`` the error says so (the target is then to be written).
"""

from __future__ import annotations

import logging
import warnings
from typing import NoReturn

import numpy as np

from gruverify.targets.errors import TargetError

__all__ = ["compressed_gru_constants", "openvino_nncf_int8_target"]


def compressed_gru_constants(mode: str = "INT8_ASYM") -> tuple[list[str], list[str], str]:
    """``(element types of the constants, of the constants that are not f32 or i64, versions)``
    of the ``openvino`` target's ``GRUSequence`` model (8 inputs, 32 units: 3 H I = 768 and
    3 H H = 3072 weights) after ``nncf.compress_weights(model, mode=mode)``."""
    import nncf
    import openvino

    from gruverify.core.params import random_gru_params
    from gruverify.targets.openvino_target import build_openvino_gru_model

    params = random_gru_params(8, 32, 1, False, True, rng=np.random.default_rng(0))
    model = build_openvino_gru_model(params, True)
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compressed = nncf.compress_weights(model, mode=getattr(nncf.CompressWeightsMode, mode))
    finally:
        logger.setLevel(level)
    types = [
        op.get_output_element_type(0).get_type_name()
        for op in compressed.get_ops()
        if op.get_type_name() == "Constant"
    ]
    versions = f"nncf {nncf.__version__}, openvino {openvino.__version__.split('-')[0]}"
    return types, [t for t in types if t not in ("f32", "i64", "i32")], versions


def openvino_nncf_int8_target(device: str, dtype: str | None) -> NoReturn:
    """Always a ``TargetError``: why NNCF's int8 weight compression gives no quantized GRU (module
    docstring), from what ``nncf.compress_weights`` does on this installation."""
    try:
        _, compressed, versions = compressed_gru_constants()
    except ImportError as e:
        raise TargetError(f"openvino-nncf-int8 needs nncf and openvino: {e}") from e
    if not compressed:
        raise TargetError(
            f"nncf.compress_weights(mode=INT8_ASYM) compresses no weight of a GRUSequence "
            f"({versions}: every constant stays f32; its OpenVINO backend compresses MatMul, "
            "Convolution and embedding weights only): nothing quantized to judge"
        )
    raise TargetError(
        f"nncf.compress_weights now compresses GRUSequence constants ({versions}: "
        f"{sorted(set(compressed))}); no target for it is written yet"
    )
