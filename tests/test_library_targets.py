"""The issue-15 library targets by name: each factory builds its target or refuses with a
``TargetError`` that says what is missing (never an ImportError), and the built target carries the
name it is registered under, its variant and a reason for every missing feature."""

from __future__ import annotations

import os

import pytest

from gruverify.core.problem import Implementation
from gruverify.targets.errors import TargetError
from gruverify.targets.library_targets import LIBRARY_OF, LIBRARY_TARGETS
from gruverify.targets.torch_module import FEATURES

KERAS_TF = ("keras-tensorflow", "tflite", "tf2onnx", "tflite-dynamic-int8")


def test_every_target_names_its_library() -> None:
    assert set(LIBRARY_OF) == set(LIBRARY_TARGETS)
    assert len(LIBRARY_TARGETS) == 23
    assert {"tvm", "mindspore", "jittor"} <= set(LIBRARY_TARGETS)


@pytest.mark.parametrize("name", sorted(LIBRARY_TARGETS))
def test_factory_builds_or_refuses_with_a_reason(name: str) -> None:
    factory, description = LIBRARY_TARGETS[name]
    assert description
    if name in KERAS_TF and os.environ.get("KERAS_BACKEND") != "tensorflow":
        pytest.skip(f"{name} would make keras TensorFlow for this process (KERAS_BACKEND unset)")
    try:
        impl = factory("cpu", None)
    except TargetError as e:
        assert str(e), name
        pytest.skip(f"{name}: {e}")
    assert isinstance(impl, Implementation)
    assert impl.name == name
    assert impl.variant in ("reset_after", "reset_before")
    assert impl.dtype == "float32"
    for feature, reason in impl.capabilities.missing.items():
        assert feature in FEATURES and reason, (name, feature)


@pytest.mark.parametrize("name", sorted(LIBRARY_TARGETS))
def test_an_unsupported_device_is_refused(name: str) -> None:
    if name in KERAS_TF and os.environ.get("KERAS_BACKEND") != "tensorflow":
        pytest.skip(f"{name} would make keras TensorFlow for this process (KERAS_BACKEND unset)")
    with pytest.raises(TargetError):
        LIBRARY_TARGETS[name][0]("tpu", None)
