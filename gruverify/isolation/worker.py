"""The worker process: builds the target and runs its calls for a checker in another process.

Started by ``gruverify.isolation.client`` as ``PYTHON -m gruverify.isolation.worker``; speaks
``gruverify.isolation.protocol`` on the pipes it was given as stdin and stdout (which it then
points at /dev/null and stderr, so the target's prints cannot corrupt the protocol). It builds
targets with ``resolve_target`` and runs every call under ``Guarded`` without a time limit (the
checker enforces time by killing this process): the target's exceptions, law violations of the
guard (global state, inputs modified, output contract) and ``SystemExit`` come back as data.

Set up before anything else: ``faulthandler`` (a segmentation fault or abort prints the Python
stack to stderr, which the checker quotes), death with the checker (Linux ``PR_SET_PDEATHSIG``:
a worker never outlives the process that started it) and, with ``--memory-limit BYTES``, a
limit on the address space (``RLIMIT_AS``): an allocation beyond it fails with ``MemoryError``
instead of exhausting the machine.

Importing this module needs numpy and gruverify only (no torch, no hypothesis): the target's own
framework is imported when the target is built.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gruverify.core.devices import loaded_torch_devices
from gruverify.isolation.protocol import (
    PROTOCOL_VERSION,
    encode_exception,
    gruverify_version,
    read_frame,
    write_frame,
)

__all__ = ["describe", "main"]

_SIMPLE = (bool, int, float, str)


def _claim_pipes() -> tuple[int, int]:
    """The protocol's file descriptors; stdin becomes /dev/null and stdout goes to stderr."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return proto_in, proto_out


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - without prctl, EOF ends us
            pass
    if parent and os.getppid() != parent:  # the checker died before we got here
        os._exit(0)


def _limit_memory(limit: int) -> None:
    if limit <= 0:
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _hello() -> dict[str, Any]:
    return {
        "op": "hello", "protocol": PROTOCOL_VERSION, "gruverify": gruverify_version(),
        "python": sys.version.split()[0], "executable": sys.executable,
        "numpy": np.__version__, "pid": os.getpid(),
    }  # fmt: skip


_METHODS = ("with_dropout", "effective_params")
"""The optional ``Implementation`` methods a worker serves (``effective_params``: a quantized
target's dequantized weights, ``error_model.ErrorModel.effective``)."""


def describe(impl: Any) -> dict[str, Any]:
    """What the checker needs to know of a built target: the ``Implementation`` attributes, its
    arithmetic (every field: the declared accumulator and activation error too), its optional
    methods and its other simple public attributes."""
    import dataclasses

    from gruverify.error_model import arithmetic_of

    a = arithmetic_of(impl)
    attributes = {}
    for name in dir(impl):
        if name.startswith("_") or name in ("name", "variant", "dtype", "device"):
            continue
        try:
            value = getattr(impl, name)
        except Exception:
            continue
        if isinstance(value, _SIMPLE) and not callable(value):
            attributes[name] = value
    return {
        "name": impl.name, "variant": impl.variant, "dtype": impl.dtype,
        "device": str(impl.device), "missing": dict(impl.capabilities.missing),
        "arithmetic": dataclasses.asdict(a),
        "methods": [m for m in _METHODS if callable(getattr(impl, m, None))],
        # the devices torch sees here when the target imported it (else None: the checker finds
        # them itself), so that the checker's process need not import torch to know
        "attributes": attributes, "devices": loaded_torch_devices(),
        **_fixed(impl),
    }  # fmt: skip


def _fixed(impl: Any) -> dict[str, Any]:
    """The weights the target fixes (``fixed_params``: a model file's GRU) as a record, if any:
    the checker draws its cases with them."""
    from gruverify.core.params import StackParams, gru_params_to_record

    fixed = getattr(impl, "fixed_params", None)
    return {"fixed_params": gru_params_to_record(fixed)} if isinstance(fixed, StackParams) else {}


class _Session:
    """The targets built in this worker, by the checker's handle."""

    def __init__(self) -> None:
        self.guarded: dict[int, Any] = {}

    def build(self, msg: dict[str, Any]) -> dict[str, Any]:
        from gruverify.guard import Guarded
        from gruverify.targets.declaration import Declaration
        from gruverify.targets.resolve import resolve_target

        for entry in reversed(msg.get("path") or []):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        declaration = Declaration.from_record(msg.get("declaration") or {}, "build message")
        impl = resolve_target(
            msg["target"], device=msg["device"], dtype=msg.get("dtype"), declaration=declaration
        )
        if msg.get("dropout") is not None:
            impl = impl.with_dropout(msg["dropout"])  # type: ignore[attr-defined]
        self.guarded[int(msg["handle"])] = Guarded(impl, timeout=None)
        return {**describe(impl), "declaration": declaration.to_record()}

    def handle(self, msg: dict[str, Any]) -> Any:
        op = msg.get("op")
        if op == "build":
            return self.build(msg)
        impl = self.guarded[int(msg["handle"])]
        if op == "forward":
            return impl.forward(msg["problem"])
        if op == "gradients":
            return impl.gradients(msg["problem"], msg.get("d_output"), msg.get("d_h_n"))
        if op == "effective_params":  # a quantized target's dequantized weights of the params
            return impl.effective_params(msg["problem"].params)
        raise ValueError(f"unknown request {op!r}")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gruverify.isolation.worker")
    parser.add_argument("--memory-limit", type=int, default=0, metavar="BYTES")
    parser.add_argument("--parent", type=int, default=0, metavar="PID")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve requests until ``exit`` or the end of input; returns the exit status."""
    args = _parse(argv)
    proto_in, proto_out = _claim_pipes()
    faulthandler.enable()
    _die_with_parent(args.parent)
    _limit_memory(args.memory_limit)
    write_frame(proto_out, _hello())
    session = _Session()
    while True:
        try:
            msg = read_frame(proto_in)
        except EOFError:
            return 0
        if msg.get("op") == "exit":
            return 0
        try:
            reply = {"ok": session.handle(msg)}
        except BaseException as e:  # SystemExit from the target too: it is the checker's news
            reply = {"error": encode_exception(e)}
        write_frame(proto_out, reply)


if __name__ == "__main__":
    sys.exit(main())
