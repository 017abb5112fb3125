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


@pytest.mark.parametrize("array", [
    np.array(2.5), np.zeros((0, 3)), np.zeros((3, 0, 2), dtype=np.float32), np.arange(12.0).reshape(3, 4).T,
    np.arange(10)[::2], np.array([True, False, True]), np.ones((2, 3), dtype=np.float16),
    np.ma.masked_array([1.0, 2.0], mask=[False, True]), np.arange(-4, 4, dtype=np.int8).reshape(2, 4),
], ids=["0-d", "empty", "empty-3d", "transposed", "strided", "bool", "float16", "masked", "int8"])
def test_an_array_is_sent_as_its_c_order_bytes_once(array):
    """encode copies each array once, into the frame (it copied three times: 0.4 ms
    instead of 5 ms for a 3 MB batch), and the bytes are those of the C-ordered array."""
    frame = protocol.encode({"x": array, "more": [array, {"again": array}]})
    (head_len,) = struct.unpack_from("!Q", frame)
    header = json.loads(frame[8:8 + head_len])
    c_order = np.array(np.asarray(array), order="C").tobytes()
    assert frame[8 + head_len:] == c_order * 3
    assert header["arrays"][0] == {"dtype": array.dtype.name, "shape": list(array.shape), "nbytes": len(c_order)}
    got = roundtrip({"x": array})["x"]
    assert got.shape == array.shape and np.array_equal(got, np.asarray(array)) and got.flags.writeable


@pytest.mark.parametrize("dtype", [*protocol.ALLOWED_DTYPES, ">f4", ">i8"])
def test_every_array_is_described_by_numpys_name_of_its_dtype(dtype):
    array = np.arange(6).astype(dtype).reshape(2, 3)
    frame = protocol.encode({"x": array})
    (head_len,) = struct.unpack_from("!Q", frame)
    assert json.loads(frame[8:8 + head_len])["arrays"] == [{"dtype": array.dtype.name, "shape": [2, 3],
                                                            "nbytes": array.nbytes}]


def test_numpys_scalars_and_tuples_are_sent_as_plain_values():
    got = roundtrip({"f": np.float32(0.5), "i": np.int64(-3), "b": np.bool_(True), "t": (1, np.float64(2.5)),
                     "k": {1: "one"}})
    assert got == {"f": 0.5, "i": -3, "b": True, "t": [1, 2.5], "k": {"1": "one"}}
    assert [type(got[k]) for k in "fib"] == [float, int, bool]


def test_pipes_are_widened_to_hold_a_batch():
    import fcntl
    import os

    read, write = os.pipe()
    try:
        protocol.widen_pipe(write)
        assert fcntl.fcntl(read, fcntl.F_GETPIPE_SZ) == protocol.PIPE_BYTES
    finally:
        os.close(read)
        os.close(write)


def frame_with(arrays_header, payload=b""):
    head = json.dumps({"body": {"x": {"__array__": 0}}, "arrays": arrays_header}).encode()
    return struct.pack("!Q", len(head)) + head + payload


