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

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, text
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
    #: SHA-256 of the secret, hex: a stolen database does not let anyone log in.
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


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
    created_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]
