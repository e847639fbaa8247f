"""The handset's store on a real database (SQLite file and PostgreSQL):
numbering, parts and reports, reads and responses, feedback, queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, insert, inspect

from handset.conversation import Mark, OutState
from handset.models import Direction, Message
from handset.store import (
    MIGRATIONS,
    FragmentKey,
    HandsetStore,
    NotFound,
    Repository,
    Settings,
    open_engine,
)
from pdu.message_number import Carrier
from smsc.store import open_engine as open_smsc_engine

ME, BOB, CAROL = "+4915112345678", "+15551234567", "+447700900123"
T0 = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def repo(engine: Engine) -> Repository:
    return Repository(engine, ME)


def one_part(number: int | None, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
    return [(first_mr, bytes([0x21, first_mr, number or 0]))]


def three_parts(number: int | None, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
    return [((first_mr + i) % 256, bytes([i, number or 0])) for i in range(3)]


def send(repo: Repository, peer: str = BOB, text: str = "hi", build: object = one_part) -> int:
    out = repo.create_outgoing(peer, text, Carrier.UDH, T0, build)  # type: ignore[arg-type]
    return out.message.id


def receive(repo: Repository, text: str = "hello", number: int | None = 7, peer: str = BOB) -> int:
    got = repo.store_incoming(peer, text, number, Carrier.UDH, T0, 1, None, T0)
    return got.message.id


# -- numbering ---------------------------------------------------------------------------


def test_numbering_persists_across_reopen_and_wraps_at_256(database_url: str) -> None:
    engine = open_engine(database_url)
    repo = Repository(engine, ME)
    numbers = [repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part).message.number]
    numbers += [repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part).message.number]
    engine.dispose()

    engine = open_engine(database_url)  # a restart
    repo = Repository(engine, ME)
    for _ in range(255):
        numbers.append(repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part).message.number)
    engine.dispose()
    assert numbers == [*range(256), 0]  # the 257th message carries number 0


def test_conversations_number_independently(repo: Repository) -> None:
    assert [repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part).message.number
            for _ in range(3)] == [0, 1, 2]  # fmt: skip
    assert repo.create_outgoing(CAROL, "x", Carrier.UDH, T0, one_part).message.number == 0
    assert repo.next_number(BOB) == 3
    assert repo.next_number("+19995550000") == 0


def test_a_message_that_cannot_be_built_takes_no_number(repo: Repository) -> None:
    def broken(number: int | None, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
        raise ValueError("too long")

    with pytest.raises(ValueError):
        repo.create_outgoing(BOB, "x", Carrier.UDH, T0, broken)
    assert repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part).message.number == 0
    assert repo.conversation(BOB)[0].number == 0


def test_tp_mr_and_concatenation_reference_run_across_conversations(repo: Repository) -> None:
    seen: list[tuple[int | None, int, int]] = []

    def record(number: int | None, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
        seen.append((number, ref, first_mr))
        return three_parts(number, ref, first_mr)

    repo.create_outgoing(BOB, "x", Carrier.UDH, T0, record)
    repo.create_outgoing(CAROL, "x", Carrier.UDH, T0, record)
    assert seen == [(0, 0, 0), (0, 1, 3)]


def test_handsets_sharing_a_database_see_only_their_own(engine: Engine) -> None:
    mine, theirs = Repository(engine, ME), Repository(engine, CAROL)
    send(mine)
    receive(theirs, peer=ME)
    assert [c.peer for c in mine.conversations()] == [BOB]
    assert [c.peer for c in theirs.conversations()] == [ME]
    assert theirs.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part).message.number == 0
    with pytest.raises(NotFound):
        mine.mark_read(theirs.inbox()[0].id, T0)


def test_the_handset_shares_a_database_with_the_smsc(database_url: str) -> None:
    smsc = open_smsc_engine(database_url)
    handset = open_engine(database_url)
    tables = set(inspect(handset).get_table_names())
    assert {"message", "subscriber", "handset_message", "handset_alembic_version"} <= tables
    handset.dispose()
    open_engine(database_url).dispose()  # migrating again is a no-op
    smsc.dispose()


# -- sending: parts, acknowledgements, status reports ------------------------------------------


def test_parts_pending_until_accepted_then_delivered_by_reports(repo: Repository) -> None:
    out = repo.create_outgoing(BOB, "x", Carrier.UDH, T0, three_parts)
    assert out.message.state is OutState.SENDING
    assert [p.id for p in repo.pending_parts()] == [p.id for p in out.parts]
    assert repo.part_accepted(out.parts[0].id) is None  # one part of three
    assert repo.part_accepted(out.parts[1].id) is None
    change = repo.part_accepted(out.parts[2].id)
    assert change is not None and (change.old, change.new) == (OutState.SENDING, OutState.SENT)
    assert repo.pending_parts() == []

    assert repo.apply_report(BOB, 0, 0x00, OutState.DELIVERED) is None
    assert repo.apply_report(BOB, 1, 0x21, None) is None  # still trying
    assert repo.apply_report(BOB, 1, 0x00, OutState.DELIVERED) is None
    change = repo.apply_report(BOB, 2, 0x00, OutState.DELIVERED)
    assert change is not None and change.new is OutState.DELIVERED
    assert repo.message(out.message.id).state is OutState.DELIVERED


def test_a_report_matches_the_peer_and_the_newest_part_with_its_tp_mr(repo: Repository) -> None:
    first = send(repo)  # TP-MR 0
    for _ in range(255):
        send(repo, CAROL)  # TP-MR 1..255
    newest = send(repo)  # TP-MR 0 again
    assert repo.apply_report("+10000000000", 0, 0x00, OutState.DELIVERED) is None
    change = repo.apply_report(BOB, 0, 0x00, OutState.DELIVERED)
    assert change is not None and change.message_id == newest
    assert repo.message(first).state is OutState.SENDING


def test_refused_or_expired_parts_end_the_message(repo: Repository) -> None:
    out = repo.create_outgoing(BOB, "x", Carrier.UDH, T0, three_parts)
    change = repo.part_refused(out.parts[1].id, 21)
    assert change is not None and change.new is OutState.FAILED
    assert repo.pending_parts() == []  # nothing more of it is submitted
    other = send(repo)
    repo.part_accepted(repo.pending_parts()[0].id)
    change = repo.apply_report(BOB, 3, 0x46, OutState.EXPIRED)
    assert change is not None and (change.message_id, change.new) == (other, OutState.EXPIRED)


# -- feedback ----------------------------------------------------------------------------


def test_feedback_marks_the_newest_message_with_its_number(repo: Repository) -> None:
    ids = [send(repo) for _ in range(257)]  # numbers 0..255, 0
    change = repo.apply_feedback(BOB, 0, 1, T0)
    assert change is not None and change.message_id == ids[256] and change.new is OutState.READ
    assert repo.message(ids[0]).state is OutState.SENDING
    assert repo.apply_feedback(BOB, 0, 1, T0) is None  # a duplicate changes nothing
    assert repo.apply_feedback(BOB, 5, 0, T0) is None  # "not yet read" changes nothing
    assert repo.message(ids[5]).state is OutState.SENDING
    assert repo.apply_feedback(CAROL, 5, 1, T0) is None  # no such conversation


def test_after_a_wrap_the_feedback_time_tells_the_old_number_from_the_new(
    repo: Repository,
) -> None:
    """The 256th message problem: the receiver read the old #0, not the new.
    The feedback says when the message was sent (the TP-SCTS the receiver
    saw, as the SMS-SUBMIT-REPORT gave it to the sender)."""
    ids = [send(repo) for _ in range(257)]  # numbers 0..255, 0
    for i, part in enumerate(repo.pending_parts()):
        repo.part_accepted(part.id, T0 + timedelta(minutes=i))
    assert repo.message(ids[0]).tp_scts == T0
    change = repo.apply_feedback(BOB, 0, 1, T0, sent_at=T0 + timedelta(seconds=2))
    assert change is not None and change.message_id == ids[0]
    assert repo.message(ids[256]).state is OutState.SENT
    change = repo.apply_feedback(BOB, 0, 1, T0, sent_at=T0 + timedelta(minutes=256))
    assert change is not None and change.message_id == ids[256]


def test_feedback_never_moves_a_state_backwards(repo: Repository) -> None:
    mid = send(repo)
    part = repo.pending_parts()[0]
    repo.apply_feedback(BOB, 0, 1, T0)
    assert repo.pending_parts() == []  # read: it arrived, nothing to submit again
    assert repo.part_accepted(part.id) is None  # a late RP-ACK
    assert repo.apply_report(BOB, 0, 0x00, OutState.DELIVERED) is None
    assert repo.message(mid).state is OutState.READ


# -- receiving and reading ----------------------------------------------------------------


def test_read_owes_a_response_until_the_server_takes_it(repo: Repository) -> None:
    mid = receive(repo)
    assert repo.inbox()[0].read is False
    opened = repo.mark_read(mid, T0)
    assert opened.respond and opened.message.read and opened.first
    owed = [(r.message_id, r.sender, r.number) for r in repo.pending_responses()]
    assert owed == [(mid, BOB, 7)]
    # When it was sent, as this receiver saw it: its TP-SCTS.
    assert repo.pending_responses()[0].sent_at == repo.message(mid).tp_scts
    again = repo.mark_read(mid, T0)
    assert again.respond and not again.first  # opened again: still owed, not owed twice
    assert len(repo.pending_responses()) == 1
    repo.response_done(mid)
    assert repo.pending_responses() == []
    assert not repo.mark_read(mid, T0).respond


def test_no_response_without_a_number_or_with_receipts_off(repo: Repository) -> None:
    legacy = receive(repo, number=None)
    assert not repo.mark_read(legacy, T0).respond
    owed = receive(repo, "a", 1)
    repo.mark_read(owed, T0)
    assert repo.save_settings(Settings(receipts=False)).receipts is False
    assert repo.pending_responses() == []  # turned off: what was owed is dropped
    later = receive(repo, "b", 2)
    assert not repo.mark_read(later, T0).respond
    assert repo.pending_responses() == []


def test_viewing_a_conversation_opens_its_unread_messages_at_once(repo: Repository) -> None:
    """``open_conversation``: what ``mark_read`` does to each unread received
    message from the peer, in one call; sent, read and others' messages stay."""
    first, legacy = receive(repo, "a", 1), receive(repo, "b", None)
    read_before = receive(repo, "c", 2)
    repo.mark_read(read_before, T0)
    repo.response_done(read_before)
    elsewhere = receive(repo, "d", 3, peer=CAROL)
    sent = send(repo)
    opened = repo.open_conversation(BOB, T0)
    assert [(o.message.id, o.message.read, o.respond, o.first) for o in opened] == [
        (first, True, True, True),
        (legacy, True, False, True),  # no number: nothing to answer
    ]
    assert [r.message_id for r in repo.pending_responses()] == [first]
    assert [mid for mid, _ in repo.pending_read_syncs()] == [first, legacy, read_before]
    assert not repo.message(elsewhere).read and repo.message(sent).state is not None
    assert [m.read for m in repo.conversation(BOB) if m.id != sent] == [True, True, True]
    assert repo.open_conversation(BOB, T0) == []  # nothing unread left


