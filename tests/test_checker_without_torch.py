"""The checker's own process needs no torch when its target runs in a worker (issue 13: the
default check's speed; a second ``import torch`` cost about 1.3 s of CPU).

The worker that builds the target on the CPU says which devices torch sees there
(``devices_seen``), so the run finds CUDA without importing torch itself; a worker whose target
never imported torch says nothing, and the checker asks its own torch as before.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gruverify.conformance import building, run_checks
from gruverify.conformance.building import Isolation, build_each
from gruverify.guard import CallLimits
from gruverify.isolation.client import close_all
from gruverify.targets import TargetError

pytest.importorskip("torch")

_PROBE = """
import json, sys
from gruverify.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "torch": "torch" in sys.modules}))
"""


def _cli(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, "check", "--profile", "quick", "--seed", "0", *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.stdout.strip(), out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_an_isolated_check_never_imports_torch_in_the_checker() -> None:
    """Law: with the target in a worker (the CLI's default), ``torch`` is not in the checker's
    ``sys.modules`` after a whole run of every check on torch.nn.GRU, and the run passes; in
    process (``--no-isolate``) it is (the probe can tell the two apart)."""
    isolated = _cli()
    assert isolated == {"code": 0, "torch": False}, isolated
    in_process = _cli("--no-isolate", "--check", "determinism")
    assert in_process == {"code": 0, "torch": True}, in_process


def _refuse_own_torch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def own() -> list[str]:
        calls.append(1)
        return ["cpu"]

    monkeypatch.setattr(building, "available_devices", own)
    return calls


def test_the_worker_says_which_devices_torch_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch target built in a worker reports the devices its torch sees; the run takes them
    from there and never asks this process's torch."""
    calls = _refuse_own_torch(monkeypatch)
    impls, results = build_each(
        "torch-gru", None, None, False, limits=CallLimits(), isolation=Isolation(True),
        skip_refused=True,
    )  # fmt: skip
    try:
        import torch

        expected = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        assert getattr(impls["cpu"], "devices_seen", None) == expected
        assert sorted(impls) == sorted(expected) and not results and not calls
    finally:
        close_all(list(impls.values()))


def test_a_worker_without_torch_leaves_the_devices_to_the_checker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The numpy reference's worker never imports torch: it reports no devices, and the checker
    finds them itself (once)."""
    calls = _refuse_own_torch(monkeypatch)
    report = run_checks("numpy-reference", checks=["determinism"], isolate=True)
    assert report.verdict == "pass" and report.devices == ["cpu"], report.render()
    assert calls == [1]


def test_a_pretended_cuda_device_is_built_after_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """No device named: the CPU first, then each device found (here a pretended CUDA that the
    CPU-only target refuses: one skipped result); a named list is built as given."""
    monkeypatch.setattr(building, "available_devices", lambda: ["cpu", "cuda"])
    built: list[str] = []

    def one(target: str, device: str, *args: object) -> object:
        built.append(device)
        if device != "cpu":
            raise TargetError(f"not on {device}")
        return object()

    monkeypatch.setattr(building, "build_one", one)
    impls, results = build_each(
        "x", None, None, False, limits=CallLimits(), isolation=Isolation(), skip_refused=True
    )
    assert built == ["cpu", "cuda"] and list(impls) == ["cpu"]
    assert results["cuda"].status == "skipped" and "not on cuda" in results["cuda"].message
    built.clear()
    with pytest.raises(TargetError, match="not on cuda"):
        build_each("x", ["cuda", "cpu"], None, False, limits=CallLimits(), isolation=Isolation(),
                   skip_refused=False)  # fmt: skip
    assert built == ["cuda"]
