"""Metamorphic laws on the numpy and torch references (item 2f).

The implementation-level laws live in gruverify.laws.metamorphic (h0 = None equals zeros, batch
permutation and independence, chunked continuation, reverse = flip-forward-flip, layer stacking,
padded batch with lengths = each sequence alone, determinism, ...); each is drawn here with a
configuration that fits it, so no example is wasted. The laws that need the cell or the gates --
the sequence equals the unrolled cell, a closed reset gate removes h from the candidate -- are in
test_gates.py (gruverify.laws.gates).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from property_support import CUDA, run_law

import gruverify.laws.metamorphic as metamorphic
from gruverify.profiles import examples
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.strategies import cases, configs, variants

BASE = {"max_steps": 40, "max_size": 12, "max_batch": 4, "work": 60}
LAWS = {
    "law_h0_none_is_zeros": {},
    "law_batch_independence": {"unbatched": False},
    "law_chunked_continuation": {"bidirectional": False, "min_steps": 2},
    "law_direction_alignment": {"bidirectional": True},
    "law_layer_stacking": {"min_layers": 2, "max_steps": 12},
    "law_lengths_truncation": {"always_padded": True},
    "law_batch_first_equals_time_major": {"unbatched": False},
    "law_deterministic": {},
    "law_carry_over": {"no_bias": False},
}
CUDA_MARKS = [pytest.mark.cuda, CUDA]
TARGETS = [
    pytest.param("numpy", "cpu", id="numpy-cpu"),
    pytest.param("torch-float64", "cpu", id="torch-float64-cpu"),
    pytest.param("torch-float32", "cpu", id="torch-float32-cpu"),
    pytest.param("torch-float64", "cuda", id="torch-float64-cuda", marks=CUDA_MARKS),
    pytest.param("torch-float32", "cuda", id="torch-float32-cuda", marks=CUDA_MARKS),
]
IMPLS = {
    "numpy": lambda variant, device: NumpyReference(variant),
    "torch-float64": lambda variant, device: TorchReference(variant, "float64", device),
    "torch-float32": lambda variant, device: TorchReference(variant, "float32", device),
}


def _make_test(law_name: str):
    strategy = cases(configs(**{**BASE, **LAWS[law_name]}))
    law = getattr(metamorphic, law_name, None)
    missing = pytest.mark.skipif(
        law is None, reason=f"{law_name} is not in gruverify.laws.metamorphic (yet)"
    )

    @missing
    @pytest.mark.parametrize(("impl_name", "device"), TARGETS)
    @settings(max_examples=examples(6))
    @given(case=strategy, variant=variants())
    def test(device, impl_name, case, variant) -> None:
        run_law(law, IMPLS[impl_name](variant, device), case.problem)

    test.__name__ = f"test_{law_name.removeprefix('law_')}"
    return test


for _name in LAWS:
    globals()[f"test_{_name.removeprefix('law_')}"] = _make_test(_name)
