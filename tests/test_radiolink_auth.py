"""Authenticated attach on the radio link: the network's and the MS's state
machines talking to each other with no sockets, UMTS AKA with MILENAGE."""

from __future__ import annotations

import itertools

from radiolink import auth
from radiolink import frames as lk
from radiolink.ms import Attached as MsAttached
from radiolink.ms import Challenged, MsLink, Rejected
from radiolink.network import (
    Attached,
    AttachRefused,
    Close,
    Detached,
    NetworkSide,
    Output,
    ProtocolError,
    Send,
    SqnAdvanced,
    State,
)

SMSC = "+15550000000"
IMSI, A = "001010000000001", "+15550001001"
KEYS = auth.Keys(k=bytes(range(16)), opc=bytes(range(16, 32)))


def network(sqn: int = 0) -> NetworkSide[str]:
    counter = itertools.count()
    auc = auth.AuthCentre(rand=lambda n: next(counter).to_bytes(n, "big"))
    auc.provision(IMSI, A, KEYS, sqn=sqn)
    return NetworkSide(SMSC, auc)


def frames(out: list[Output[str]], link: str) -> list[lk.Frame]:
    return [o.frame for o in out if isinstance(o, Send) and o.link == link]


def exchange(net: NetworkSide[str], ms: MsLink, link: str = "one") -> list[object]:
    """Run ATTACH to its end; every output of both sides, in order."""
    if link not in list(net.links()):
        net.opened(link)
    seen: list[object] = []
    pending: list[lk.Frame] = [lk.Attach(ms.imsi, ms.msisdn)]
    while pending:
        out = net.receive(link, pending.pop())
        seen += out
        for frame in frames(out, link):
            for event in ms.receive(lk.encode_frame(frame)):
                seen.append(event)
                if isinstance(event, Challenged):
                    (reply,) = lk.FrameReader().feed(event.reply)
                    assert not isinstance(reply, lk.MalformedFrame)
                    pending.append(reply)
    return seen


def test_a_sim_with_the_right_keys_attaches() -> None:
    net, ms = network(), MsLink(IMSI, A, KEYS)
    seen = exchange(net, ms)
    assert SqnAdvanced(IMSI, 1) in seen
    assert Challenged.__name__ in [type(e).__name__ for e in seen]
    assert Attached("one", A, IMSI) in seen and MsAttached(SMSC) in seen
    assert ms.sqn == 1 and net.state("one") is State.ATTACHED


def test_an_open_network_attaches_without_a_challenge() -> None:
    net: NetworkSide[str] = NetworkSide(SMSC)
    net.opened("one")
    out = net.receive("one", lk.Attach(IMSI, A))
    assert out == [Send("one", lk.AttachAccept(SMSC)), Attached("one", A, IMSI)]


def test_the_hijack_of_a_number_fails() -> None:
    """Another IMSI claiming A's number, or A's IMSI without A's key."""
    net = network()
    net.opened("thief")
    out = net.receive("thief", lk.Attach("001019999999999", A))
    assert frames(out, "thief") == [
        lk.AttachReject(lk.RejectCause.NOT_PROVISIONED, "no such subscriber on this SMSC")
    ]
    assert AttachRefused("thief", "001019999999999", A, lk.RejectCause.NOT_PROVISIONED) in out
    thief = MsLink(IMSI, A, auth.Keys(k=b"\x07" * 16, opc=KEYS.opc))
    seen = exchange(net, thief, "thief")
    refused = [e for e in seen if isinstance(e, AttachRefused)]
    assert refused == [AttachRefused("thief", IMSI, A, lk.RejectCause.AUTHENTICATION_FAILED)]
    assert net.state("thief") is State.UNATTACHED and net.link_of(A) is None
    assert any(isinstance(e, Rejected) for e in seen)


def test_a_wrong_res_is_refused() -> None:
    net = network()
    net.opened("one")
    net.receive("one", lk.Attach(IMSI, A))
    assert net.state("one") is State.AUTHENTICATING
    out = net.receive("one", lk.AuthResponse(b"\x00" * 8))
    assert frames(out, "one") == [
        lk.AttachReject(lk.RejectCause.AUTHENTICATION_FAILED, "wrong RES")
    ]
    assert net.state("one") is State.UNATTACHED


