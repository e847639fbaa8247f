"""The AuC's storage: the ``subscription`` table, read and written by IMSI.

The statements are plain functions of a connection, so that the SMSC runs
them on its database thread (``SqlQueueRepository``) and ``smsemu
subscriber add``, a process of its own with no reactor, runs the same ones
in a transaction of its own.  The SMSC reads a subscription at each ATTACH:
one provisioned meanwhile by another process is known at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from radiolink.auth import SQN_MAX, Keys

from .models import SUBSCRIPTION

IMSI_DIGITS = (6, 15)  # TS 23.003 §2.2: MCC, MNC, MSIN; at most 15 digits


class ProvisionError(ValueError):
    """A subscription that cannot be: what is wrong, in one line."""


@dataclass(frozen=True, slots=True)
class Provisioned:
    """One SIM as the network knows it."""

    imsi: str
    msisdn: str
    keys: Keys
    sqn: int = 0  # SQN_HE: the last sequence number a challenge used

    def __post_init__(self) -> None:
        low, high = IMSI_DIGITS
        if not (self.imsi.isdigit() and low <= len(self.imsi) <= high):
            raise ProvisionError(f"IMSI {self.imsi!r}: expected {low} to {high} digits")
        number = self.msisdn.removeprefix("+")
        if not (self.msisdn.startswith("+") and number.isdigit() and len(number) <= 20):
            raise ProvisionError(f"MSISDN {self.msisdn!r}: expected + and 1 to 20 digits")
        for name, value in (("K", self.keys.k), ("OPc", self.keys.opc)):
            if len(value) != 16:
                raise ProvisionError(
                    f"{name}: expected 16 octets (32 hex digits), got {len(value)}"
                )
        if not 0 <= self.sqn <= SQN_MAX:
            raise ProvisionError(f"SQN {self.sqn}: expected 0 to {SQN_MAX}")


def _provisioned(row: Any) -> Provisioned:
    return Provisioned(row.imsi, row.msisdn, Keys(bytes(row.k), bytes(row.opc)), row.sqn)


def rows_to_provisioned(rows: Iterable[Any]) -> list[Provisioned]:
    """Rows of ``subscription`` as ``Provisioned``."""
    return [_provisioned(r) for r in rows]


def find(conn: Connection, imsi: str) -> Provisioned | None:
    row = conn.execute(select(SUBSCRIPTION).where(SUBSCRIPTION.c.imsi == imsi)).first()
    return None if row is None else _provisioned(row)


def every(conn: Connection) -> list[Provisioned]:
    rows = conn.execute(select(SUBSCRIPTION).order_by(SUBSCRIPTION.c.msisdn)).all()
    return [_provisioned(r) for r in rows]


def provision(conn: Connection, sub: Provisioned, now: datetime) -> Provisioned:
    """Store ``sub``, replacing any subscription of its IMSI or its MSISDN (a
    number has one SIM).  The same keys again keep the SQN reached, the
    higher of the two: a challenge must never repeat one the SIM accepted."""
    table = SUBSCRIPTION
    old = find(conn, sub.imsi)
    if old is not None and old.keys == sub.keys:
        sub = Provisioned(sub.imsi, sub.msisdn, sub.keys, max(old.sqn, sub.sqn))
    conn.execute(table.delete().where(or_(table.c.imsi == sub.imsi, table.c.msisdn == sub.msisdn)))
    conn.execute(
        table.insert().values(
            imsi=sub.imsi,
            msisdn=sub.msisdn,
            k=sub.keys.k,
            opc=sub.keys.opc,
            sqn=sub.sqn,
            provisioned_at=now.replace(tzinfo=None),
        )
    )
    return sub
