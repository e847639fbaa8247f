"""The IP server's tables, as SQLAlchemy 2.0 typed declarative models.

``rs_feedback`` is the durable outbox: a row is committed before the responder
gets ``ok``, and stays pending (``acked_at`` null) until the sender's device
acknowledges it, so a feedback outlives restarts of either side.  Times are
naive UTC.  Tables are prefixed ``rs_`` so that the SMSC, the IP server and
handsets can share one PostgreSQL database.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: BIGINT on PostgreSQL; INTEGER (the rowid, so it autoincrements) on SQLite.
ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class DeviceKind(StrEnum):
    PHONE = "phone"  # holds the SIM of its MSISDN
    COMPANION = "companion"  # an IP-only device of the account


class Device(Base):
    __tablename__ = "rs_device"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(32), index=True)
    account: Mapped[str] = mapped_column(String(256), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: The login verifier of ipwire.proof (StoredKey, ServerKey), hex: a stolen
    #: database does not let anyone log in.
    stored_key: Mapped[str] = mapped_column(String(64))
    server_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    #: X25519, 32 raw octets: other devices of the account seal query results to it.
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Unbound: the secret and the key are gone, the device can no longer log in.
    revoked_at: Mapped[datetime | None]


class Feedback(Base):
    __tablename__ = "rs_feedback"
    __table_args__ = (
        Index(
            "ix_rs_feedback_pending",
            "to_msisdn",
            "id",
            sqlite_where=text("acked_at IS NULL"),
            postgresql_where=text("acked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    to_msisdn: Mapped[str] = mapped_column(String(32))  # the sender, who is told
    receiver: Mapped[str] = mapped_column(String(32))  # who read the message
    message_number: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[int] = mapped_column(SmallInteger)  # 1 read, 0 not yet read
    #: When the message read was sent, as its receiver saw it (ms since the
    #: epoch; None from older devices): which of two equal numbers it was.
    sent_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]


class HistoryCopy(Base):
    """The server's partial copy of an account's messages
    (docs/history-query.md §Window): only those inside the retention window,
    the oldest pruned first.  ``uid`` is the message's identity on every
    device of the account.  The text is sealed (``box``, ``ipwire.window``):
    each device it opens for has its content key in ``rs_history_key``."""

    __tablename__ = "rs_history"
    __table_args__ = (
        UniqueConstraint("account", "uid", name="uq_rs_history_uid"),
        Index("ix_rs_history_at", "account", "at"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(256))
    uid: Mapped[str] = mapped_column(String(32))
    peer: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out", for the account
    #: The text, sealed to the account's devices: the server cannot read it.
    box: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime]  # when the message was sent or received
    stored_at: Mapped[datetime]


class HistoryKey(Base):
    """A copy's content key, sealed to one device of the account."""

    __tablename__ = "rs_history_key"
    __table_args__ = (UniqueConstraint("copy_id", "device_id", name="uq_rs_history_key"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    copy_id: Mapped[int] = mapped_column(ID, ForeignKey("rs_history.id"))
    device_id: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class HistoryWindow(Base):
    """Where an account's window stops being whole (docs/history-query.md
    §Window): when it took the account's first copy, then the time of the
    newest copy pruned by count.  The window holds every copy the devices
    sent later than ``floor_at`` (and inside the age); no row: no copy yet."""

    __tablename__ = "rs_history_window"

    account: Mapped[str] = mapped_column(String(256), primary_key=True)
    floor_at: Mapped[datetime]


class HistoryQuery(Base):
    """A relayed history query, from its opening until the asker has its
    results or they expire.  Rows here and in ``rs_query_result`` are the
    temporary copy of docs/history-query.md §Search, steps 6-7."""

    __tablename__ = "rs_query"
    __table_args__ = (Index("ix_rs_query_expires", "expires_at"),)

    query_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(256))
    asker: Mapped[str] = mapped_column(String(64))  # the device that asked
    #: "open", then how it ended: "complete", "partial" or "not_found".
    status: Mapped[str] = mapped_column(String(12))
    expected: Mapped[int]  # the other devices of the account when it opened
    #: Messages the server's window gave the asker when the query opened.
    window_found: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # deleted then, fetched or not
    #: The ``query_request`` relayed to the devices, as JSON: a node of a
    #: cluster that did not hear it opened reads it here.
    request: Mapped[str | None] = mapped_column(Text, default=None)


class QueryResult(Base):
    """One device's answer to a query: ciphertext sealed to the asker's key."""

    __tablename__ = "rs_query_result"
    __table_args__ = (UniqueConstraint("query_id", "device_id", name="uq_rs_query_result"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    query_id: Mapped[str] = mapped_column(String(32), ForeignKey("rs_query.query_id"))
    device_id: Mapped[str] = mapped_column(String(64))
    count: Mapped[int]
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]


class IpMessage(Base):
    """A message sent over the IP path (docs/read-receipts.md §Routing), kept until every device
    of the recipient it was given to has acknowledged it."""

    __tablename__ = "rs_ip_message"
    __table_args__ = (UniqueConstraint("sender", "uid", name="uq_rs_ip_message_uid"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32))
    uid: Mapped[str] = mapped_column(String(32))
    message_number: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]
    created_at: Mapped[datetime]


class Node(Base):
    """An IP-server node of a cluster, alive while its lease lasts (it
    renews it every heartbeat; one killed loses it within the lease)."""

    __tablename__ = "rs_node"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    lease_until: Mapped[datetime]


class Presence(Base):
    """A device logged in on a node of a cluster (while the node is alive)."""

    __tablename__ = "rs_presence"
    __table_args__ = (Index("ix_rs_presence_msisdn", "msisdn"),)

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(32))
    node: Mapped[str] = mapped_column(String(64))


class IpDelivery(Base):
    """The durable queue of the IP path: one row per message and recipient
    device, pending (``delivered_at`` null) until that device acknowledges."""

    __tablename__ = "rs_ip_delivery"
    __table_args__ = (
        Index(
            "ix_rs_ip_delivery_pending",
            "device_id",
            "id",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ID, ForeignKey("rs_ip_message.id"))
    device_id: Mapped[str] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None]


class ReadState(Base):
    """Read state that follows the account: one row per message read on one
    device and per other device of its account, pending (``acked_at`` null)
    until that device has shown it read."""

    __tablename__ = "rs_read_state"
    __table_args__ = (
        Index(
            "ix_rs_read_state_pending",
            "device_id",
            "id",
            sqlite_where=text("acked_at IS NULL"),
            postgresql_where=text("acked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))  # who is to learn it
    uid: Mapped[str] = mapped_column(String(64))  # the message, as every device names it
    created_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]