def test_a_captured_response_is_worthless_on_another_connection() -> None:
    net, ms = network(), MsLink(IMSI, A, KEYS)
    net.opened("one")
    (req,) = frames(net.receive("one", lk.Attach(IMSI, A)), "one")
    (answered,) = ms.receive(lk.encode_frame(req))
    assert isinstance(answered, Challenged)
    (captured,) = lk.FrameReader().feed(answered.reply)
    assert not isinstance(captured, lk.MalformedFrame)
    net.opened("replay")
    net.receive("replay", lk.Attach(IMSI, A))
    out = net.receive("replay", captured)  # a new RAND: the old RES does not fit
    assert any(isinstance(o, AttachRefused) for o in out)


def test_a_network_that_lost_its_sqn_resynchronises() -> None:
    """The SMSC restarted from an older SQN: the SIM's synch failure puts it right."""
    ms = MsLink(IMSI, A, KEYS, sqn=40)
    net = network(sqn=3)
    seen = exchange(net, ms)
    failures = [e for e in seen if isinstance(e, Challenged) and e.failure]
    assert [f.failure for f in failures] == [auth.Failure.SYNCH_FAILURE]
    assert SqnAdvanced(IMSI, 41) in seen and Attached("one", A, IMSI) in seen
    assert ms.sqn == 41


def test_a_second_synch_failure_ends_the_attach() -> None:
    net = network()
    net.opened("one")
    net.receive("one", lk.Attach(IMSI, A))
    out = net.receive("one", lk.AuthFailure(auth.Failure.SYNCH_FAILURE, b"\x00" * 14))
    assert frames(out, "one") == [
        lk.AttachReject(lk.RejectCause.AUTHENTICATION_FAILED, "the SIM refused the challenge (21)")
    ]


def test_a_sim_without_keys_refuses_and_is_refused() -> None:
    seen = exchange(network(), MsLink(IMSI, A))
    assert [e.failure for e in seen if isinstance(e, Challenged)] == [auth.Failure.MAC_FAILURE]
    assert any(isinstance(e, Rejected) for e in seen)


def test_auth_frames_out_of_turn_and_frames_while_authenticating() -> None:
    net = network()
    net.opened("one")
    out = net.receive("one", lk.AuthResponse(b"\x00" * 8))
    assert isinstance(out[0], ProtocolError)
    assert frames(out, "one") == [
        lk.Error(lk.ErrorCode.UNEXPECTED_FRAME, "no challenge is outstanding")
    ]
    net.receive("one", lk.Attach(IMSI, A))
    out = net.receive("one", lk.Detach())
    assert frames(out, "one") == [lk.Error(lk.ErrorCode.NOT_ATTACHED, "attach first")]
    (again, advanced) = net.receive("one", lk.Attach(IMSI, A))  # a new challenge
    assert isinstance(again, Send) and isinstance(again.frame, lk.AuthRequest)
    assert advanced == SqnAdvanced(IMSI, 2)
    assert net.lost("one") == [] and net.state("one") is State.UNATTACHED


def test_a_phone_that_roamed_moves_when_it_authenticates() -> None:
    net = network()
    old = MsLink(IMSI, A, KEYS)
    exchange(net, old, "old")
    seen = exchange(net, old, "new")  # the same SIM, a new connection
    assert Detached("old", A) in seen and Close("old") in seen
    assert net.link_of(A) == "new"


def test_the_rand_pool_never_gives_the_same_octets_twice() -> None:
    """RANDs from the pool are fresh draws of ``os.urandom``: across refills,
    every 16 octets differ (a repeat would replay a challenge)."""
    pool = auth.RandPool(block=64)
    rands = [pool(16) for _ in range(1000)] + [pool(100)]
    assert all(len(r) == 16 for r in rands[:-1]) and len(rands[-1]) == 100
    assert len(set(rands)) == len(rands)
