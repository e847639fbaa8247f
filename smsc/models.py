"""The SMSC's tables, as SQLAlchemy 2.0 typed declarative models.

``message`` is the store-and-forward queue and its history in one table: a row
is written before the SMSC acknowledges the SMS-SUBMIT, holds the very TPDU the
recipient will get (an SMS-DELIVER, or the SMS-STATUS-REPORT the SMSC made), and
its ``state`` moves forward only.  Times are naive UTC.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, LargeBinary, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class MessageKind(StrEnum):
    SMS = "sms"  # an SMS-SUBMIT (or a submit_sm), forwarded as SMS-DELIVER
    REPORT = "report"  # an SMS-STATUS-REPORT the SMSC made for a sender
    #: A deliver_sm owed to the ESME ``esme``: an MO message routed to it, or
    #: a delivery receipt; ``tpdu`` holds the deliver_sm.
    ESME = "esme"


class MessageState(StrEnum):
    """``message_state``: where a message is.  Only ``queued`` is not final."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    DELETED = "deleted"  # cancelled by its ESME (cancel_sm)


#: Each kind's and state's value, without the enum's ``.value`` (a slow
#: property, asked several times a message on the SMSC's hot path).
VALUE: dict[MessageKind | MessageState, str] = {
    member: member.value for enum in (MessageKind, MessageState) for member in enum
}


class Subscriber(Base):
    __tablename__ = "subscriber"

    msisdn: Mapped[str] = mapped_column(String(32), primary_key=True)
    imsi: Mapped[str] = mapped_column(String(32))
    first_attach: Mapped[datetime]
    last_attach: Mapped[datetime]


class Subscription(Base):
    """A SIM this network issued, as its AuC keeps it (TS 33.102 §6.3): the
    secrets an ATTACH is authenticated with, and SQN_HE, the last sequence
    number a challenge used.  ``subscriber`` above is what attached; this is
    who may."""

    __tablename__ = "subscription"

    imsi: Mapped[str] = mapped_column(String(15), primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(32), unique=True)
    k: Mapped[bytes] = mapped_column(LargeBinary(16))
    opc: Mapped[bytes] = mapped_column(LargeBinary(16))
    sqn: Mapped[int] = mapped_column(BigInteger)
    provisioned_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_state_recipient", "state", "recipient", "id"),
        Index("ix_message_report_for", "report_for"),
        Index("ix_message_node", "node"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8))
    originator: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32))
    tp_mr: Mapped[int | None]  # TP-MR of the SMS-SUBMIT, for its status report
    tp_srr: Mapped[bool]
    tpdu: Mapped[bytes] = mapped_column(LargeBinary)  # what the recipient is sent
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int]
    submitted_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    error: Mapped[int | None]  # last RP-Cause from the recipient, or TP-ST of the end
    report_for: Mapped[int | None] = mapped_column(BigInteger)  # the SMS a report is about
    #: The ESME (system_id) an SMS came from, which gets its receipt; for an
    #: ``esme`` message, the ESME it goes to.
    esme: Mapped[str | None] = mapped_column(String(16))
    #: The cluster node that holds the message in memory (``smsc.cluster``);
    #: None on a single node, and for a message no node has claimed yet.
    node: Mapped[str | None] = mapped_column(String(64))


class Node(Base):
    """A process of a cluster on PostgreSQL (``smsc.cluster``): alive while
    ``lease_until`` is ahead; ``started_at`` tells one run of a name from the next."""

    __tablename__ = "node"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]
    lease_until: Mapped[datetime]
    admin_url: Mapped[str | None] = mapped_column(String(200))


class Location(Base):
    """Where a subscriber is attached: the node whose radio link it is on."""

    __tablename__ = "location"

    msisdn: Mapped[str] = mapped_column(String(32), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), index=True)
    since: Mapped[datetime]


class EsmeBind(Base):
    """An ESME's bind on a node (one row per node, system_id and bind type)."""

    __tablename__ = "esme_bind"

    system_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    bind_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    binds: Mapped[int]  # how many binds of the kind the node holds


class EsmeMessage(Base):
    """A message an ESME submitted, as its receipts need it (``smsc.submitted``):
    its parts are the ``message`` rows ``id`` to ``id + parts - 1``.  A row with
    ``done_at`` unset is taken up at start, with its parts' outcomes, and gets
    its one receipt once its last part ends; the receipt, a ``message`` row of
    kind ``esme``, has ``report_for`` this ``id``, which is how a restart knows
    it was made."""

    __tablename__ = "esme_message"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    esme: Mapped[str] = mapped_column(String(16))
    parts: Mapped[int]
    registered_delivery: Mapped[int]
    submitted_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
    data_coding: Mapped[int]
    source_addr: Mapped[str] = mapped_column(String(21))
    source_ton: Mapped[int]
    source_npi: Mapped[int]
    protocol_id: Mapped[int]
    recipient: Mapped[str] = mapped_column(String(32))
    forced: Mapped[int | None]  # the message_state a fault ended it in
    message_number: Mapped[int | None]  # for its read receipt
    done_at: Mapped[datetime | None]  # its receipt made, or none owed
    read_at: Mapped[datetime | None]  # its read receipt made


#: The tables themselves, for the Core statements of the stores.
MESSAGE: Table = Message.__table__  # type: ignore[assignment]
SUBSCRIBER: Table = Subscriber.__table__  # type: ignore[assignment]
ESME_MESSAGE: Table = EsmeMessage.__table__  # type: ignore[assignment]
SUBSCRIPTION: Table = Subscription.__table__  # type: ignore[assignment]
NODE: Table = Node.__table__  # type: ignore[assignment]
LOCATION: Table = Location.__table__  # type: ignore[assignment]
ESME_BIND: Table = EsmeBind.__table__  # type: ignore[assignment]