def test_a_resent_message_is_stored_once(repo: Repository) -> None:
    first = repo.store_incoming(BOB, "hi", 3, Carrier.UDH, T0, 1, None, T0)
    again = repo.store_incoming(BOB, "hi", 3, Carrier.UDH, T0, 1, None, T0)
    assert not first.duplicate and again.duplicate
    assert again.message.id == first.message.id
    later = repo.store_incoming(BOB, "hi", 3, Carrier.UDH, T0 + timedelta(minutes=1), 1, None, T0)
    assert not later.duplicate
    assert len(repo.inbox()) == 2


def test_an_unnumbered_resent_message_is_stored_once(repo: Repository) -> None:
    """A legacy sender numbers nothing: TP-SCTS and the text tell a resend."""
    first = repo.store_incoming(BOB, "hi", None, None, T0, 1, None, T0)
    again = repo.store_incoming(BOB, "hi", None, None, T0, 1, None, T0 + timedelta(hours=1))
    assert not first.duplicate and again.duplicate
    assert again.message.id == first.message.id
    for other in [
        repo.store_incoming(BOB, "hi", None, None, T0 + timedelta(seconds=1), 1, None, T0),
        repo.store_incoming(BOB, "hi!", None, None, T0, 1, None, T0),
        repo.store_incoming(CAROL, "hi", None, None, T0, 1, None, T0),
        repo.store_incoming(BOB, "hi", 0, Carrier.UDH, T0, 1, None, T0),  # numbered: another
    ]:
        assert not other.duplicate
    assert len(repo.inbox()) == 5


