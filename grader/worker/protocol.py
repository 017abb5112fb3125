"""What the grader and the worker say to each other, and how it travels.

The messages: the worker's `Hello`; a `Request` (one call) or a `Release` (end a
submission) from the grader, answered by a `Response` (how the call ended: a `Status`, the
value or error, the stage it was in, its output and times) or `Released`. A child sends
its host a ``{"result": ...}`` of the Response fields it knows. Every answer of the
worker is checked and capped on the grader's side (`Response.from_wire`): student code
may have replaced what sends it.

The wire: length-prefixed frames of JSON + raw arrays. A frame is ``!Q`` header length,
the JSON header, then the arrays' bytes. Arrays anywhere in the message are replaced in the
JSON by ``{"__array__": i}`` and described in ``header["arrays"][i]`` (dtype, shape,
nbytes). Nothing is ever unpickled: the grader decodes only numbers of an allowed dtype,
and checks that every size adds up before it trusts them.
"""

from __future__ import annotations

import dataclasses
import enum
import fcntl
import json
import math
import struct
from typing import Any, BinaryIO

import numpy as np

ALLOWED_DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")
_LEN = struct.Struct("!Q")
MAX_HEADER_BYTES = 4 * 1024 * 1024


PIPE_BYTES = 1 << 20  # a batch of examples is megabytes: through a default 64 KB pipe, a switch per 64 KB


def widen_pipe(fd: int) -> None:
    """Let the pipe of `fd` hold PIPE_BYTES (Linux's F_SETPIPE_SZ); where it may not (a
    smaller /proc/sys/fs/pipe-max-size, the user's pipe quota), it keeps its size."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:
        pass


class ProtocolError(Exception):
    """The other side sent something that is not a valid frame."""


# A batch of examples holds hundreds of arrays, and a frame crosses three processes: per
# array, numpy's `dtype.name` and `np.prod` took 14 of the 25 microseconds of an encode and
# a decode. Other dtypes than these keep their own name (the decoding side refuses them).
_DTYPE_NAMES = {np.dtype(name): name for name in ALLOWED_DTYPES}
_DTYPES = {name: np.dtype(name) for name in ALLOWED_DTYPES}
_PLAIN = (str, int, float, bool, type(None))  # exactly these types: numpy's float64 is a float too


def _dtype_name(dtype: np.dtype) -> str:
    return _DTYPE_NAMES.get(dtype) or dtype.name


def _flatten(value: Any, arrays: list[np.ndarray]) -> Any:
    kind = type(value)
    if kind is dict:
        return {str(k): _flatten(v, arrays) for k, v in value.items()}
    if kind is list:
        return [_flatten(v, arrays) for v in value]
    if kind in _PLAIN:
        return value
    if isinstance(value, np.ndarray):
        arrays.append(np.asarray(value, order="C"))  # a copy only if not contiguous: encode copies once
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
        "arrays": [{"dtype": _dtype_name(a.dtype), "shape": list(a.shape), "nbytes": a.nbytes} for a in arrays],
    }
    head = json.dumps(header, allow_nan=True).encode()
    return b"".join([_LEN.pack(len(head)), head, *(a.reshape(-1).view(np.uint8) for a in arrays)])


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


def _header(frame: bytes) -> tuple[Any, list, int]:
    """A frame's body (arrays still `{"__array__": i}`), its array descriptions and where
    the arrays begin."""
    (head_len,) = _LEN.unpack_from(frame)
    try:
        header = json.loads(frame[_LEN.size:_LEN.size + head_len])
        return header["body"], header["arrays"], _LEN.size + head_len
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"unreadable frame header: {exc}") from None


def routing(frame: bytes) -> Any:
    """A frame's message as its header holds it, each array still the `{"__array__": i}` it
    was sent as: what the worker's host reads of a request, which it passes on as it came
    to the child that decodes and checks it (a batch's hundreds of arrays cost the host
    3 ms a request to decode)."""
    return _header(frame)[0]


def decode(frame: bytes) -> dict[str, Any]:
    """Decode a frame, validating every array description against the bytes present."""
    body, descriptions, offset = _header(frame)
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
    dtype = _DTYPES[dtype_name]
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != desc.get("nbytes") or offset + nbytes > len(frame):
        raise ProtocolError("array size does not match its shape and dtype")
    return np.frombuffer(frame, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset).reshape(shape).copy()


def _unflatten(value: Any, arrays: list[np.ndarray]) -> Any:
    if type(value) in _PLAIN:
        return value
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


# ------------------------------------------------------------------ the messages

class Status(enum.StrEnum):
    """How a call ended."""

    OK = "ok"
    ERROR = "error"  # student code raised, or broke the contract (the error says which)
    CRASHED = "crashed"  # the child died, or the watchdog stopped it (a limit: `exit` says which)
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"  # the worker's answer, or its absence, made no sense


def _fields(message) -> dict[str, Any]:
    """A message's fields (not copied: arrays are not worth a deep copy)."""
    return {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}


