"""The radio link framing of docs/radio-link.md, without sockets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from radiolink import frames as lk

frames = st.one_of(
    st.builds(lk.Attach, st.text("0123456789", min_size=1, max_size=15), st.text(max_size=20)),
    st.builds(lk.AttachAccept, st.text(max_size=20)),
    st.builds(lk.AttachReject, st.sampled_from(lk.RejectCause), st.text(max_size=40)),
    st.just(lk.Detach()),
    st.builds(lk.Rp, st.binary(max_size=300)),
    st.builds(lk.Error, st.sampled_from(lk.ErrorCode), st.text(max_size=40)),
    st.builds(
        lk.AuthRequest, st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16)
    ),
    st.builds(lk.AuthResponse, st.binary(min_size=4, max_size=16)),
    st.builds(lk.AuthFailure, st.just(21), st.binary(min_size=14, max_size=14)),
    st.builds(lk.AuthFailure, st.integers(0, 255)),
)


def test_attach_octets_as_documented() -> None:
    octets = lk.encode_frame(lk.Attach("001010123456789", "+4915112345678"))
    assert octets.hex() == (
        "002101010f" + b"001010123456789".hex() + "0e" + b"+4915112345678".hex()
    )


@given(st.lists(frames, max_size=8), st.data())
def test_frames_survive_any_segmentation(sent: list[lk.Frame], data: st.DataObject) -> None:
    stream = b"".join(lk.encode_frame(f) for f in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader = lk.FrameReader()
    got: list[lk.Frame | lk.MalformedFrame] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += reader.feed(stream[a:b])
    assert got == sent
    assert reader.pending == 0


@given(st.binary(max_size=400))
def test_any_bytes_give_frames_malformed_frames_or_a_link_error(data: bytes) -> None:
    reader = lk.FrameReader()
    for item in reader.feed(data):
        assert isinstance(item, lk.MalformedFrame | lk.Attach | lk.AttachAccept | lk.AttachReject
                          | lk.Detach | lk.Rp | lk.Error | lk.AuthRequest | lk.AuthResponse
                          | lk.AuthFailure)  # fmt: skip


def test_frames_before_a_broken_length_are_kept() -> None:
    good = lk.encode_frame(lk.Rp(b"\x00\x01"))
    reader = lk.FrameReader()
    assert reader.feed(good + b"\xff\xff rubbish") == [lk.Rp(b"\x00\x01")]
    assert reader.error is not None
    assert reader.feed(good) == []  # nothing more is read once the framing is lost


def test_an_unknown_type_or_a_short_attach_is_malformed_not_fatal() -> None:
    reader = lk.FrameReader()
    got = reader.feed(b"\x00\x01\x77" + b"\x00\x02\x01\x01" + lk.encode_frame(lk.Detach()))
    assert [type(g) for g in got] == [lk.MalformedFrame, lk.MalformedFrame, lk.Detach]
    first = got[0]
    assert isinstance(first, lk.MalformedFrame)
    assert first.code is lk.ErrorCode.UNKNOWN_FRAME_TYPE
    assert reader.error is None


def test_challenge_frames_octets_and_sizes() -> None:
    rand, autn = bytes(range(16)), bytes(range(16, 32))
    assert lk.encode_frame(lk.AuthRequest(rand, autn)) == b"\x00\x21\x07" + rand + autn
    assert lk.encode_frame(lk.AuthResponse(b"\xa5" * 8)) == b"\x00\x09\x08" + b"\xa5" * 8
    assert lk.encode_frame(lk.AuthFailure(20)) == b"\x00\x02\x09\x14"
    for kind, body, what in (
        (lk.FrameType.AUTH_REQUEST, rand, "AUTH-REQUEST of 16 octets, expected 32"),
        (lk.FrameType.AUTH_RESPONSE, b"abc", "RES of 3 octets, expected 4 to 16"),
        (lk.FrameType.AUTH_FAILURE, b"\x15abc", "AUTH-FAILURE of 4 octets"),
    ):
        try:
            lk.parse_frame(kind, body)
        except lk.MalformedFrame as exc:
            assert what in exc.reason
        else:
            raise AssertionError(f"{what}: accepted")