def held(repo: Repository) -> list[tuple[str, int, bytes]]:
    return [(f.key.sender, f.seq, f.tpdu) for f in repo.fragments()]


def test_fragments_are_kept_until_their_message_is_whole(repo: Repository) -> None:
    key = FragmentKey(BOB, 8, 42, 3)
    repo.save_fragment(key, 1, b"one", T0)
    repo.save_fragment(key, 1, b"one", T0)  # a repeat
    repo.save_fragment(key, 2, b"two", T0 + timedelta(seconds=5))
    repo.save_fragment(FragmentKey(CAROL, 8, 42, 3), 1, b"other", T0)
    assert held(repo) == [(BOB, 1, b"one"), (BOB, 2, b"two"), (CAROL, 1, b"other")]
    assert [f.received_at for f in repo.fragments()] == [T0, T0 + timedelta(seconds=5), T0]
    assert not repo.part_consumed(key, 1, b"one")
    repo.store_incoming(BOB, "whole", 1, Carrier.UDH, T0, 3, key, T0, (3, b"three"))
    assert held(repo) == [(CAROL, 1, b"other")]


def test_parts_of_a_stored_message_are_known_again(repo: Repository) -> None:
    """A part the SMSC resends after a lost RP-ACK is told from a new message's part."""
    key = FragmentKey(BOB, 8, 42, 2)
    repo.save_fragment(key, 1, b"one", T0)
    repo.store_incoming(BOB, "whole", 1, Carrier.UDH, T0, 2, key, T0, (2, b"two"))
    assert repo.part_consumed(key, 1, b"one") and repo.part_consumed(key, 2, b"two")
    assert not repo.part_consumed(key, 2, b"a later message's two")  # the reference wrapped
    assert not repo.part_consumed(key, 1, b"two")
    assert not repo.part_consumed(FragmentKey(CAROL, 8, 42, 2), 2, b"two")
    assert not Repository(repo.engine, CAROL).part_consumed(key, 2, b"two")
    assert repo.prune_consumed(T0) == 0
    assert repo.prune_consumed(T0 + timedelta(seconds=1)) == 2
    assert not repo.part_consumed(key, 2, b"two")


