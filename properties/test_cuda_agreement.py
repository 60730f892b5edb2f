"""CPU vs CUDA agreement of the torch reference (gruverify.laws.equivalence.law_device_agreement):
``|cpu - cuda|_inf <= tol_cpu + tol_cuda``, each tolerance from the error model of that device's
arithmetic (float32 on CUDA counts as TF32 while cuDNN's allow_tf32 is set). Skipped without CUDA.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_support import CUDA, cases_for, run_law

from gruverify.laws.equivalence import law_device_agreement
from gruverify.profiles import examples
from gruverify.reference.implementations import TorchReference
from gruverify.strategies import variants


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@settings(max_examples=examples(10))
@given(data=st.data(), variant=variants())
def test_torch_reference_cpu_equals_cuda(dtype, data, variant) -> None:
    case = data.draw(cases_for(dtype, max_steps=40, max_size=17, work=60), label="case")
    cpu = TorchReference(variant, dtype, "cpu")
    cuda = TorchReference(variant, dtype, "cuda")
    run_law(law_device_agreement, cpu, cuda, case.problem)
