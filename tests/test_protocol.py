"""The wire format carries plain numbers only, and refuses anything that does not add up."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from grader.worker import protocol


def roundtrip(message):
    frame = protocol.encode(message)
    return protocol.decode(protocol.read_frame(io.BytesIO(frame), 1 << 20))


def test_nested_arrays_and_scalars_survive_exactly():
    message = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.array(1.5), {"c": np.zeros(0)}],
               "n": np.float64(2.0), "s": "text", "flag": True}
    got = roundtrip(message)
    assert got["a"].dtype == np.float32 and np.array_equal(got["a"], message["a"])
    assert got["b"][0].shape == () and float(got["b"][0]) == 1.5
    assert got["b"][1]["c"].shape == (0,)
    assert got["n"] == 2.0 and got["s"] == "text" and got["flag"] is True


def frame_with(arrays_header, payload=b""):
    head = json.dumps({"body": {"x": {"__array__": 0}}, "arrays": arrays_header}).encode()
    return struct.pack("!Q", len(head)) + head + payload


@pytest.mark.parametrize("desc,payload,reason", [
    ({"dtype": "object", "shape": [1], "nbytes": 8}, b"\0" * 8, "not a plain numeric dtype"),
    ({"dtype": "float64", "shape": [2], "nbytes": 8}, b"\0" * 8, "does not match"),
    ({"dtype": "float64", "shape": [-1], "nbytes": 8}, b"\0" * 8, "bad array shape"),
])
def test_invalid_array_descriptions_are_refused(desc, payload, reason):
    with pytest.raises(protocol.ProtocolError, match=reason):
        protocol.decode(frame_with([desc], payload))


def test_messages_over_the_cap_are_refused_before_reading_them():
    frame = protocol.encode({"x": np.zeros(1000)})
    with pytest.raises(protocol.ProtocolError, match="exceeds the cap"):
        protocol.read_frame(io.BytesIO(frame), 100)


def test_a_truncated_frame_is_an_eof_not_garbage():
    frame = protocol.encode({"x": np.zeros(10)})
    with pytest.raises(EOFError):
        protocol.read_frame(io.BytesIO(frame[:-3]), 1 << 20)
