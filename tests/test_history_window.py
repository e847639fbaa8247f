"""The IP server's window at rest (docs/history-query.md §Window): the
shared box opens only for the account's devices, under its own message; the
migration seals the copies a server kept in the clear, on SQLite and
PostgreSQL, and leaves no text in the SQLite file."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from handset.history import open_window
from ipwire import wire
from ipwire.sealed import DeviceKey, SealError, open_shared, seal_shared
from ipwire.window import open_copy, seal_copy, window_entry
from receipt_server.jobs import to_millis
from receipt_server.models import HistoryCopy, HistoryKey, HistoryWindow
from receipt_server.store import MIGRATIONS, migrate, open_engine
from txkit.pcapng import PcapngWriter, TcpFlow

from .capture_tools import assert_clean, fields

PHONE, DESK = DeviceKey.generate(), DeviceKey.generate()
ENTRY = wire.HistoryEntry("1" * 32, "+15551234567", "in", "Boarding pass, gate B12", 1795162500000)


def test_a_shared_box_opens_for_each_recipient_and_nobody_else() -> None:
    box, keys = seal_copy(ENTRY, [PHONE.public, DESK.public])
    for key, sealed in zip((PHONE, DESK), keys, strict=True):
        got = open_copy(window_entry(ENTRY.uid, ENTRY.peer, "in", ENTRY.at, box, sealed), key)
        assert got == ENTRY
    stranger = DeviceKey.generate()
    entry = window_entry(ENTRY.uid, ENTRY.peer, "in", ENTRY.at, box, keys[0])
    with pytest.raises(SealError):
        open_copy(entry, stranger)
    # The clear fields are bound in: the box cannot pass for another message.
    for moved in (replace(entry, at=ENTRY.at + 1), replace(entry, peer="+15550000000"),
                  replace(entry, direction="out"), replace(entry, uid="2" * 32)):  # fmt: skip
        with pytest.raises(SealError):
            open_copy(moved, PHONE)
    tampered = bytearray(box)
    tampered[-1] ^= 1
    with pytest.raises(SealError):
        open_shared(bytes(tampered), keys[0], PHONE, b"smsemu-window|x")


@given(st.binary(max_size=200), st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_junk_from_the_server_is_reported_never_raised(box: bytes, key: bytes) -> None:
    entry = wire.WindowEntry(ENTRY.uid, ENTRY.peer, "in", ENTRY.at, wire.b64(key or b"k"),
                             wire.b64(box or b"b"))  # fmt: skip
    assert open_window([entry], PHONE) == ([], 1)


def test_a_shared_body_never_opens_under_another_context() -> None:
    body, (key,) = seal_shared(b"x", [PHONE.public], b"one")
    assert open_shared(body, key, PHONE, b"one") == b"x"
    with pytest.raises(SealError):
        open_shared(body, key, PHONE, b"two")


# -- the migration -----------------------------------------------------------------------


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


AT = datetime(2026, 12, 1, 12, 0)
SECRETS = ("the vault code is 4711", "meet at the north gate")


def test_the_migration_seals_the_copies_kept_in_the_clear(database_url: str) -> None:
    old = create_engine(database_url)
    with old.begin() as connection:
        cfg = _config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
        for device, account, key, revoked in (
            ("phone", "A", PHONE.public, None),
            ("desk", "A", DESK.public, None),
            ("gone", "A", DeviceKey.generate().public, AT),
            ("keyless", "L", None, None),
        ):
            connection.execute(
                text("INSERT INTO rs_device (device_id, msisdn, account, kind, secret_hash,"
                     " created_at, public_key, revoked_at) VALUES (:d, '+1555', :a, 'phone',"
                     " :h, :at, :k, :r)"),
                {"d": device, "a": account, "h": "0" * 64, "at": AT, "k": key, "r": revoked},
            )  # fmt: skip
        for n, (account, body) in enumerate((("A", SECRETS[0]), ("A", ""), ("L", SECRETS[1]))):
            connection.execute(
                text("INSERT INTO rs_history (account, uid, peer, direction, text, at, stored_at)"
                     " VALUES (:a, :u, '+15551234567', 'in', :t, :at, :at)"),
                {"a": account, "u": f"{n:032x}", "t": body, "at": AT.replace(minute=n)},
            )  # fmt: skip
    old.dispose()

    engine = open_engine(database_url)
    migrate(engine)
    try:
        assert "text" not in {c["name"] for c in inspect(engine).get_columns("rs_history")}
        with Session(engine) as s:
            copies = s.scalars(select(HistoryCopy).order_by(HistoryCopy.at)).all()
            # L's copy had nobody to be sealed to: gone.
            assert [c.account for c in copies] == ["A", "A"]
            for copy, body in zip(copies, (SECRETS[0], ""), strict=True):
                keys = dict(
                    s.execute(
                        select(HistoryKey.device_id, HistoryKey.sealed).where(
                            HistoryKey.copy_id == copy.id
                        )
                    ).all()
                )
                assert set(keys) == {"phone", "desk"}  # not the unbound one
                for device, private in (("phone", PHONE), ("desk", DESK)):
                    entry = window_entry(copy.uid, copy.peer, copy.direction,
                                         to_millis(copy.at), copy.box, keys[device])  # fmt: skip
                    assert open_copy(entry, private).text == body
            # What was pruned before is unknown: the window starts at its oldest.
            assert s.get(HistoryWindow, "A") is not None
            assert s.get(HistoryWindow, "A").floor_at == AT  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_after_the_migration_the_sqlite_file_holds_no_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rs.sqlite3'}"
    test_the_migration_seals_the_copies_kept_in_the_clear(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    for path in tmp_path.glob("rs.sqlite3*"):
        data = path.read_bytes()
        assert not any(secret.encode() in data for secret in SECRETS), path


def test_going_down_empties_the_window(database_url: str) -> None:
    engine = open_engine(database_url)
    migrate(engine)
    engine.dispose()
    plain = create_engine(database_url)
    with plain.begin() as connection:
        cfg = _config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0005")  # just below the window (0003 cannot go down)
    assert "text" in {c["name"] for c in inspect(plain).get_columns("rs_history")}
    assert "rs_history_key" not in inspect(plain).get_table_names()
    plain.dispose()
    engine = open_engine(database_url)
    migrate(engine)  # and up again
    engine.dispose()


def test_the_documented_window_entry_opens_for_the_test_vectors_desktop() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "receipt-wire.md").read_text()
    line = next(x for x in doc.splitlines() if '"window":[{' in x)
    result = wire.decode_payload(line.split("  ", 1)[1].encode(), wire.SERVER_MESSAGES)
    assert isinstance(result, wire.QueryResult) and result.window is not None
    desktop = DeviceKey.from_text("PUDJFmg6XMh98DRYqY2YPMJmc-Oa8BVBel9n3MulU2U")
    assert open_copy(result.window[0], desktop).text == "Boarding pass attached, gate B12"


def test_the_dissector_shows_the_window_of_a_query_result(tmp_path: Path) -> None:
    """The Lua dissector hands each frame to Wireshark's JSON dissector, so the
    new ``window`` field and its entries' members are decoded like the rest."""
    doc = (Path(__file__).parent.parent / "docs" / "receipt-wire.md").read_text()
    frames = [
        bytes.fromhex(line[:11].replace(" ", "")) + line[13:].encode()
        for line in doc.splitlines()
        if line.startswith("00 00 0") and ('"id":4,' in line or '"query_open","id":6' in line)
    ]
    assert len(frames) == 3  # the query, the window's answer, a query_open
    lo = bytes([127, 0, 0, 1])
    flow = TcpFlow((lo, 50000), (lo, 7102))
    pcap = tmp_path / "window.pcapng"
    with pcap.open("wb") as out:
        writer = PcapngWriter(out)
        ip = writer.interface("ip")
        for n, frame in enumerate(frames):
            writer.packets(ip, 1_795_162_600.0 + n, flow.send(n == 0, frame))
        writer.flush()
    rows = fields(pcap, 'json.key == "window"', "smsemu_ip.type")
    assert rows == [["query_result"]]
    keys = fields(pcap, 'smsemu_ip.type == "query_result"', "json.key")
    assert {"window", "uid", "peer", "key", "box"} <= set(keys[0][0].split(","))
    assert_clean(pcap)
