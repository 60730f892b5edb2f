"""``torch-dynamic-int8``: torch.ao's dynamic int8 GRU passes the checker on seeds 0-9 of the ci
profile under its declared quantization, and fails without it (docs/error-model.md, "Declared
quantization"). Affordable: the three checks that cover the quantization's reach (a stack through
``forward[multilayer]``, the batch coupling through batch independence and lengths truncation)."""

from __future__ import annotations

import warnings

import pytest
from cli_support import run_main

from gruverify.conformance import run_checks

pytest.importorskip("torch")
warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")

from gruverify.targets.torch_quantized import TorchDynamicInt8Target  # noqa: E402

CHECKS = ("forward[multilayer]", "batch independence", "lengths truncation")


@pytest.mark.parametrize("seed", range(10))
def test_passes_with_its_declared_quantization(
    capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    args = [a for c in CHECKS for a in ("--check", c)]
    code, out, err = run_main(capsys, "check", "torch-dynamic-int8", "--profile", "ci",
                              "--seed", str(seed), "--no-isolate", *args)  # fmt: skip
    assert code == 0, out + err
    assert "quantized: int8 weights per tensor" in out, out
    assert out.count("judged within the declared quantization tolerance") == 2, out


@pytest.mark.parametrize("seed", range(10))
def test_fails_without_it(seed: int) -> None:
    report = run_checks(TorchDynamicInt8Target(declare=False), device="cpu", profile="ci",
                        seed=seed, checks=["forward[multilayer]"])  # fmt: skip
    [result] = report.checks
    assert result.status == "failed", result
    assert "forward equivalence violated" in result.message


def test_what_it_lacks() -> None:
    missing = TorchDynamicInt8Target().capabilities.missing
    assert set(missing) == {"gradients", "bias_false", "unbatched", "dropout"}
