"""Wire format between the grader and the worker: length-prefixed frames of JSON + raw arrays.

A frame is ``!Q`` header length, the JSON header, then the arrays' bytes. Arrays anywhere in
the message are replaced in the JSON by ``{"__array__": i}`` and described in
``header["arrays"][i]`` (dtype, shape, nbytes). Nothing is ever unpickled: the grader decodes
only numbers of an allowed dtype, and checks that every size adds up before it trusts them.
"""

from __future__ import annotations

import json
import mmap
import struct
from typing import Any, BinaryIO

import numpy as np

ALLOWED_DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")
_LEN = struct.Struct("!Q")
MAX_HEADER_BYTES = 4 * 1024 * 1024


class ProtocolError(Exception):
    """The other side sent something that is not a valid frame."""


def _flatten(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        arrays.append(np.array(value, order="C", copy=True))
        return {"__array__": len(arrays) - 1}
    if isinstance(value, dict):
        return {str(k): _flatten(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flatten(v, arrays) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def encode(message: dict[str, Any]) -> bytes:
    arrays: list[np.ndarray] = []
    body = _flatten(message, arrays)
    header = {
        "body": body,
        "arrays": [{"dtype": a.dtype.name, "shape": list(a.shape), "nbytes": a.nbytes} for a in arrays],
    }
    head = json.dumps(header, allow_nan=True).encode()
    return b"".join([_LEN.pack(len(head)), head, *(a.tobytes() for a in arrays)])


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("the stream ended in the middle of a frame")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read one whole frame (prefix included) or raise EOFError / ProtocolError."""
    prefix = stream.read(_LEN.size)
    if not prefix:
        raise EOFError("no frame")
    if len(prefix) < _LEN.size:
        prefix += _read_exact(stream, _LEN.size - len(prefix))
    head = _read_exact(stream, _header_length(prefix))
    return prefix + head + _read_exact(stream, _arrays_size(head, max_bytes))


def _header_length(buffer) -> int:
    (head_len,) = _LEN.unpack_from(buffer)
    if head_len > MAX_HEADER_BYTES:
        raise ProtocolError(f"frame header of {head_len} bytes is larger than allowed")
    return head_len


def _arrays_size(head: bytes, max_bytes: int) -> int:
    """The bytes of arrays that follow a frame's header, checked against the cap."""
    try:
        header = json.loads(head)
        total = sum(int(a["nbytes"]) for a in header["arrays"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"unreadable frame header: {exc}") from None
    if total > max_bytes:
        raise ProtocolError(f"message of {total} bytes exceeds the cap of {max_bytes}")
    return total


def frame_size(buffer: bytes | bytearray, max_bytes: int) -> int | None:
    """The whole size of the frame at the start of `buffer`, or None while its header has
    not fully arrived (for a reader that gets frames in pieces, as the worker's host does)."""
    if len(buffer) < _LEN.size:
        return None
    head_len = _header_length(buffer)
    if len(buffer) < _LEN.size + head_len:
        return None
    return _LEN.size + head_len + _arrays_size(bytes(buffer[_LEN.size:_LEN.size + head_len]), max_bytes)


def decode(frame: bytes) -> dict[str, Any]:
    """Decode a frame, validating every array description against the bytes present."""
    (head_len,) = _LEN.unpack_from(frame)
    try:
        header = json.loads(frame[_LEN.size:_LEN.size + head_len])
        descriptions = header["arrays"]
        body = header["body"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"unreadable frame header: {exc}") from None
    offset = _LEN.size + head_len
    arrays = []
    for desc in descriptions:
        arrays.append(_array_from(desc, frame, offset))
        offset += int(desc["nbytes"])
    if offset != len(frame):
        raise ProtocolError("frame length does not match its array descriptions")
    return _unflatten(body, arrays)


def _array_from(desc: dict[str, Any], frame: bytes, offset: int) -> np.ndarray:
    dtype_name = desc.get("dtype")
    if dtype_name not in ALLOWED_DTYPES:
        raise ProtocolError(f"array dtype {dtype_name!r} is not a plain numeric dtype")
    shape = desc.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ProtocolError(f"bad array shape {shape!r}")
    dtype = np.dtype(dtype_name)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes != desc.get("nbytes") or offset + nbytes > len(frame):
        raise ProtocolError("array size does not match its shape and dtype")
    return np.frombuffer(frame, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset).reshape(shape).copy()


def _unflatten(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            index = value["__array__"]
            if not isinstance(index, int) or not 0 <= index < len(arrays):
                raise ProtocolError("reference to a missing array")
            return arrays[index]
        return {k: _unflatten(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_unflatten(v, arrays) for v in value]
    return value


class StageBoard:
    """Where a child notes what it is doing ("import mlp.py", "backward()"): memory it
    shares with the host, which reads it only to say where a call failed. (A message per
    stage would wake the host several times per call.)"""

    SIZE = 1024

    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, self.SIZE)  # anonymous and shared with forked children

    def write(self, text: str) -> None:
        data = text.encode("utf-8", errors="replace")[:self.SIZE - 4]
        self.memory[4:4 + len(data)] = data
        self.memory[0:4] = len(data).to_bytes(4, "big")

    def read(self) -> str | None:
        size = min(int.from_bytes(self.memory[0:4], "big"), self.SIZE - 4)
        return self.memory[4:4 + size].decode("utf-8", errors="replace") or None

    def clear(self) -> None:
        self.memory[0:4] = bytes(4)


def is_import_stage(stage) -> bool:
    """The child's stage while it imports the spec's code file ("import mlp.py")."""
    return isinstance(stage, str) and stage.startswith("import ") and stage.endswith(".py")
