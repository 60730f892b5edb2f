"""``tflite-dynamic-int8``: TFLite's dynamic-range quantization of a Keras GRU (int8 weights per
output channel where a tensor has 1024+ elements, int8 inputs quantized per row and call) passes
the checker on seeds 0-9 of the ci profile under its declared quantization, with the weights read
from the converted model, and fails without it (docs/error-model.md, "Declared quantization").
Runs in .venv-tf (KERAS_BACKEND=tensorflow); skipped elsewhere."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="tensorflow is an optional dependency (.venv-tf)")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is an optional dependency (.venv-tf)")
if os.environ.get("KERAS_BACKEND") != "tensorflow":
    pytest.skip("Keras must run on TensorFlow here (KERAS_BACKEND=tensorflow)",
                allow_module_level=True)  # fmt: skip

from cli_support import run_main
from test_targets_external import make_problem

from gruverify.error_model import default_model
from gruverify.laws.base import LawViolation
from gruverify.laws.equivalence import law_forward_equivalence
from gruverify.targets.tflite_quantized import (
    TFLiteDynamicInt8Target,
    int8_tensors,
)
from gruverify.targets.tflite_target import convert_keras_gru_to_tflite

CHECKS = ("forward[multilayer]", "forward[bidirectional]")


@pytest.fixture(scope="module")
def target() -> TFLiteDynamicInt8Target:
    return TFLiteDynamicInt8Target()


def _row_quantized(v: np.ndarray) -> np.ndarray:
    """TFLite's asymmetric int8 input quantization of each row (``asymmetric_quantize_inputs``):
    range ``[min(v, 0), max(v, 0)]``, step ``range / 255``, an integer zero point, dequantized."""
    out = np.zeros_like(v)
    for i, row in enumerate(np.asarray(v, np.float32)):
        lo, hi = min(float(row.min()), 0.0), max(float(row.max()), 0.0)
        if hi > lo:
            s = np.float32((hi - lo) / 255.0)
            zp = np.clip(np.round(-128 - lo / s), -128, 127)
            out[i] = s * (np.clip(np.round(row / s) + zp, -128, 127) - zp)
    return out


@pytest.mark.parametrize(("I", "H"), [(32, 64), (3, 64), (19, 18), (21, 16)])
def test_its_arithmetic_is_the_declared_one(
    target: TFLiteDynamicInt8Target, I: int, H: int
) -> None:
    """A numpy GRU on the weights read from the model, with each product's float operand
    quantized per row where its weight tensor is int8 (3 H I >= 1024 for the input product, 3 H H
    for the recurrent one), matches the interpreter to float32 rounding; the float model does
    not where anything is quantized."""
    problem = make_problem(I, H, T=6, B=3, seed=5)
    got = target.forward(problem).output
    eff = target.effective_params(problem.params)
    c = eff.cell(0)
    quant_x, quant_h = 3 * H * I >= 1024, 3 * H * H >= 1024

    def run(quantize: bool) -> np.ndarray:
        h, outs = np.asarray(problem.h0[0], np.float64), []
        for x in problem.x:
            xq = _row_quantized(x) if quantize and quant_x else x
            hq = _row_quantized(h) if quantize and quant_h else h
            r = 1 / (1 + np.exp(-(xq @ c.W_ir.T + c.b_ir + hq @ c.W_hr.T + c.b_hr)))
            z = 1 / (1 + np.exp(-(xq @ c.W_iz.T + c.b_iz + hq @ c.W_hz.T + c.b_hz)))
            n = np.tanh(xq @ c.W_in.T + c.b_in + r * (hq @ c.W_hn.T + c.b_hn))
            h = (1 - z) * n + z * h
            outs.append(h)
        return np.array(outs)

    assert np.max(np.abs(run(True) - got)) < 1e-6, np.max(np.abs(run(True) - got))
    drawn = dict(problem.params.named())
    moved = {k: float(np.max(np.abs(v - drawn[k]))) for k, v in eff.named()}
    if quant_x or quant_h:
        assert np.max(np.abs(run(False) - got)) > 1e-5
    assert (moved["l0.W_in"] > 1e-6) == quant_x, moved
    assert (moved["l0.W_hn"] > 1e-6) == quant_h, moved


def test_the_model_holds_int8_weights_per_output_channel() -> None:
    problem = make_problem(32, 64, T=2, B=1, seed=1)
    flat = convert_keras_gru_to_tflite(problem.params, True, (1, 2), initial_state=False,
                                       mask=False, weights_as_inputs=False, optimize=True)  # fmt: skip
    shapes = sorted((w.shape, scales.size) for _, w, scales in int8_tensors(flat))
    assert shapes == [((192, 32), 192), ((192, 64), 192)], shapes


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_passes_with_its_declared_quantization(
    capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    args = [a for c in CHECKS for a in ("--check", c)]
    code, out, err = run_main(capsys, "check", "tflite-dynamic-int8", "--profile", "ci",
                              "--seed", str(seed), "--no-isolate", *args)  # fmt: skip
    assert code == 0, out + err
    assert "quantized: int8 weights per channel" in out, out


@pytest.mark.parametrize(("I", "H", "seed"), [(32, 64, 0), (17, 33, 1), (64, 24, 2)])
def test_fails_without_it(target: TFLiteDynamicInt8Target, I: int, H: int, seed: int) -> None:
    """Undeclared (plain float32) the same model fails forward equivalence where the converter
    quantized it; declared it passes. (The ci profile draws sizes up to 33, mostly below the
    converter's 1024-element minimum, so its checks run this target mostly in float: undeclared
    it passes ``forward[multilayer]`` on seeds 0-2; the quantized sizes are calibrated in
    docs/error-model.md.)"""
    problem = make_problem(I, H, T=9, B=3, seed=seed)
    undeclared = TFLiteDynamicInt8Target(declare=False)
    with pytest.raises(LawViolation, match="forward equivalence"):
        law_forward_equivalence(undeclared, problem, default_model(undeclared))
    law_forward_equivalence(target, problem, default_model(target))


def test_what_it_lacks(target: TFLiteDynamicInt8Target) -> None:
    assert set(target.capabilities.missing) == {"gradients", "unbatched", "dropout"}
