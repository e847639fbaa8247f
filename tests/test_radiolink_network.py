"""The network side of the radio link as a plain state machine: links are
strings, frames go in, frames and events come out."""

from __future__ import annotations

from pdu import Address
from radiolink import frames as lk
from radiolink import rp
from radiolink.network import (
    Acked,
    Attached,
    Close,
    Detached,
    MemoryAvailable,
    NetworkSide,
    ProtocolError,
    Refused,
    Send,
    State,
    Submitted,
)

SMSC = "+15550000000"
IMSI, A = "001010123456789", "+4915112345678"


def side(*links: str) -> NetworkSide[str]:
    net: NetworkSide[str] = NetworkSide(SMSC)
    for link in links:
        net.opened(link)
    return net


def attached(link: str = "one", msisdn: str = A) -> NetworkSide[str]:
    net = side(link)
    net.receive(link, lk.Attach(IMSI, msisdn))
    return net


def rp_frame(message: rp.RpMessage) -> lk.Rp:
    return lk.Rp(rp.encode_rp(message))


def test_attach_is_accepted_and_binds_the_link() -> None:
    net = side("one")
    out = net.receive("one", lk.Attach(IMSI, A))
    assert out == [Send("one", lk.AttachAccept(SMSC)), Attached("one", A, IMSI)]
    assert net.state("one") is State.ATTACHED and net.link_of(A) == "one"
    assert list(net.attached()) == [A]


def test_attach_rules() -> None:
    net = side("one")
    (reply,) = net.receive("one", lk.Attach(IMSI, A, version=2))
    assert reply == Send("one", lk.AttachReject(lk.RejectCause.UNSUPPORTED_VERSION, "version 2"))
    for msisdn, imsi in (("4915112345678", IMSI), ("+49x", IMSI), (A, "")):
        (reply,) = net.receive("one", lk.Attach(imsi, msisdn))
        assert isinstance(reply, Send) and isinstance(reply.frame, lk.AttachReject)
        assert reply.frame.cause is lk.RejectCause.MALFORMED
    assert net.state("one") is State.UNATTACHED
    net.receive("one", lk.Attach(IMSI, A))
    assert net.receive("one", lk.Attach(IMSI, A)) == [
        Send("one", lk.Error(lk.ErrorCode.ALREADY_ATTACHED, A))
    ]


def test_the_newest_link_of_a_subscriber_wins() -> None:
    net = attached("old")
    net.opened("new")
    assert net.receive("new", lk.Attach(IMSI, A)) == [
        Detached("old", A),
        Send("old", lk.Detach()),
        Close("old"),
        Send("new", lk.AttachAccept(SMSC)),
        Attached("new", A, IMSI),
    ]
    assert net.link_of(A) == "new" and net.state("old") is State.UNATTACHED
    assert net.lost("old") == []  # no longer the subscriber's link


def test_frames_before_attach_and_frames_for_handsets_are_errors() -> None:
    net = side("one")
    out = net.receive("one", lk.Detach())
    assert out == [
        ProtocolError("one", "attach first"),
        Send("one", lk.Error(lk.ErrorCode.NOT_ATTACHED, "attach first")),
    ]
    net.receive("one", lk.Attach(IMSI, A))
    (problem, reply) = net.receive("one", lk.AttachAccept(SMSC))
    assert isinstance(problem, ProtocolError)
    assert reply == Send(
        "one", lk.Error(lk.ErrorCode.UNEXPECTED_FRAME, "AttachAccept is for handsets")
    )


def test_a_malformed_frame_is_answered_with_its_error() -> None:
    net = side("one")
    bad = lk.MalformedFrame(lk.ErrorCode.UNKNOWN_FRAME_TYPE, "unknown frame type 0x7f")
    assert net.receive("one", bad) == [
        ProtocolError("one", "unknown frame type 0x7f"),
        Send("one", lk.Error(lk.ErrorCode.UNKNOWN_FRAME_TYPE, "unknown frame type 0x7f")),
    ]


def test_detach_and_loss_end_the_attachment() -> None:
    net = attached()
    assert net.receive("one", lk.Detach()) == [Detached("one", A)]
    assert net.link_of(A) is None and net.state("one") is State.UNATTACHED
    assert list(net.links()) == ["one"]
    net.receive("one", lk.Attach(IMSI, A))
    assert net.lost("one") == [Detached("one", A)]
    assert list(net.links()) == [] and net.link_of(A) is None


def test_rp_messages_become_events() -> None:
    net = attached()
    tpdu = bytes.fromhex("0100038121f3000003c8f40d")
    assert net.receive("one", rp_frame(rp.RpData.mo(7, Address.parse(SMSC), tpdu))) == [
        Submitted("one", A, 7, tpdu)
    ]
    assert net.receive("one", rp_frame(rp.RpAck.mo(8))) == [Acked(A, 8)]
    assert net.receive("one", rp_frame(rp.RpError.mo(9, 22))) == [Refused(A, 9, 22)]
    assert net.receive("one", rp_frame(rp.RpSmma(10))) == [
        Send("one", lk.Rp(rp.encode_rp(rp.RpAck.mt(10)))),
        MemoryAvailable(A),
    ]


def test_a_bad_rp_message_is_answered_with_rp_error_or_error() -> None:
    net = attached()
    # An RP-ACK network-to-MS from a handset: MTI not for this direction.
    (problem, reply) = net.receive("one", lk.Rp(bytes((rp.RpMti.ACK_N_TO_MS, 5))))
    assert isinstance(problem, ProtocolError)
    assert isinstance(reply, Send) and isinstance(reply.frame, lk.Rp)
    message = rp.decode_rp(reply.frame.message)
    assert isinstance(message, rp.RpError) and message.rp_mr == 5
    (problem, reply) = net.receive("one", lk.Rp(b""))
    assert isinstance(reply, Send) and isinstance(reply.frame, lk.Error)
    assert reply.frame.code is lk.ErrorCode.MALFORMED_FRAME


def test_what_the_network_sends() -> None:
    net = attached()
    send = net.deliver(A, 3, b"\x04\x0b")
    assert send.link == "one"
    assert isinstance(send.frame, lk.Rp)
    assert rp.decode_rp(send.frame.message) == rp.RpData.mt(3, Address.parse(SMSC), b"\x04\x0b")
    assert net.error("one", 4, 111).frame == lk.Rp(rp.encode_rp(rp.RpError.mt(4, 111)))
