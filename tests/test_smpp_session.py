"""The ESME session state machine without a reactor (SMPP 3.4 §2.2-§2.3):
PDUs in, actions out."""

from __future__ import annotations

from collections.abc import Sequence

from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S
from smpp34.session import (
    Answered,
    Authenticate,
    Close,
    EsmeSession,
    Send,
    Serve,
    State,
)


def sent(actions: Sequence[object]) -> list[p.Pdu]:
    return [a.pdu for a in actions if isinstance(a, Send)]


def bound(
    kind: type[p.BindTransmitter | p.BindReceiver | p.BindTransceiver] = p.BindTransceiver,
    window: int = 2,
) -> EsmeSession:
    session = EsmeSession(window=window)
    bind = kind(sequence_number=1, system_id="tester", password="secret")
    assert session.receive(bind) == [Authenticate(bind)]
    (resp,) = sent(session.bind_result(S.ESME_ROK))
    assert resp.command_status == 0 and resp.sequence_number == 1
    return session


def submit(seq: int) -> p.SubmitSm:
    return p.SubmitSm(sequence_number=seq, destination_addr="15550001001", short_message=b"x")


def test_nothing_but_a_bind_before_a_bind() -> None:
    session = EsmeSession()
    (resp,) = sent(session.receive(submit(3)))
    assert isinstance(resp, p.SubmitSmResp) and resp.command_status == S.ESME_RINVBNDSTS
    (link,) = sent(session.receive(p.EnquireLink(sequence_number=4)))
    assert isinstance(link, p.EnquireLinkResp) and link.sequence_number == 4


def test_a_refused_bind_may_be_tried_again_and_a_second_bind_is_refused() -> None:
    session = EsmeSession()
    bind = p.BindTransmitter(sequence_number=1, system_id="tester", password="bad")
    session.receive(bind)
    (resp,) = sent(session.bind_result(S.ESME_RINVPASWD))
    assert resp.command_status == S.ESME_RINVPASWD and session.state is State.OPEN
    session = bound()
    (again,) = sent(session.receive(p.BindReceiver(sequence_number=2)))
    assert isinstance(again, p.BindReceiverResp) and again.command_status == S.ESME_RALYBND


def test_a_receiver_may_not_submit_and_a_transmitter_gets_no_deliver_sm() -> None:
    rx = bound(p.BindReceiver)
    (resp,) = sent(rx.receive(submit(2)))
    assert resp.command_status == S.ESME_RINVBNDSTS
    tx = bound(p.BindTransmitter)
    assert tx.request(p.DeliverSm) is None and tx.room == 0
    assert tx.receive(submit(2)) == [Serve(submit(2))]


def test_the_window_bounds_both_directions() -> None:
    session = bound(window=2)
    assert session.receive(submit(2)) == [Serve(submit(2))]
    assert session.receive(submit(3)) == [Serve(submit(3))]
    (busy,) = sent(session.receive(submit(4)))
    assert busy.command_status == S.ESME_RTHROTTLED
    session.respond(p.SubmitSmResp(sequence_number=2, message_id="1"))
    assert session.receive(submit(5)) == [Serve(submit(5))]
    first = session.request(p.DeliverSm, short_message=b"a")
    second = session.request(p.DeliverSm, short_message=b"b")
    assert first is not None and second is not None
    assert session.request(p.DeliverSm, short_message=b"c") is None  # window full
    request = first[0]
    resp = p.DeliverSmResp(sequence_number=request.sequence_number)
    assert session.receive(resp) == [Answered(request, resp)]
    assert session.receive(resp) == []  # a duplicate answers nothing
    assert session.room == 1


def test_unbind_answers_then_closes_and_errors_get_their_answers() -> None:
    session = bound()
    actions = session.receive(p.Unbind(sequence_number=9))
    assert sent(actions) == [p.UnbindResp(sequence_number=9)]
    assert isinstance(actions[-1], Close) and session.closed
    session = bound()
    bad = p.SmppError(S.ESME_RINVCMDID, "unknown", 0, 5, 0x77)
    (nack,) = sent(session.receive(bad))
    assert isinstance(nack, p.GenericNack) and (nack.sequence_number, nack.command_status) == (
        5,
        S.ESME_RINVCMDID,
    )
    fatal = p.SmppError(S.ESME_RINVCMDLEN, "framing lost", 0, None, None, fatal=True)
    actions = session.receive(fatal)
    assert isinstance(actions[-1], Close) and session.closed


def test_sequence_numbers_wrap_and_a_closed_session_hands_back_what_was_in_flight() -> None:
    session = bound(window=5)
    session._next_seq = 0x7FFFFFFF
    a = session.request(p.DeliverSm)
    b = session.request(p.DeliverSm)
    assert a is not None and b is not None
    assert (a[0].sequence_number, b[0].sequence_number) == (0x7FFFFFFF, 1)
    lost = session.close()
    assert [x.sequence_number for x in lost] == [0x7FFFFFFF, 1]
    assert session.receive(submit(2)) == []


def test_after_our_unbind_responses_still_count_and_its_resp_closes() -> None:
    session = bound(window=3)
    deliver = session.request(p.DeliverSm, short_message=b"in flight")
    unbind = session.request(p.Unbind)
    assert deliver is not None and unbind is not None
    assert session.state is State.UNBINDING and session.room == 0
    (refused,) = sent(session.receive(submit(7)))
    assert refused.command_status == S.ESME_RINVBNDSTS
    resp = p.DeliverSmResp(sequence_number=deliver[0].sequence_number)
    assert session.receive(resp) == [Answered(deliver[0], resp)]
    bye = p.UnbindResp(sequence_number=unbind[0].sequence_number)
    actions = session.receive(bye)
    assert isinstance(actions[-1], Close) and session.closed


def test_a_dropped_response_leaves_the_window_all_the_same() -> None:
    session = bound(window=1)
    assert session.receive(submit(2)) == [Serve(submit(2))]
    assert session.respond(None) == []
    assert session.receive(submit(3)) == [Serve(submit(3))]


def test_a_bind_response_says_version_3_4() -> None:
    session = EsmeSession()
    session.receive(p.BindTransceiver(sequence_number=1, system_id="t", password="p"))
    (resp,) = sent(session.bind_result(S.ESME_ROK))
    assert resp.tlvs.sc_interface_version == 0x34
