"""The IP server's framing and messages (docs/receipt-wire.md), without sockets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipwire import wire

numbers = st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True)
request_ids = st.one_of(
    st.integers(),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=wire.MAX_REQUEST_ID),
)
device_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
octets = st.integers(0, 255)
statuses = st.integers(0, 1)
feedback_ids = st.integers(1, wire.MAX_FEEDBACK_ID)
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200)

tokens = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
millis = st.integers(0, wire.MAX_MILLIS)
limits = st.integers(1, wire.MAX_LIMIT)
b64s = st.binary(min_size=1, max_size=300).map(wire.b64)
nonces = st.binary(min_size=16, max_size=64).map(wire.b64)  # a login's nonces
macs = st.binary(min_size=32, max_size=32).map(wire.b64)  # ClientProof, ServerSignature
entries = st.builds(
    wire.HistoryEntry, tokens, numbers, st.sampled_from(wire.DIRECTIONS), texts, millis
)
window_entries = st.builds(
    wire.WindowEntry,
    tokens,
    numbers,
    st.sampled_from(wire.DIRECTIONS),
    millis,
    st.binary(min_size=1, max_size=93).map(wire.b64),
    b64s,
)
windows = st.none() | st.lists(window_entries, max_size=3).map(tuple)
criteria = {
    "text": st.none() | texts,
    "peer": st.none() | numbers,
    "since": st.none() | millis,
    "until": st.none() | millis,
    "limit": limits,
}
statuses_of_queries = st.sampled_from(wire.QUERY_STATUSES)

device_messages = st.one_of(
    st.builds(wire.Login, request_ids, device_ids, nonces),
    st.builds(wire.LoginProof, request_ids, macs),
    st.builds(wire.Response, request_ids, numbers, numbers, octets, statuses),
    st.builds(wire.FeedbackAck, feedback_ids),
    st.builds(wire.Ping, request_ids),
    st.builds(wire.PushSubscribe, request_ids, device_ids, nonces),
    st.builds(wire.HistoryPut, request_ids, st.lists(entries, max_size=5).map(tuple)),
    st.builds(wire.Query, request_ids, **criteria, timeout=st.none() | st.floats(0.1, 60)),
    st.builds(wire.QueryAnswer, request_ids, tokens, st.integers(0, wire.MAX_LIMIT), b64s),
    st.builds(wire.FetchResults, request_ids, tokens),
    st.builds(wire.ResultsAck, request_ids, tokens),
    st.builds(wire.IpSubmit, request_ids, numbers, tokens, octets, texts, millis),
    st.builds(wire.IpMessageAck, feedback_ids),
)
server_messages = st.one_of(
    st.builds(wire.Challenge, request_ids, nonces),
    st.builds(wire.LoginOk, request_ids, device_ids, numbers, texts, macs),
    st.builds(wire.Ok, request_ids),
    st.builds(
        wire.Error,
        st.sampled_from(wire.ErrorCode),
        texts,
        st.none() | request_ids,
        st.none() | st.floats(0, 1e6),
    ),
    st.builds(wire.Feedback, feedback_ids, numbers, octets, statuses),
    st.builds(wire.Pong, request_ids),
    st.builds(
        wire.QueryResult,
        request_ids,
        st.sampled_from(["found", "not_found"]),
        st.lists(entries, max_size=5).map(tuple),
        windows,
    ),
    st.builds(
        wire.QueryOpen,
        request_ids,
        tokens,
        st.integers(1, wire.MAX_DEVICES),
        st.floats(0, 60),
        windows,
    ),
    st.builds(wire.QueryRequest, tokens, device_ids, b64s, **criteria),
    st.builds(wire.LoginIndication, st.just("history_query")),
    st.builds(
        wire.ResultsReady,
        tokens,
        statuses_of_queries,
        st.integers(0, wire.MAX_DEVICES),
        st.integers(0, wire.MAX_DEVICES),
    ),
    st.builds(
        wire.Results,
        request_ids,
        tokens,
        statuses_of_queries,
        st.lists(
            st.builds(wire.SealedAnswer, device_ids, st.integers(0, wire.MAX_LIMIT), b64s),
            max_size=3,
        ).map(tuple),
        st.lists(device_ids, max_size=3).map(tuple),
        st.booleans(),
    ),
    st.builds(wire.IpMessage, feedback_ids, numbers, tokens, octets, texts, millis),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def frame_json(obj: Any) -> bytes:
    return frame(json.dumps(obj).encode())


def one(data: bytes, accept: dict[str, type[wire.Message]] = wire.DEVICE_MESSAGES) -> Any:
    got = wire.FrameReader(accept).feed(data)
    assert len(got) == 1, got
    return got[0]


# -- round trips ---------------------------------------------------------------------


@given(device_messages)
def test_every_device_message_round_trips(message: wire.Message) -> None:
    assert one(wire.encode(message), wire.DEVICE_MESSAGES) == message


@given(server_messages)
def test_every_server_message_round_trips(message: wire.Message) -> None:
    assert one(wire.encode(message), wire.SERVER_MESSAGES) == message


@given(st.lists(device_messages, max_size=8), st.data())
def test_frames_survive_any_segmentation(sent: list[wire.Message], data: st.DataObject) -> None:
    stream = b"".join(wire.encode(m) for m in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = wire.FrameReader(wire.DEVICE_MESSAGES)
    got: list[wire.Message | wire.WireError] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += reader.feed(stream[a:b])
    assert got == sent
    assert reader.pending == 0


def test_frame_octets_as_documented() -> None:
    octets = wire.encode(wire.Ok(2))
    assert octets == b'\x00\x00\x00\x14{"type":"ok","id":2}'


def test_the_examples_of_the_document_are_exact() -> None:
    """Every example frame in docs/receipt-wire.md: its length is right, it
    decodes, and encoding the message gives the same octets."""
    doc = (Path(__file__).parent.parent / "docs" / "receipt-wire.md").read_text()
    examples = re.findall(r"^((?:[0-9a-f]{2} ){3}[0-9a-f]{2})  (\{.*\})$", doc, re.M)
    assert len(examples) >= 11
    for prefix, payload in examples:
        octets = bytes.fromhex(prefix) + payload.encode()
        kind = json.loads(payload)["type"]
        accept = wire.DEVICE_MESSAGES if kind in wire.DEVICE_MESSAGES else wire.SERVER_MESSAGES
        message = one(octets, accept)
        assert isinstance(message, wire.Message), (payload, message)
        assert wire.encode(message) == octets


# -- what a receiver tolerates ---------------------------------------------------------


def test_unknown_keys_are_ignored_and_status_defaults_to_read() -> None:
    got = one(
        frame_json(
            {"type": "response", "id": "r1", "receiver": "+1", "sender": "+2",
             "message_number": 0, "future": {"x": [1]}}
        )
    )  # fmt: skip
    assert got == wire.Response("r1", "+1", "+2", 0, 1)


def test_any_utf8_json_is_read_not_just_ascii() -> None:
    got = one(frame('{ "type" : "ping" , "id" : "é😀" }'.encode()))
    assert got == wire.Ping("é😀")


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code", "rid"),
    [
        (b"\xff\xfe", "bad_frame", None),
        (b"hello", "bad_frame", None),
        (b'{"type":"ping","id":1', "bad_frame", None),
        (b"[1, 2]", "bad_frame", None),
        (b'"ping"', "bad_frame", None),
        (b'{"id": 7}', "bad_frame", 7),
        (b'{"type": 5, "id": "x"}', "bad_frame", "x"),
        (b'{"type":"ping","id":NaN}', "bad_frame", None),
        (b"[" * 60_000, "bad_frame", None),
        (b'{"type":"fly","id":3}', "unknown_type", 3),
        (b'{"type":"pong","id":3}', "unknown_type", 3),  # a server message
        (b'{"type":"ping"}', "bad_message", None),
        (b'{"type":"ping","id":1.5}', "bad_message", None),
        (b'{"type":"ping","id":true}', "bad_message", None),
        (b'{"type":"ping","id":null}', "bad_message", None),
        (b'{"type":"login","id":1,"device":"a b","secret":"s"}', "bad_message", 1),
        (b'{"type":"login","id":1,"device":"a","secret":""}', "bad_message", 1),
        (b'{"type":"login","id":1,"device":"a","secret":"\\ud800"}', "bad_message", 1),
        (b'{"type":"response","id":1,"receiver":"+1","sender":"+2","message_number":256}',
         "bad_message", 1),
        (b'{"type":"response","id":1,"receiver":"+1","sender":"+2","message_number":true}',
         "bad_message", 1),
        (b'{"type":"response","id":1,"receiver":"+1","sender":"+2","message_number":1,'
         b'"status":2}', "bad_message", 1),
        (b'{"type":"response","id":1,"receiver":"447700 900123","sender":"+2",'
         b'"message_number":1}', "bad_message", 1),
        (b'{"type":"response","id":1,"receiver":12345,"sender":"+2","message_number":1}',
         "bad_message", 1),
        (b'{"type":"feedback_ack","feedback_id":0}', "bad_message", None),
        (b'{"type":"feedback_ack","feedback_id":"7"}', "bad_message", None),
    ],
)  # fmt: skip
def test_a_bad_frame_is_reported_with_its_code(payload: bytes, code: str, rid: Any) -> None:
    got = one(frame(payload))
    assert isinstance(got, wire.WireError)
    assert (got.code, got.id, got.fatal) == (code, rid, False)
    assert got.message() == wire.Error(code, got.reason, rid)
    wire.encode(got.message())  # the answer itself is a valid message


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"type":"login","id":1,"device":"d1","nonce":"c2hvcnQ="}',
         'login: "nonce" must be base64 of 16 to 64 octets'),
        ('{"type":"login","id":1,"device":"d1","secret":"an old client"}',
         'login: "nonce" is missing'),
        ('{"type":"login_proof","id":1,"proof":"not base64!"}',
         'login_proof: "proof" is not base64 (RFC 4648, padded, no whitespace)'),
        ('{"type":"login_proof","id":1,"proof":"' + wire.b64(bytes(31)) + '"}',
         'login_proof: "proof" must be base64 of 32 octets'),
        ('{"type":"push_subscribe","id":1,"device":"d,1","nonce":"' + wire.b64(bytes(16)) + '"}',
         'push_subscribe: "device"'),
    ],
)  # fmt: skip
def test_a_bad_login_frame_is_named(payload: str, reason: str) -> None:
    got = one(frame(payload.encode()))
    assert isinstance(got, wire.WireError) and not got.fatal
    assert got.reason.startswith(reason) and got.id == 1, got.reason


@settings(max_examples=500)
@given(st.sampled_from(["login", "push_subscribe", "login_proof", "challenge"]), st.data())
def test_any_text_as_a_nonce_or_a_proof_is_read_to_its_size_or_refused(
    kind: str, data: st.DataObject
) -> None:
    """The login frames' base64 fields, fuzzed: any text (base64 of any size or
    not base64 at all) gives a message whose octets have the size the protocol
    says, or a wire error naming the field, never an exception."""
    key = "proof" if kind == "login_proof" else "nonce"
    text = data.draw(st.text(max_size=120) | st.binary(max_size=80).map(wire.b64))
    obj: dict[str, Any] = {"type": kind, "id": 7, key: text}
    if kind != "login_proof" and kind != "challenge":
        obj["device"] = "d1"
    accept = wire.SERVER_MESSAGES if kind == "challenge" else wire.DEVICE_MESSAGES
    got = wire.decode_payload(json.dumps(obj).encode(), accept)
    if isinstance(got, wire.Message):
        size = len(wire.unb64(getattr(got, key)))
        assert size == 32 if key == "proof" else 16 <= size <= 64
    else:
        assert isinstance(got, wire.WireError) and f'"{key}"' in got.reason and got.id == 7


def test_a_bad_field_is_named() -> None:
    got = one(
        frame(b'{"type":"response","id":1,"receiver":"+1","sender":"+2","message_number":300}')
    )
    assert isinstance(got, wire.WireError)
    assert got.reason == 'response: "message_number" must be an integer from 0 to 255, not 300'


def test_an_empty_frame_is_bad_but_reading_goes_on() -> None:
    reader = wire.FrameReader(wire.DEVICE_MESSAGES)
    got = reader.feed(b"\x00\x00\x00\x00" + wire.encode(wire.Ping(1)))
    assert got == [wire.WireError(wire.ErrorCode.BAD_FRAME, "empty frame"), wire.Ping(1)]


def test_an_impossible_length_is_fatal_after_the_frames_before_it() -> None:
    reader = wire.FrameReader(wire.DEVICE_MESSAGES)
    got = reader.feed(wire.encode(wire.Ping(1)) + b"\x00\x01\x00\x01 rubbish")
    assert got[0] == wire.Ping(1)
    assert len(got) == 2 and isinstance(got[1], wire.WireError)
    assert got[1].fatal and got[1].code == "bad_frame"
    assert reader.failed == got[1]
    assert reader.feed(wire.encode(wire.Ping(2))) == []  # framing is lost for good


def test_the_largest_frame_is_read() -> None:
    padding = "x" * (wire.MAX_FRAME - len('{"type":"ping","id":1,"p":""}'))
    payload = json.dumps({"type": "ping", "id": 1, "p": padding}, separators=(",", ":"))
    assert len(payload) == wire.MAX_FRAME
    assert one(frame(payload.encode())) == wire.Ping(1)


@pytest.mark.parametrize(
    "message",
    [
        wire.Response(1, "+1", "+2", 256),
        wire.Response(1, "+1", "+2", -1),
        wire.Response(1, "alice", "+2", 1),
        wire.Response(1, "+1", "+2", 1, status=2),
        wire.Login(True, "dev", "secret"),
        wire.Login(1, "", "secret"),
        wire.Feedback(0, "+1", 1, 1),
        wire.Error("forbidden", "no", 1.5),  # type: ignore[arg-type]
        wire.Error("rate_limited", "slow down", 1, float("inf")),
        wire.Ping("x" * wire.MAX_FRAME),
    ],
)
def test_encoding_refuses_what_a_receiver_would(message: wire.Message) -> None:
    with pytest.raises(ValueError):
        wire.encode(message)


# -- fuzzing --------------------------------------------------------------------------


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_any_bytes_give_messages_or_wire_errors(data: bytes) -> None:
    reader = wire.FrameReader(wire.DEVICE_MESSAGES)
    for item in reader.feed(data):
        assert isinstance(item, wire.Message | wire.WireError)
        if isinstance(item, wire.WireError):
            wire.encode(item.message())


@settings(max_examples=500)
@given(st.lists(st.binary(min_size=1, max_size=120), max_size=6))
def test_any_payloads_in_good_frames_never_break_the_framing(payloads: list[bytes]) -> None:
    reader = wire.FrameReader(wire.DEVICE_MESSAGES)
    got = reader.feed(b"".join(frame(p) for p in payloads) + wire.encode(wire.Ping(9)))
    assert len(got) == len(payloads) + 1
    assert got[-1] == wire.Ping(9)


@settings(max_examples=1000)
@given(json_values)
def test_any_json_gives_a_message_or_a_wire_error(value: Any) -> None:
    for accept in (wire.DEVICE_MESSAGES, wire.SERVER_MESSAGES):
        got = wire.decode_payload(json.dumps(value).encode(), accept)
        assert isinstance(got, wire.Message | wire.WireError)


@settings(max_examples=1000)
@given(device_messages | server_messages, st.data())
def test_any_field_replaced_by_any_json_is_accepted_valid_or_refused(
    message: wire.Message, data: st.DataObject
) -> None:
    obj = message.to_json()
    key = data.draw(st.sampled_from(sorted(obj)))
    obj[key] = data.draw(json_values)
    accept = wire.DEVICE_MESSAGES if message.TYPE in wire.DEVICE_MESSAGES else wire.SERVER_MESSAGES
    got = wire.decode_payload(json.dumps(obj).encode(), accept)
    if isinstance(got, wire.Message):
        assert wire.decode_payload(wire.encode(got)[4:], accept) == got
    else:
        assert isinstance(got, wire.WireError) and not got.fatal
        wire.encode(got.message())


def test_a_long_string_id_is_refused_and_not_echoed() -> None:
    payload = json.dumps({"type": "ping", "id": "x" * 65}).encode()
    (item,) = wire.FrameReader(wire.DEVICE_MESSAGES).feed(len(payload).to_bytes(4, "big") + payload)
    assert isinstance(item, wire.WireError) and item.code == "bad_message" and item.id is None
    ok = json.dumps({"type": "ping", "id": "x" * 64}).encode()
    assert wire.FrameReader(wire.DEVICE_MESSAGES).feed(len(ok).to_bytes(4, "big") + ok) == [
        wire.Ping("x" * 64)
    ]


def test_nested_records_name_the_bad_field() -> None:
    bad = {"type": "history_put", "id": 1, "messages": [{"uid": "x"}]}
    got = one(frame_json(bad))
    assert isinstance(got, wire.WireError) and got.code is wire.ErrorCode.BAD_MESSAGE
    assert '"messages" [0] "uid" must be 32 lowercase hex digits' in got.reason
    not_b64 = {"type": "query_answer", "id": 2, "query_id": "0" * 32, "count": 1, "sealed": "@@"}
    got = one(frame_json(not_b64))
    assert isinstance(got, wire.WireError) and '"sealed" is not base64' in got.reason
    assert got.id == 2