def test_incomplete_messages_expire_by_their_first_part(repo: Repository) -> None:
    old, fresh = FragmentKey(BOB, 8, 1, 3), FragmentKey(BOB, 8, 2, 3)
    repo.save_fragment(old, 1, b"old one", T0)
    repo.save_fragment(old, 2, b"old two", T0 + timedelta(days=2))
    repo.save_fragment(fresh, 1, b"fresh one", T0 + timedelta(days=1))
    theirs = Repository(repo.engine, CAROL)
    theirs.save_fragment(old, 1, b"not mine", T0)
    assert repo.expire_fragments(T0) == []
    assert repo.expire_fragments(T0 + timedelta(days=1)) == [old]
    assert held(repo) == [(BOB, 1, b"fresh one")]
    assert held(theirs) == [(BOB, 1, b"not mine")]


def test_the_schema_upgrades_a_store_of_the_first_revision(database_url: str) -> None:
    engine = create_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(  # a message stored before the upgrade
            insert(Message).values(
                owner=ME,
                peer=BOB,
                direction="in",
                text="kept",
                read=False,
                response_pending=False,
                part_count=1,
                created_at=T0.replace(tzinfo=None),
                tp_scts=T0.replace(tzinfo=None),
            )
        )
    engine.dispose()
    engine = open_engine(database_url)
    try:
        repo = Repository(engine, ME)
        assert [m.text for m in repo.inbox()] == ["kept"]
        assert repo.store_incoming(BOB, "kept", None, None, T0, 1, None, T0).duplicate
        assert "handset_consumed_part" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


