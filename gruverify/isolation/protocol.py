"""The isolation protocol: what the checker and its worker process say to each other.

Every message is one frame on a pipe::

    b"GRUV"  u16 protocol version  u32 header length  u64 data length  header  data

(integers big-endian). The header is JSON, ``{"message": ..., "arrays": [[dtype, shape], ...]}``;
each numpy array in the message is ``{"__nd__": i}`` there and its bytes are the ``i``-th slice of
the data (C order). An array that is a view of a larger buffer (``core.memory.layout_of``: a
transposed view, a slice past its buffer's start, an expanded state) travels as its buffer with
``{"__view__": i, "shape": ..., "strides": ..., "offset": ...}`` (in elements) and arrives as the
same view, so a target that presents its inputs' memory layout does so in a worker too. A
``StackParams`` is one array of all its parameters (``named()`` order) with
their shapes (``{"__stack__": i, "cell": ..., "bias": ..., "dirs": ..., "shapes": [...]}``);
``Problem``, ``Outputs``, ``Gradients`` travel as ``{"__dc__": name, "fields": {...}}``, tuples
as ``{"__tuple__": [...]}``; nothing is pickled, so either side may run another Python, numpy or
framework version.

The worker speaks first (``hello``: its protocol version, gruverify's version, Python's and
numpy's); a frame of another protocol version, or bytes that are not a frame, are refused with
``ProtocolMismatch`` / ``ProtocolError`` naming both sides. Requests (``op``): ``build``,
``forward``, ``gradients``, ``exit``; replies hold ``ok`` (the result) or ``error`` (an
exception as data: ``encode_exception`` / ``decode_exception``; a crash keeps its traceback,
trimmed in the worker to the target's own frames, as text). ``PROTOCOL_VERSION`` changes
whenever a message changes meaning; both sides must have the same.

This module and ``worker`` import numpy and ``gruverify.core`` only (no torch, no hypothesis), so
a worker's environment needs numpy, gruverify (``pip install --no-deps``) and the framework.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import math
import os
import select
import struct
import time
from typing import Any

import numpy as np

from gruverify.core.memory import layout_of, view
from gruverify.core.params import GRUCellParams, RNNCellParams, StackParams
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.core.tracebacks import trimmed_traceback

__all__ = [
    "MAGIC",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "ProtocolMismatch",
    "RemoteError",
    "decode",
    "decode_exception",
    "encode",
    "encode_exception",
    "gruverify_version",
    "read_frame",
    "write_frame",
]

PROTOCOL_VERSION = 2
"""The version of the frames and messages below; worker and checker must speak the same."""

MAGIC = b"GRUV"
_HEAD = struct.Struct(">4sHIQ")

_CLASSES: dict[str, type] = {
    c.__name__: c for c in (Problem, Outputs, Gradients, StackParams, GRUCellParams, RNNCellParams)
}


def gruverify_version() -> str:
    """The installed gruverify's version (``"unknown"`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gruverify")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol."""


class ProtocolMismatch(ProtocolError):
    """The other side speaks another version of the protocol."""

    def __init__(self, version: int) -> None:
        super().__init__(f"protocol {version}, expected {PROTOCOL_VERSION}")
        self.version = version


class RemoteError(Exception):
    """An exception raised in the worker whose type is not a Python builtin: its type's name and
    module are kept (``type(e).__name__`` reads as the original's)."""


_FIELDS: dict[type, tuple[str, ...]] = {
    c: tuple(f.name for f in dataclasses.fields(c)) for c in _CLASSES.values()
}


def _encode_stack(v: StackParams[Any], arrays: list[np.ndarray]) -> Any:
    """A parameter stack as one float array (``named()`` order) and the shapes to cut it."""
    values = [np.asarray(a) for _, a in v.named()]
    if not all(a.dtype == values[0].dtype for a in values):  # pragma: no cover - mixed dtypes
        fields = {"cells": _encode(v.cells, arrays), "bias": v.bias}
        return {"__dc__": "StackParams", "fields": fields}
    arrays.append(np.concatenate([a.ravel() for a in values]))
    return {
        "__stack__": len(arrays) - 1, "cell": type(v.cells[0][0]).__name__, "bias": v.bias,
        "dirs": v.num_directions, "shapes": [list(a.shape) for a in values],
    }  # fmt: skip