@pytest.mark.parametrize("desc,payload,reason", [
    ({"dtype": "object", "shape": [1], "nbytes": 8}, b"\0" * 8, "not a plain numeric dtype"),
    ({"dtype": "float64", "shape": [2], "nbytes": 8}, b"\0" * 8, "does not match"),
    ({"dtype": "float64", "shape": [-1], "nbytes": 8}, b"\0" * 8, "bad array shape"),
    # 2**64 elements: a product in int64 wrapped to 0 and matched, then reshape raised ValueError
    ({"dtype": "uint8", "shape": [2 ** 32, 2 ** 32], "nbytes": 0}, b"", "does not match"),
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


# ------------------------------------------------------------------ the message types

def test_a_request_survives_the_wire():
    request = protocol.Request("forward", {"dims": [3, 5, 2], "inputs": [np.ones((2, 3), np.float32)]},
                               {"class_name": "Net"}, 2.5, "alice-x1", session="forward.shape", uid=2_000_000_001)
    got = protocol.request_from_wire(roundtrip(request.to_wire()))
    assert isinstance(got, protocol.Request)
    assert (got.op, got.model, got.timeout, got.submission, got.session, got.uid) == (
        "forward", {"class_name": "Net"}, 2.5, "alice-x1", "forward.shape", 2_000_000_001)
    assert got.args["dims"] == [3, 5, 2] and np.array_equal(got.args["inputs"][0], request.args["inputs"][0])
    assert protocol.request_from_wire(roundtrip(protocol.Release("alice-x1").to_wire())) == protocol.Release("alice-x1")


def test_the_host_routes_a_request_by_its_header_and_passes_its_arrays_on_unread():
    request = protocol.Request("batch", {"calls": [{"op": "forward", "args": {"X": np.ones((2, 3))}}]},
                               {"class_name": "TwoLayerMLP"}, 5.0, "copy-1", "forward.rowwise", 1001)
    frame = protocol.encode(request.to_wire())
    routed = protocol.request_from_wire(protocol.routing(frame))
    assert (routed.op, routed.submission, routed.session, routed.uid, routed.timeout) == (
        "batch", "copy-1", "forward.rowwise", 1001, 5.0)
    assert routed.args["calls"][0]["args"]["X"] == {"__array__": 0}  # the child decodes the frame itself
    assert protocol.Request.from_wire(protocol.decode(frame)).args["calls"][0]["args"]["X"].shape == (2, 3)


@pytest.mark.parametrize("missing", ["op", "args", "model", "timeout", "submission"])
def test_a_request_without_its_fields_is_refused(missing):
    """Neither the timeout nor the student's names have a default in the worker: the
    grader sends them (limits.toml, the assignment's spec) with every call."""
    body = protocol.Request("api", {}, {"class_name": "Net"}, 1.0, "bob").to_wire()
    del body[missing]
    with pytest.raises(protocol.ProtocolError, match="not a request"):
        protocol.request_from_wire(body)


def test_a_response_survives_the_wire_and_sends_only_what_it_holds():
    response = protocol.Response(protocol.Status.ERROR, value={"a": np.arange(3.0)}, stage="backward()",
                                 error={"type": "ValueError", "message": "bad", "traceback": "line 3"},
                                 output="hi\n", output_dropped=4, seconds=0.5, student_seconds=0.25)
    wire = response.to_wire()
    assert "exit" not in wire and "child_seconds" not in wire
    assert json.loads(json.dumps({"status": wire["status"]})) == {"status": "error"}
    got = protocol.Response.from_wire(roundtrip(wire), 16384)
    assert np.array_equal(got.value.pop("a"), np.arange(3.0)) and got.value == {}
    got.value = response.value = None
    assert got == response and got.status is protocol.Status.ERROR


def test_the_host_relays_only_the_fields_a_child_sends():
    child = {"status": "ok", "value": 3, "stage": "forged", "output": "forged", "seconds": 99, "exit": "forged"}
    relayed = protocol.Response.from_child_frame(roundtrip({"result": child}))
    assert (relayed.stage, relayed.output, relayed.seconds, relayed.exit, relayed.value) == (None, "", 0.0, "", 3)
    assert protocol.Response.from_child_frame({"result": {}}).to_wire()["status"] is None  # the grader: protocol
    assert protocol.Response.from_child_frame({"value": 3}) is None
    sent = protocol.Response(protocol.Status.OK, value=1.5, student_seconds=0.5, stage="not sent by a child")
    assert protocol.Response.from_child_frame(roundtrip(sent.to_child_frame())) == protocol.Response(
        protocol.Status.OK, value=1.5, student_seconds=0.5)


def test_an_answer_of_unknown_status_or_shape_is_a_protocol_failure():
    assert protocol.Response.from_wire({"status": "passed"}, 100).status is protocol.Status.PROTOCOL
    assert protocol.Response.from_wire({"status": ["ok"]}, 100).status is protocol.Status.PROTOCOL
    odd = protocol.Response.from_wire({"status": "ok", "error": "text", "value": {"x": object()},
                                       "output_dropped": "many", "seconds": None}, 100)
    assert (odd.error, odd.value, odd.output_dropped, odd.seconds) == ({}, {"x": None}, 0, 0.0)


def test_an_oversized_answer_is_cut_to_the_caps():
    big = "B" * 100_000
    got = protocol.Response.from_wire({"status": "error", "output": big, "stage": big, "exit": big,
                                       "error": {"type": big, "message": big, "traceback": big},
                                       "value": [big] * 100 + ["short"] * 10}, 500)
    cut = len(protocol.CUT)
    assert len(got.output) == 500 + cut and got.output.endswith(protocol.CUT)
    assert len(got.stage) == protocol.STAGE_CAP + cut and len(got.exit) == protocol.EXIT_CAP + cut
    assert {k: len(v) - cut for k, v in got.error.items()} == protocol.ERROR_CAPS
    assert got.value[0] == "B" * protocol.STRING_CAP + protocol.CUT
    assert sum(len(v) for v in got.value[:100]) <= protocol.VALUE_STRINGS_CAP + 100 * cut
    assert got.value[-10:] == ["short"] * 10  # short names are never cut


def test_a_malformed_answer_reads_as_today():
    from grader import spec
    from grader.worker import client

    result = client.result_from({"status": "passed", "error": {"message": "x"}}, 1.0, spec.limits())
    assert result.problem() == "the worker sent an invalid answer during starting the worker: x"
    assert client.CallResult(protocol.Status.TIMEOUT, stage="train()", timeout=3.0).problem() == (
        "train() did not finish within 3 s")
