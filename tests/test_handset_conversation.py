"""The sent message's states and the conversation list's marks
(docs/read-receipts.md §Conversations): pure functions, no reactor, no
database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handset.conversation import (
    ENDED,
    Mark,
    OutState,
    advance,
    combine,
    marks,
    report_state,
)

S = OutState
ALL = list(OutState)
states = st.sampled_from(ALL)


def test_states_move_forward_only() -> None:
    assert advance(S.SENDING, S.SENT) is S.SENT
    assert advance(S.SENT, S.DELIVERED) is S.DELIVERED
    assert advance(S.DELIVERED, S.SENT) is S.DELIVERED  # a late RP-ACK after the report
    assert advance(S.READ, S.DELIVERED) is S.READ  # a late report after the feedback
    assert advance(S.SENDING, S.READ) is S.READ


def test_failed_and_expired_end_a_message_that_never_arrived() -> None:
    assert advance(S.SENDING, S.FAILED) is S.FAILED
    assert advance(S.SENT, S.EXPIRED) is S.EXPIRED
    assert advance(S.FAILED, S.DELIVERED) is S.FAILED
    assert advance(S.EXPIRED, S.FAILED) is S.EXPIRED
    # A delivered message did arrive: a failure report about it changes nothing.
    assert advance(S.DELIVERED, S.FAILED) is S.DELIVERED


def test_read_beats_a_failure_report() -> None:
    """The receiver's own device says it was read: that is what the user sees."""
    assert advance(S.FAILED, S.READ) is S.READ
    assert advance(S.EXPIRED, S.READ) is S.READ


ORDER = {S.SENDING: 0, S.SENT: 1, S.DELIVERED: 2, S.FAILED: 2, S.EXPIRED: 2, S.READ: 3}


@given(st.lists(states, max_size=12))
def test_any_sequence_of_news_never_goes_back(news: list[OutState]) -> None:
    state = S.SENDING
    for new in news:
        after = advance(state, new)
        assert ORDER[after] >= ORDER[state]
        assert after in (state, new)
        assert advance(after, new) is after  # a repeat changes nothing
        if state in ENDED:
            assert after in (state, S.READ)
        state = after
    if S.READ in news:
        assert state is S.READ


def test_a_message_is_as_far_as_its_slowest_part() -> None:
    assert combine([S.DELIVERED, S.SENT, S.DELIVERED]) is S.SENT
    assert combine([S.DELIVERED, S.DELIVERED]) is S.DELIVERED
    assert combine([S.SENT, S.SENDING]) is S.SENDING
    assert combine([S.DELIVERED, S.EXPIRED, S.SENT]) is S.EXPIRED


def test_status_report_values() -> None:
    assert report_state(0x00) is S.DELIVERED
    assert report_state(0x01) is S.DELIVERED
    assert report_state(0x21) is None  # SME busy: the SMSC is still trying
    assert report_state(0x46) is S.EXPIRED
    assert report_state(0x42) is S.FAILED
    assert report_state(0x62) is S.FAILED  # temporary, but the SMSC gave up


def test_the_demo() -> None:
    """A sends three messages, B reads the second, then the third."""
    sent = [S.DELIVERED, S.DELIVERED, S.DELIVERED]
    assert marks(sent) == [None, None, Mark.SENT]
    sent[1] = S.READ
    assert marks(sent) == [None, Mark.READ, Mark.SENT]
    sent[2] = S.READ
    # "Sent" under the newest sent message not yet read, which is 1
    # (docs/read-receipts.md §Conversations).
    assert marks(sent) == [Mark.SENT, None, Mark.READ]
    sent[0] = S.READ
    assert marks(sent) == [None, None, Mark.READ]


def test_received_messages_get_no_mark_and_do_not_hide_one() -> None:
    assert marks([S.SENT, None, None]) == [Mark.SENT, None, None]
    assert marks([S.READ, None, S.SENT, None]) == [Mark.READ, None, Mark.SENT, None]


def test_sending_and_failed_messages_get_no_mark() -> None:
    assert marks([S.SENT, S.SENDING, S.FAILED]) == [Mark.SENT, None, None]
    assert marks([S.READ, S.FAILED]) == [Mark.READ, None]


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[OutState | None], list[int]]:
    """Messages in a conversation (None: received) and an order in which the
    receiver reads some of the sent ones."""
    kinds = draw(st.lists(st.sampled_from([None, S.SENDING, S.SENT, S.DELIVERED]), max_size=10))
    sent = [i for i, k in enumerate(kinds) if k is not None]
    reads = draw(st.permutations(sent)) if sent else []
    return list(kinds), list(reads[: draw(st.integers(0, len(reads)))])


@given(conversations())
def test_marks_over_random_read_orders(case: tuple[list[OutState | None], list[int]]) -> None:
    messages, reads = case
    last_read_at = -1
    for step in [None, *reads]:
        if step is not None:
            state = messages[step]
            assert state is not None
            messages[step] = advance(state, S.READ)
        shown = marks(messages)
        read_marks = [i for i, m in enumerate(shown) if m is Mark.READ]
        sent_marks = [i for i, m in enumerate(shown) if m is Mark.SENT]
        assert len(read_marks) <= 1 and len(sent_marks) <= 1
        assert all(messages[i] is not None for i, m in enumerate(shown) if m is not None)
        read_at = read_marks[0] if read_marks else -1
        # "Read" sits on the newest read message, and only moves down the list.
        assert all(s is not S.READ for s in messages[read_at + 1 :])
        assert read_at == -1 or messages[read_at] is S.READ
        assert read_at >= last_read_at
        last_read_at = read_at
        # "Sent" sits on the newest accepted, unread message, wherever it is.
        accepted = [i for i, s in enumerate(messages) if s in (S.SENT, S.DELIVERED)]
        assert sent_marks == accepted[-1:]
    if set(reads) == {i for i, m in enumerate(messages) if m is not None}:
        assert Mark.SENT not in marks(messages)  # all read: nothing waits