def _without_defaults(message) -> dict[str, Any]:
    """A message's fields, but those that hold their default (an empty error, no output)."""
    def default(f):
        return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default

    return {f.name: getattr(message, f.name) for f in dataclasses.fields(message)
            if not _same(getattr(message, f.name), default(f))}


def _same(value, default) -> bool:
    if default is dataclasses.MISSING or isinstance(value, np.ndarray) or type(value) is not type(default):
        return value is default
    return value == default


@dataclasses.dataclass
class Hello:
    """The worker's first frame: it has started and preloaded torch."""

    torch: str
    pid: int
    uid: int

    def to_wire(self) -> dict[str, Any]:
        return {"hello": True, **_fields(self)}

    @staticmethod
    def is_one(body: Any) -> bool:
        return isinstance(body, dict) and bool(body.get("hello"))


@dataclasses.dataclass
class Request:
    """One call: operation `op` with `args` on the copy `submission` (a folder of the
    worker's workdir), run as `uid` (as root), within `timeout` seconds. `model` names the
    student's class, parameters, gradients and functions (spec.Contract.wire()). Calls of
    one `session` share a child."""

    op: str
    args: dict[str, Any]
    model: dict[str, Any]
    timeout: float
    submission: str
    session: str | None = None
    uid: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return _fields(self)

    @classmethod
    def from_wire(cls, body: Any) -> "Request":
        """The request of a frame from the grader (checked, so that a bad one is answered,
        not crashed on)."""
        kinds = {"op": str, "args": dict, "model": dict, "timeout": (int, float), "submission": str}
        if not isinstance(body, dict) or any(not isinstance(body.get(k), t) for k, t in kinds.items()):
            raise ProtocolError(f"not a request: {str(body)[:200]}")
        return cls(body["op"], body["args"], body["model"], float(body["timeout"]), body["submission"],
                   body.get("session"), body.get("uid"))


@dataclasses.dataclass
class Release:
    """End the submission `submission` (everything it started, its /tmp) before its copy goes."""

    submission: str

    def to_wire(self) -> dict[str, Any]:
        return {"release": self.submission}


def request_from_wire(body: Any) -> Request | Release:
    if isinstance(body, dict) and isinstance(body.get("release"), str):
        return Release(body["release"])
    return Request.from_wire(body)


@dataclasses.dataclass
class Released:
    """The answer to a Release: the submission is ended."""

    seconds: float

    def to_wire(self) -> dict[str, Any]:
        return {"released": True, "seconds": self.seconds}


# What the grader takes from an answer of the worker: student code runs in the child that
# wrote it and may have replaced the functions that send it, so every field is checked and
# every string capped by `Response.from_wire`, in the grading process (nothing it sends
# reaches results.json at more than these sizes). The worker itself relays the child's
# fields unchecked.
ERROR_CAPS = {"type": 200, "message": 2000, "traceback": 4000}
STAGE_CAP, EXIT_CAP = 300, 500
STRING_CAP = 1000  # any string inside a returned value (type names, state_dict keys...)
VALUE_STRINGS_CAP = 64 * 1024  # all the longer strings of one value together
SHORT_STRING = 64  # type, dtype and key names: a batch of hundreds of calls holds thousands
CUT = " [... cut by the grader]"