# -- queries ----------------------------------------------------------------------------


def test_inbox_conversations_and_marks(repo: Repository) -> None:
    a = receive(repo, "from bob", 0)
    for i in range(3):
        send(repo, text=f"to bob {i}")
    receive(repo, "from carol", 0, CAROL)
    receive(repo, "again carol", 1, CAROL)
    for part in repo.pending_parts():
        repo.part_accepted(part.id)
    repo.apply_feedback(BOB, 1, 1, T0)

    inbox = repo.inbox()
    assert [m.text for m in inbox] == ["again carol", "from carol", "from bob"]
    assert all(m.direction is Direction.IN and not m.read for m in inbox)

    summary = repo.conversations()
    assert [(c.peer, c.messages, c.unread) for c in summary] == [(CAROL, 2, 2), (BOB, 4, 1)]
    assert summary[1].last.text == "to bob 2"

    repo.mark_read(a, T0)
    bob = repo.conversation(BOB)
    assert [(m.text, m.state, m.mark) for m in bob] == [
        ("from bob", None, None),
        ("to bob 0", OutState.SENT, None),
        ("to bob 1", OutState.READ, Mark.READ),
        ("to bob 2", OutState.SENT, Mark.SENT),
    ]
    assert bob[0].read and bob[2].read and not bob[1].read
    assert bob[2].as_dict() == {
        "id": bob[2].id,
        "peer": BOB,
        "direction": "out",
        "text": "to bob 1",
        "number": 1,
        "carrier": "udh",
        "state": "read",
        "read": True,
        "response_pending": False,
        "parts": 1,
        "created_at": "2026-09-21T12:00:00+00:00",
        "tp_scts": None,
        "uid": bob[2].uid,
        "via": "sms",
        "mark": "Read",
    }
    assert json.loads(json.dumps(repo.conversations()[0].as_dict()))["last"]["tp_scts"] == (
        "2026-09-21T12:00:00+00:00"
    )
    assert repo.conversations()[1].unread == 0


def test_settings_are_kept_and_checked(repo: Repository) -> None:
    assert repo.load_settings(Settings(carrier=Carrier.INLINE)).carrier is Carrier.INLINE
    assert repo.load_settings().carrier is Carrier.INLINE  # stored on first use
    saved = repo.save_settings(Settings(Carrier.UDH, receipts=False, iei=0x9F, marker="#"))
    assert repo.load_settings() == saved
    with pytest.raises(ValueError, match="IEI"):
        Settings(iei=0x00)  # concatenation's
    with pytest.raises(ValueError, match="marker"):
        Settings(marker="")
    with pytest.raises(ValueError):
        Settings(carrier="pigeon")  # type: ignore[arg-type]


def test_unknown_message_is_not_found(repo: Repository) -> None:
    with pytest.raises(NotFound, match="no message 99"):
        repo.mark_read(99, T0)


@pytest_twisted.ensureDeferred
async def test_store_calls_run_in_order_off_the_reactor(database_url: str) -> None:
    store = HandsetStore.open(database_url, ME)
    try:
        calls = [
            store.call(store.repo.create_outgoing, BOB, str(i), Carrier.UDH, T0, one_part)
            for i in range(5)
        ]
        numbers = [(await d).message.number for d in calls]
        assert numbers == [0, 1, 2, 3, 4]
        with pytest.raises(NotFound):
            await store.call(store.repo.mark_read, 12345, T0)
    finally:
        await store.close()