def _encode(v: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(v, np.ndarray):
        layout = layout_of(v)
        if layout is not None:
            arrays.append(layout.buffer)
            return {"__view__": len(arrays) - 1, "shape": list(layout.shape),
                    "strides": list(layout.strides), "offset": layout.offset}  # fmt: skip
        arrays.append(v)
        return {"__nd__": len(arrays) - 1}
    if isinstance(v, StackParams):
        return _encode_stack(v, arrays)
    fields = _FIELDS.get(type(v))
    if fields is not None:
        encoded = {name: _encode(getattr(v, name), arrays) for name in fields}
        return {"__dc__": type(v).__name__, "fields": encoded}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(x, arrays) for x in v]}
    if isinstance(v, list):
        return [_encode(x, arrays) for x in v]
    if isinstance(v, dict):
        return {str(k): _encode(x, arrays) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _decode_stack(v: dict[str, Any], buffers: list[np.ndarray]) -> StackParams[Any]:
    flat, cell = buffers[v["__stack__"]], _CLASSES[v["cell"]]
    names, per_cell = cell.names, len(cell.names)  # type: ignore[attr-defined]
    values, offset = [], 0
    for shape in v["shapes"]:
        size = math.prod(shape)
        values.append(flat[offset : offset + size].reshape(shape))
        offset += size
    cells = [cell(**dict(zip(names, values[k : k + per_cell], strict=True)))
             for k in range(0, len(values), per_cell)]  # fmt: skip
    dirs = int(v["dirs"])
    rows = tuple(tuple(cells[k : k + dirs]) for k in range(0, len(cells), dirs))
    return StackParams(rows, bias=bool(v["bias"]))


def _decode(v: Any, buffers: list[np.ndarray]) -> Any:
    if isinstance(v, list):
        return [_decode(x, buffers) for x in v]
    if not isinstance(v, dict):
        return v
    if "__nd__" in v:
        return buffers[v["__nd__"]]
    if "__view__" in v:
        shape, strides = tuple(v["shape"]), tuple(v["strides"])
        return view(buffers[v["__view__"]], shape, strides, int(v["offset"]))
    if "__stack__" in v:
        return _decode_stack(v, buffers)
    if "__tuple__" in v:
        return tuple(_decode(x, buffers) for x in v["__tuple__"])
    if "__dc__" in v:
        cls = _CLASSES.get(v["__dc__"])
        if cls is None:
            raise ProtocolError(f"unknown class {v['__dc__']!r} in a message")
        return cls(**{k: _decode(x, buffers) for k, x in v["fields"].items()})
    return {k: _decode(x, buffers) for k, x in v.items()}


def encode(message: Any) -> bytes:
    """``message`` (JSON-like, with arrays and the classes above) as one frame."""
    arrays: list[np.ndarray] = []
    tree = _encode(message, arrays)
    header = json.dumps(
        {"message": tree, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}
    ).encode()
    data = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    return _HEAD.pack(MAGIC, PROTOCOL_VERSION, len(header), len(data)) + header + data


def decode(header: bytes, data: bytes) -> Any:
    """The message of one frame's header and data (its arrays writable, sharing one copy of
    the data)."""
    tree = json.loads(header)
    writable = bytearray(data)
    buffers, offset = [], 0
    for dtype_str, shape in tree["arrays"]:
        dtype = np.dtype(dtype_str)
        count = math.prod(shape)
        buffers.append(
            np.frombuffer(writable, dtype=dtype, count=count, offset=offset).reshape(shape)
        )
        offset += count * dtype.itemsize
    return _decode(tree["message"], buffers)


def write_frame(fd: int, message: Any) -> None:
    """Write ``message`` as one frame to the file descriptor ``fd``."""
    view = memoryview(encode(message))
    while view:
        view = view[os.write(fd, view) :]


def _read(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> Any:
    """The next message on ``fd``. ``deadline`` (``time.monotonic()``): ``TimeoutError`` after it;
    ``EOFError`` when the other side closed the pipe (or died); ``ProtocolMismatch`` for a frame
    of another version; ``ProtocolError`` for bytes that are not a frame."""
    head = _read(fd, _HEAD.size, deadline)
    magic, version, header_len, data_len = _HEAD.unpack(head)
    if magic != MAGIC:
        raise ProtocolError(f"not a gruverify frame: {head[:16]!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolMismatch(version)
    header = _read(fd, header_len, deadline)
    return decode(header, _read(fd, data_len, deadline) if data_len else b"")


def encode_exception(e: BaseException) -> dict[str, Any]:
    """An exception as data: a law violation keeps its parts, others their type, message and
    traceback (trimmed to the target's own frames, ``core.tracebacks``)."""
    law = getattr(e, "law", None)
    if isinstance(e, AssertionError) and isinstance(law, str):
        parts = {k: getattr(e, k, "") for k in ("law", "formula", "detail", "case")}
        return {"kind": "violation", **parts, "numbers": getattr(e, "numbers", {}) or {}}
    return {"kind": "exception", "type": type(e).__name__, "module": type(e).__module__,
            "message": str(e), "traceback": getattr(e, "gruverify_traceback", None)
            or trimmed_traceback(e)}  # fmt: skip


def decode_exception(
    data: dict[str, Any], violation: type[Exception], known: dict[str, type[Exception]]
) -> Exception:
    """The exception ``encode_exception`` described: a ``violation`` (the law-violation class,
    given by the caller), one of ``known`` (by ``"module.Name"``: gruverify's own exceptions), a
    builtin exception of the same type, or a ``RemoteError`` subclass named like the original;
    the worker's trimmed traceback is its ``gruverify_traceback`` attribute (text)."""
    if data.get("kind") == "violation":
        e: Exception = violation(
            data["law"], data["formula"], data["detail"], data["numbers"], data["case"]
        )
        return e
    name, module = str(data.get("type", "Exception")), str(data.get("module", "remote"))
    message = str(data.get("message", ""))
    cls = known.get(f"{module}.{name}")
    if cls is None and module == "builtins":
        found = getattr(builtins, name, None)
        cls = found if isinstance(found, type) and issubclass(found, Exception) else None
    e = _rebuilt(cls, name, module, message)
    if data.get("traceback"):
        e.gruverify_traceback = str(data["traceback"])  # type: ignore[attr-defined]
    return e


def _rebuilt(cls: type[Exception] | None, name: str, module: str, message: str) -> Exception:
    if cls is not None:
        try:
            return cls(message)
        except Exception:  # a builtin with another constructor (UnicodeDecodeError, ...)
            pass
    remote: type[Exception] = type(name, (RemoteError,), {"__module__": module})
    return remote(message)