@dataclasses.dataclass
class Response:
    """How one call ended (or one call of a batch): its status, the value or error, the
    stage it was in (what the child last noted), its output and its times. The child
    sends status, value or error and its times; the host adds the rest."""

    status: Status
    value: Any = None
    error: dict[str, str] = dataclasses.field(default_factory=dict)  # type, message, traceback
    stage: str | None = None
    output: str = ""
    output_dropped: int = 0
    seconds: float = 0.0  # the whole call, as the host measured it
    student_seconds: float = 0.0
    child_seconds: float = 0.0
    exit: str = ""  # how the process ended, or why the host stopped it

    CHILD_FIELDS = ("status", "value", "error", "student_seconds", "child_seconds")

    def to_wire(self) -> dict[str, Any]:
        return _without_defaults(self)

    def to_child_frame(self) -> dict[str, Any]:
        """What a child sends its host: its answer, in a frame of its own."""
        return {"result": self.to_wire()}

    @classmethod
    def from_child_frame(cls, message: Any) -> "Response | None":
        """The answer in a child's frame as the host relays it (None if it holds none): only
        the fields a child sends, as it sent them (never the host's own), which the grader
        checks."""
        if not (isinstance(message, dict) and isinstance(message.get("result"), dict)):
            return None
        child = message["result"]
        return cls(**{"status": None, **{k: child[k] for k in cls.CHILD_FIELDS if k in child}})

    @classmethod
    def from_wire(cls, answer: dict[str, Any], output_cap: int) -> "Response":
        """The Response of one answer (or one item of a batch), taking only its known
        fields, each checked and capped."""
        raw_error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        stage = answer.get("stage")
        return cls(
            status=Status(answer["status"]) if answer.get("status") in tuple(Status) else Status.PROTOCOL,
            value=plain_value(answer.get("value")),
            error={k: capped(raw_error[k], cap) for k, cap in ERROR_CAPS.items() if k in raw_error},
            stage=capped(stage, STAGE_CAP) if isinstance(stage, str) else None,
            output=capped(answer.get("output", ""), output_cap),
            output_dropped=int(_number(answer.get("output_dropped", 0))),
            seconds=_number(answer.get("seconds", 0.0)),
            student_seconds=_number(answer.get("student_seconds", 0.0)),
            exit=capped(answer.get("exit", ""), EXIT_CAP),
        )


def capped(text, cap: int) -> str:
    text = str(text)
    return text if len(text) <= cap else text[:cap] + CUT


class _Budget:
    def __init__(self, chars: int):
        self.left = chars

    def take(self, text: str, cap: int) -> str:
        if len(text) <= SHORT_STRING:  # the frame cap bounds how many there can be
            return text
        text = capped(text, min(cap, max(self.left, 0)))
        self.left -= len(text)
        return text


def plain_value(value, budget: _Budget | None = None, depth: int = 0):
    """A returned value with every string (dict keys included) cut to STRING_CAP and the
    strings longer than SHORT_STRING together to VALUE_STRINGS_CAP; anything but JSON's
    types and arrays becomes None."""
    budget = budget or _Budget(VALUE_STRINGS_CAP)
    if depth > 32:
        return None
    if isinstance(value, str):
        return budget.take(value, STRING_CAP)
    if isinstance(value, dict):
        return {budget.take(k, STRING_CAP): plain_value(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_value(v, budget, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, np.ndarray)):
        return value
    return None


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def is_import_stage(stage) -> bool:
    """The child's stage while it imports the spec's code file ("import mlp.py")."""
    return isinstance(stage, str) and stage.startswith("import ") and stage.endswith(".py")
