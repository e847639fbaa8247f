"""The handset's tables, as SQLAlchemy 2.0 typed declarative models.

Every row carries its ``owner`` (the handset's MSISDN), and every table name
starts with ``handset_``: several handsets can then share one database (one
SQLite file for a whole emulated network, or the PostgreSQL database the SMSC
uses) without seeing each other's messages.  Times are naive UTC.

An ``owner`` is the MSISDN of the phone that holds the SIM, or
``name@MSISDN`` for a companion device of the same account (docs/history-query.md §Accounts), hence
64 characters.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Direction(StrEnum):
    IN = "in"  # received (SMS-DELIVER)
    OUT = "out"  # sent (SMS-SUBMIT)


class Via(StrEnum):
    """How a message travelled, or is travelling (docs/read-receipts.md §Routing)."""

    SMS = "sms"  # through the SMSC
    IP = "ip"  # through the IP server, both ends online there


class Profile(Base):
    """The handset's settings, and the counters that are per handset rather
    than per conversation (TP-MR and the concatenation reference)."""

    __tablename__ = "handset_profile"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    carrier: Mapped[str] = mapped_column(String(8))  # pdu.message_number.Carrier
    receipts: Mapped[bool]
    iei: Mapped[int]
    marker: Mapped[str] = mapped_column(String(16))
    next_tp_mr: Mapped[int]
    next_ref: Mapped[int]
    ip_path: Mapped[str] = mapped_column(String(16), server_default="never")  # store.IpPath
    #: A message was refused with RP-ERROR 22 (memory capacity exceeded): the
    #: SMSC is owed an SMMA once the message store has room again (TS 23.040
    #: §10.3, operation 7), even after a restart.
    memory_exceeded: Mapped[bool] = mapped_column(server_default=false())
    #: Viewing a conversation marks the received messages it shows read.
    read_on_view: Mapped[bool] = mapped_column(server_default=true())


class Conversation(Base):
    """A conversation is keyed by the peer's number; it holds the numbering
    counter of the messages this handset sends to that peer (docs/read-receipts.md §Numbering)."""

    __tablename__ = "handset_conversation"
    __table_args__ = (UniqueConstraint("owner", "peer", name="uq_handset_conversation_peer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    peer: Mapped[str] = mapped_column(String(32))
    next_number: Mapped[int]  # 0..255: the number the next message gets


class Message(Base):
    """A message as the user sees it: one row however many parts it took."""

    __tablename__ = "handset_message"
    __table_args__ = (
        Index("ix_handset_message_peer", "owner", "peer", "id"),
        Index("ix_handset_message_direction", "owner", "direction", "id"),
        Index("ix_handset_message_number", "owner", "peer", "message_number"),
        Index("ix_handset_message_scts", "owner", "peer", "tp_scts"),
        Index("uq_handset_message_uid", "owner", "uid", unique=True),
        Index("ix_handset_message_at", "owner", "created_at"),  # history search by time
        # a conversation's history search, newest first (migration 0007)
        Index("ix_handset_message_peer_at", "owner", "peer", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    peer: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # Direction
    text: Mapped[str] = mapped_column(Text)  # what the user reads: no number marker
    #: Ours for a sent message; the sender's for a received one (None when the
    #: sender gave none: a legacy phone).
    message_number: Mapped[int | None]
    carrier: Mapped[str | None] = mapped_column(String(8))  # how the number travelled
    state: Mapped[str | None] = mapped_column(String(12))  # OutState, sent messages only
    read: Mapped[bool]  # received messages: opened by the user
    #: Received, read, receipts on, and the IP server has not yet accepted the
    #: response: it is sent again when the IP link comes back.
    response_pending: Mapped[bool]
    #: Read here by the user, and the IP server has not yet taken the news
    #: for the account's other devices (docs/receipt-wire.md §Reads).
    read_sync_pending: Mapped[bool] = mapped_column(server_default=false())
    part_count: Mapped[int]
    concat_ref: Mapped[int | None]  # the concatenation reference of a multi-part message
    created_at: Mapped[datetime]  # when it was sent or stored
    tp_scts: Mapped[datetime | None]  # received messages: the SMSC's time stamp
    read_at: Mapped[datetime | None]  # opened (received) or reported read (sent)
    #: 32 lowercase hex digits, the same on every device of the account that
    #: holds the message, so that their history results merge without
    #: duplicates (docs/history-query.md §Results).  Random for a sent message; for a received SMS
    #: derived from what a resend repeats (``handset.store.received_uid``).
    uid: Mapped[str] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(3), server_default="sms")  # Via
    #: A copy is owed to the IP server's partial history (docs/history-query.md §Window).
    history_pending: Mapped[bool] = mapped_column(server_default=false())


class Part(Base):
    """One SMS-SUBMIT of a sent message: its TP-MR matches the status report,
    its TPDU is submitted again after a lost link or a restart."""

    __tablename__ = "handset_part"
    __table_args__ = (
        Index("ix_handset_part_message", "message_id", "seq"),
        Index("ix_handset_part_mr", "tp_mr", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("handset_message.id"))
    seq: Mapped[int]  # 1-based
    tp_mr: Mapped[int]
    tpdu: Mapped[bytes] = mapped_column(LargeBinary)  # the SMS-SUBMIT
    state: Mapped[str] = mapped_column(String(12))  # OutState of this part
    rp_cause: Mapped[int | None]  # the RP-Cause of a refusal
    tp_st: Mapped[int | None]  # the latest status report's TP-ST


class Fragment(Base):
    """A received part of a concatenated message whose other parts have not
    all arrived: kept so that a restart in between loses nothing.  Once the
    message is whole its parts move to ``ConsumedPart``; an incomplete
    message's parts are dropped when the first of them grows too old (see
    ``handset.phone.FRAGMENT_TTL``)."""

    __tablename__ = "handset_fragment"
    __table_args__ = (
        UniqueConstraint(
            "owner", "sender", "ref_bits", "ref", "total", "seq", name="uq_handset_fragment"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(32))
    ref_bits: Mapped[int]
    ref: Mapped[int]
    total: Mapped[int]
    seq: Mapped[int]
    tpdu: Mapped[bytes] = mapped_column(LargeBinary)  # the SMS-DELIVER
    received_at: Mapped[datetime]


class ConsumedPart(Base):
    """A part of a concatenated message that is stored whole already.

    When the RP-ACK of a part is lost (a restart, a dropped link) the SMSC
    delivers the same SMS-DELIVER again.  Its identity here (the sender, the
    concatenation reference, size and part number, and a digest of the TPDU,
    which holds TP-SCTS and the user data) lets the phone acknowledge it
    without taking it for the first part of a new message.  Kept for a while
    after the message was stored (``handset.phone.CONSUMED_TTL``), then pruned.
    """

    __tablename__ = "handset_consumed_part"
    __table_args__ = (
        Index("ix_handset_consumed_part_digest", "owner", "digest"),
        Index("ix_handset_consumed_part_at", "owner", "consumed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(32))
    ref_bits: Mapped[int]
    ref: Mapped[int]
    total: Mapped[int]
    seq: Mapped[int]
    #: SHA-256, in hex, of the SMS-DELIVER as kept (``handset.store.part_digest``).
    digest: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[int] = mapped_column(ForeignKey("handset_message.id"))
    consumed_at: Mapped[datetime]  # when its message was stored


class PinnedKey(Base):
    """The public key of another device of the account, pinned the first time
    one of its queries came (trust on first use, as SSH does): a later query
    in its name with another key is refused, so an IP server that swaps in a
    key of its own to read the answers is caught, unless it did so from the
    very first query."""

    __tablename__ = "handset_pinned_key"
    __table_args__ = (UniqueConstraint("owner", "device_id", name="uq_handset_pinned_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    first_seen: Mapped[datetime]


class SmsEntry(Base):
    """One entry of the message store the AT port shows (TS 27.005 §3.1), as a
    modem keeps it: every received SMS-DELIVER as the handset received it,
    with the SMSC address field in front (a concatenated message takes one
    entry per part), the status reports the TE asked to keep, and the
    SMS-SUBMITs the TE wrote.  ``slot`` is the <index>; ``stat`` the <stat>
    (0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT).

    ``message_id`` links a received entry to the message the user reads, so
    a read on either side shows on the other; a part still waiting for the
    rest of its message has none yet, only its ``part_of`` key (the sender,
    the reference, its size), until the message is whole."""

    __tablename__ = "handset_sms_entry"
    __table_args__ = (
        UniqueConstraint("owner", "slot", name="uq_handset_sms_entry_slot"),
        Index("ix_handset_sms_entry_message", "owner", "message_id"),
        Index("ix_handset_sms_entry_part_of", "owner", "part_of"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int]
    stat: Mapped[int]
    pdu: Mapped[bytes] = mapped_column(LargeBinary)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("handset_message.id"))
    part_of: Mapped[str | None] = mapped_column(String(64))
    stored_at: Mapped[datetime]
