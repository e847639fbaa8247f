"""The handset's store for the multi-device history (docs/history-query.md) and the IP path
(docs/read-receipts.md §Routing): message uids, search, import, what is owed to the IP server, and
the migration that brings them, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, inspect, text

from handset.conversation import OutState
from handset.models import Direction
from handset.store import (
    MIGRATIONS,
    HistoryItem,
    HistoryQuery,
    IpPath,
    NotFound,
    Repository,
    Settings,
    open_engine,
    received_uid,
    sqlite_url,
)
from pdu.message_number import Carrier

from . import test_handset_store as store_tests
from .test_handset_store import BOB, CAROL, ME, T0, one_part, receive, send, three_parts

engine = store_tests.engine
repo = store_tests.repo

HEX32 = re.compile(r"[0-9a-f]{32}")
UID = "0123456789abcdef0123456789abcdef"


def item(
    uid: str, at: datetime = T0, direction: Direction = Direction.IN, **kw: str
) -> HistoryItem:
    return HistoryItem(uid, kw.get("peer", BOB), direction, kw.get("text", "old"), at)


def uid_of(n: int) -> str:
    return f"{n:032x}"


def texts(found: list[HistoryItem]) -> list[str]:
    return [i.text for i in found]


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


# -- identity ----------------------------------------------------------------------------


def test_a_sent_message_gets_a_random_uid(repo: Repository) -> None:
    a, b = repo.message(send(repo)), repo.message(send(repo))
    assert HEX32.fullmatch(a.uid) and HEX32.fullmatch(b.uid) and a.uid != b.uid
    assert (a.via, b.via) == ("sms", "sms")
    given = repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part, uid=UID)
    assert given.message.uid == UID and repo.message_by_uid(UID).id == given.message.id
    with pytest.raises(ValueError, match="uid"):
        repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part, uid=UID.upper())
    assert repo.next_number(BOB) == 3  # the refused one took no number


def test_a_received_sms_gets_a_uid_its_resend_repeats(repo: Repository) -> None:
    first = repo.store_incoming(BOB, "hello", 7, Carrier.UDH, T0, 1, None, T0)
    assert first.message.uid == received_uid(ME, BOB, T0, 7, "hello")
    # The same on every device of the account: the owner's MSISDN part counts.
    assert first.message.uid == received_uid(f"desktop@{ME}", BOB, T0, 7, "hello")
    later = T0 + timedelta(hours=1)
    again = repo.store_incoming(BOB, "hello", 7, Carrier.UDH, T0, 1, None, later)
    assert again.duplicate and again.message.id == first.message.id
    assert len(repo.inbox()) == 1
    other = repo.store_incoming(BOB, "hello", 8, Carrier.UDH, T0, 1, None, T0)
    assert not other.duplicate and other.message.uid != first.message.uid
    assert repo.message_by_uid(first.message.uid).as_dict()["uid"] == first.message.uid


def test_a_received_sms_of_a_uid_held_already_is_a_duplicate(repo: Repository) -> None:
    repo.import_history([item(UID, text="from the tablet")])
    got = repo.store_incoming(BOB, "hi", 1, Carrier.UDH, T0, 1, None, T0, uid=UID)
    assert got.duplicate and got.message.text == "from the tablet"


def test_message_by_unknown_uid_is_not_found(repo: Repository) -> None:
    receive(repo)
    with pytest.raises(NotFound):
        repo.message_by_uid(UID)
    with pytest.raises(NotFound):
        Repository(repo.engine, CAROL).message_by_uid(repo.inbox()[0].uid)


def test_a_companion_device_owner_fits(engine: Engine) -> None:
    tablet = Repository(engine, f"0123456789abcdef@{ME}")  # 16 + 1 + 14: over 32
    tablet.save_settings(Settings(ip_path=IpPath.WHEN_POSSIBLE))
    tablet.import_history([item(UID)])
    assert tablet.search(HistoryQuery())[0].uid == UID


# -- search ------------------------------------------------------------------------------


def test_search_text_ignores_case_and_takes_wildcards_literally(repo: Repository) -> None:
    for body in ["Hello World", "100% sure", "1000 sure", "snake_case", "snakeXcase", "a/b", "ab"]:
        receive(repo, body, None)
    assert texts(repo.search(HistoryQuery(text="hELLO"))) == ["Hello World"]
    assert texts(repo.search(HistoryQuery(text="%"))) == ["100% sure"]
    assert texts(repo.search(HistoryQuery(text="0% s"))) == ["100% sure"]
    assert texts(repo.search(HistoryQuery(text="_"))) == ["snake_case"]
    assert texts(repo.search(HistoryQuery(text="a/b"))) == ["a/b"]
    assert texts(repo.search(HistoryQuery(text="//"))) == []
    assert texts(repo.search(HistoryQuery(text="nothing"))) == []
    assert len(repo.search(HistoryQuery(text=""))) == 7


def test_search_by_peer_and_time_newest_first_with_a_limit(repo: Repository) -> None:
    for minutes, peer in [(0, BOB), (1, CAROL), (2, BOB), (3, BOB), (4, CAROL)]:
        at = T0 + timedelta(minutes=minutes)
        repo.create_outgoing(peer, f"m{minutes}", Carrier.UDH, at, one_part)
    repo.store_incoming(BOB, "m2 too", None, None, T0, 1, None, T0 + timedelta(minutes=2))
    Repository(repo.engine, CAROL).store_incoming(ME, "not mine", None, None, T0, 1, None, T0)

    assert texts(repo.search(HistoryQuery())) == ["m4", "m3", "m2 too", "m2", "m1", "m0"]
    assert texts(repo.search(HistoryQuery(peer=BOB))) == ["m3", "m2 too", "m2", "m0"]
    window = HistoryQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert texts(repo.search(window)) == ["m2 too", "m2", "m1"]  # until is excluded
    assert texts(repo.search(HistoryQuery(peer=CAROL, since=T0 + timedelta(minutes=2)))) == ["m4"]
    assert texts(repo.search(HistoryQuery(text="m", peer=BOB, limit=2))) == ["m3", "m2 too"]
    found = repo.search(HistoryQuery(limit=1))[0]
    assert (found.peer, found.direction, found.at) == (
        CAROL,
        Direction.OUT,
        T0 + timedelta(minutes=4),
    )
    assert found.uid == repo.conversation(CAROL)[-1].uid


def test_history_values_are_checked() -> None:
    with pytest.raises(ValueError, match="uid"):
        item("not-a-uid")
    with pytest.raises(ValueError, match="aware"):
        item(UID, T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="limit"):
        HistoryQuery(limit=0)
    assert item(UID, direction="out").direction is Direction.OUT  # type: ignore[arg-type]


# -- import ------------------------------------------------------------------------------


def test_import_skips_the_uids_held_already_and_counts_the_new(repo: Repository) -> None:
    mine = repo.message(send(repo, text="sent here"))
    items = [
        item(uid_of(1), T0 - timedelta(days=2), text="in"),
        item(uid_of(2), T0 - timedelta(days=1), Direction.OUT, text="out"),
        item(mine.uid, text="sent here, as the tablet has it"),
        item(uid_of(1), text="the same again"),
    ]
    assert repo.import_history(items) == 2
    assert repo.import_history(items) == 0
    assert texts(repo.search(HistoryQuery(peer=BOB))) == ["sent here", "out", "in"]
    got_in, got_out = repo.message_by_uid(uid_of(1)), repo.message_by_uid(uid_of(2))
    assert (got_in.read, got_in.state, got_in.number, got_in.via) == (True, None, None, "sms")
    assert (got_out.state, got_out.read, got_out.parts) == (OutState.DELIVERED, False, 1)
    assert got_in.created_at == T0 - timedelta(days=2)
    assert [i.uid for i in repo.history_pending()] == [mine.uid]  # imported: owed nothing
    assert repo.pending_responses() == [] and len(repo.pending_parts()) == 1
    # Another handset in the same database imports them for itself.
    assert Repository(repo.engine, CAROL).import_history(items) == 3


def test_import_takes_a_hundred_thousand_items_at_once(tmp_path: Path) -> None:
    # How fast is bench/history_bench.py's business, not a test's.
    engine = open_engine(sqlite_url(tmp_path / "h.sqlite3"))
    try:
        repo = Repository(engine, ME)
        held = repo.message(send(repo)).uid
        items = [
            item(uid_of(n), T0 - timedelta(seconds=n), text=f"message {n}") for n in range(100_000)
        ]
        items[500] = item(held)
        assert repo.import_history(items) == 99_999
        assert len(repo.search(HistoryQuery(text="message 9999", limit=1000))) == 11
    finally:
        engine.dispose()


# -- what is owed to the IP server's history -----------------------------------------------


def test_history_pending_until_done(repo: Repository) -> None:
    sent = repo.message(send(repo, text="a"))
    got = repo.message(receive(repo, "b"))
    ip = repo.store_ip_incoming(CAROL, UID, "c", 4, T0, T0).message
    repo.import_history([item(uid_of(9))])
    assert texts(repo.history_pending()) == ["a", "b", "c"]
    assert texts(repo.history_pending(limit=2)) == ["a", "b"]
    repo.history_done([sent.uid, ip.uid, uid_of(9), uid_of(10)])
    assert [i.uid for i in repo.history_pending()] == [got.uid]
    Repository(repo.engine, CAROL).history_done([got.uid])  # not theirs
    assert [i.uid for i in repo.history_pending()] == [got.uid]
    repo.history_done([])
    repo.history_done([got.uid])
    assert repo.history_pending() == []


# -- the IP path -------------------------------------------------------------------------


def test_a_message_via_ip_is_numbered_without_parts(repo: Repository) -> None:
    out = repo.create_outgoing(BOB, "x", Carrier.UDH, T0, three_parts, via="ip")
    assert out.parts == [] and repo.pending_parts() == []
    m = out.message
    assert (m.number, m.state, m.via, m.parts) == (0, OutState.SENDING, "ip", 3)
    assert repo.ip_pending() == [m.id]
    assert [i.uid for i in repo.history_pending()] == [m.uid]
    # It used neither a concatenation reference nor a TP-MR.
    seen: list[tuple[int | None, int, int]] = []

    def record(number: int | None, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
        seen.append((number, ref, first_mr))
        return one_part(number, ref, first_mr)

    repo.create_outgoing(BOB, "y", Carrier.UDH, T0, record)
    assert seen == [(1, 0, 0)]
    with pytest.raises(ValueError):
        repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part, via="pigeon")


def test_the_ip_server_taking_it_makes_it_sent(repo: Repository) -> None:
    m = repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part, via="ip").message
    change = repo.ip_accepted(m.id)
    assert change is not None
    assert (change.message_id, change.peer, change.number) == (m.id, BOB, 0)
    assert (change.old, change.new) == (OutState.SENDING, OutState.SENT)
    assert repo.ip_accepted(m.id) is None  # a repeat
    assert repo.ip_pending() == []
    assert repo.message(m.id).via == "ip"
    assert repo.ip_accepted(send(repo)) is None  # by SMS
    assert repo.ip_accepted(12345) is None
    # Read before the IP server's answer came: it stays read.
    read = repo.create_outgoing(BOB, "x", Carrier.UDH, T0, one_part, via="ip").message
    repo.apply_feedback(BOB, read.number or 0, 1, T0)
    assert repo.ip_accepted(read.id) is None
    assert repo.message(read.id).state is OutState.READ
    # Taken by the IP server: no fallback any more.
    assert repo.ip_fallback(m.id, one_part).parts == []


def test_a_refused_ip_message_goes_by_sms_under_its_number_once(repo: Repository) -> None:
    ip = repo.create_outgoing(BOB, "x", Carrier.UDH, T0, three_parts, via="ip").message
    send(repo)  # number 1, TP-MR 0, reference 0
    seen: list[tuple[int | None, int, int]] = []

    def record(number: int | None, ref: int, first_mr: int) -> list[tuple[int, bytes]]:
        seen.append((number, ref, first_mr))
        return three_parts(number, ref, first_mr)

    out = repo.ip_fallback(ip.id, record)
    assert seen == [(0, 1, 1)]
    assert (out.message.id, out.message.number, out.message.via) == (ip.id, 0, "sms")
    assert (out.message.uid, out.message.state) == (ip.uid, OutState.SENDING)
    assert [p.tpdu for p in out.parts] == [bytes([i, 0]) for i in range(3)]
    assert [p.id for p in repo.pending_parts()][-3:] == [p.id for p in out.parts]
    assert repo.ip_pending() == []

    again = repo.ip_fallback(ip.id, record)
    assert again.parts == [] and len(seen) == 1
    assert repo.ip_accepted(ip.id) is None  # it went by SMS
    for part in out.parts:
        change = repo.part_accepted(part.id)
    assert change is not None and change.new is OutState.SENT
    assert repo.ip_fallback(send(repo), record).parts == []  # an SMS message
    with pytest.raises(NotFound):
        repo.ip_fallback(12345, record)
    assert len(repo.conversation(BOB)) == 3


def test_a_message_over_ip_is_stored_once_by_its_uid(repo: Repository) -> None:
    sent_at = T0 - timedelta(seconds=5)
    first = repo.store_ip_incoming(BOB, UID, "over ip", 3, sent_at, T0)
    m = first.message
    assert not first.duplicate
    assert (m.uid, m.via, m.direction, m.number, m.read) == (UID, "ip", Direction.IN, 3, False)
    assert (m.created_at, m.tp_scts, m.carrier) == (sent_at, None, None)
    again = repo.store_ip_incoming(BOB, UID, "over ip", 3, sent_at, T0 + timedelta(minutes=1))
    assert again.duplicate and again.message.id == m.id
    assert [i.id for i in repo.inbox()] == [m.id]
    # It can be read and answered like any other.
    assert repo.mark_read(m.id, T0).respond
    # Another handset in the database has its own copy under the same uid.
    assert not Repository(repo.engine, CAROL).store_ip_incoming(BOB, UID, "x", 3, T0, T0).duplicate
    with pytest.raises(ValueError):
        repo.store_ip_incoming(BOB, "short", "x", None, T0, T0)


# -- settings ----------------------------------------------------------------------------


def test_the_ip_path_setting_is_kept(repo: Repository) -> None:
    assert repo.load_settings().ip_path is IpPath.NEVER
    saved = repo.save_settings(Settings(Carrier.INLINE, ip_path="when_possible"))  # type: ignore[arg-type]
    assert saved.ip_path is IpPath.WHEN_POSSIBLE
    assert repo.load_settings() == saved
    assert Repository(repo.engine, CAROL).load_settings(saved).ip_path is IpPath.WHEN_POSSIBLE
    with pytest.raises(ValueError):
        Settings(ip_path="sometimes")  # type: ignore[arg-type]


# -- the migration -----------------------------------------------------------------------


def test_the_migration_gives_messages_stored_before_a_uid(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.sqlite3")
    old = create_engine(url)
    with old.begin() as connection:
        cfg = config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
        for body in ("kept", "kept too"):
            connection.execute(
                text(
                    "INSERT INTO handset_message (owner, peer, direction, text, message_number,"
                    " carrier, state, read, response_pending, part_count, created_at)"
                    " VALUES (:owner, :peer, 'out', :body, 0, 'udh', 'sending', 0, 0, 1, :at)"
                ),
                {"owner": ME, "peer": BOB, "body": body, "at": T0.replace(tzinfo=None)},
            )
        connection.execute(  # a part pointing at it: the table copy must keep it valid
            text(
                "INSERT INTO handset_part (message_id, seq, tp_mr, tpdu, state)"
                " VALUES (1, 1, 0, x'21', 'sending')"
            )
        )
    old.dispose()

    engine = open_engine(url)  # foreign keys on, as the handset runs
    try:
        repo = Repository(engine, ME)
        kept = repo.conversation(BOB)
        assert [m.text for m in kept] == ["kept", "kept too"]
        assert all(HEX32.fullmatch(m.uid) and m.via == "sms" for m in kept)
        assert kept[0].uid != kept[1].uid
        assert repo.history_pending() == []  # the server's history starts from now
        assert repo.load_settings().ip_path is IpPath.NEVER
        assert [p.message_id for p in repo.pending_parts()] == [kept[0].id]
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        indexes = {i["name"]: i for i in inspect(engine).get_indexes("handset_message")}
        assert indexes["uq_handset_message_uid"]["unique"]
        assert indexes["ix_handset_message_at"]["column_names"] == ["owner", "created_at"]
        assert not {c["name"]: c for c in inspect(engine).get_columns("handset_message")}["uid"][
            "nullable"
        ]
    finally:
        engine.dispose()


def test_the_migration_goes_down_and_up_again(database_url: str) -> None:
    engine = open_engine(database_url)
    repo = Repository(engine, ME)
    send(repo)
    receive(repo)
    engine.dispose()

    plain = create_engine(database_url)  # SQLite: foreign keys off, as the copy needs
    with plain.begin() as connection:
        cfg = config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0002")
    columns = {c["name"] for c in inspect(plain).get_columns("handset_message")}
    assert not {"uid", "via", "history_pending"} & columns
    assert "ip_path" not in {c["name"] for c in inspect(plain).get_columns("handset_profile")}
    plain.dispose()

    engine = open_engine(database_url)
    try:
        repo = Repository(engine, ME)
        assert len({m.uid for m in repo.conversation(BOB)}) == 2
        assert len(repo.pending_parts()) == 1
    finally:
        engine.dispose()
