"""``openvino-nncf-int8``: NNCF's int8 weight compression leaves an OpenVINO GRUSequence's weights
in f32, so the target is unavailable with that reason (gruverify/targets/nncf_quantized.py).
Runs where nncf is installed (.venv-nncf, scripts/library_envs.sh); skipped elsewhere."""

from __future__ import annotations

import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf", reason="nncf is an optional dependency (.venv-nncf)")

from gruverify.targets.errors import TargetError
from gruverify.targets.nncf_quantized import compressed_gru_constants


@pytest.mark.parametrize("mode", ["INT8_ASYM", "INT8_SYM"])
def test_compress_weights_leaves_the_gru_sequence_in_f32(mode: str) -> None:
    types, compressed, versions = compressed_gru_constants(mode)
    assert types.count("f32") >= 3, (types, versions)  # W, R and B at least
    assert compressed == [], (compressed, versions)


def test_the_target_is_unavailable_with_the_reason() -> None:
    from gruverify.targets.library_targets import LIBRARY_TARGETS

    factory, _ = LIBRARY_TARGETS["openvino-nncf-int8"]
    with pytest.raises(TargetError, match="compresses no weight of a GRUSequence"):
        factory("cpu", None)


def test_the_same_call_compresses_a_matmul() -> None:
    """The control: ``compress_weights`` in the same mode does compress a MatMul's weight, so an
    f32 GRUSequence is its choice, not a call that does nothing."""
    import nncf
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter(ov.PartialShape([-1, 64]), ov.Type.f32, name="x")
    w = ops.constant(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
    model = ov.Model([ops.matmul(x, w, False, True).output(0)], [x], "matmul")
    compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    types = {op.get_output_element_type(0).get_type_name() for op in compressed.get_ops()
             if op.get_type_name() == "Constant"}  # fmt: skip
    assert "u8" in types, types
