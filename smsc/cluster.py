"""Several SMSC processes on one PostgreSQL as one SMSC: the nodes, their
leases, and where subscribers and ESME binds are (docs/scaling.md §Model).

A node is a row of ``node`` with a lease: it renews it every ``interval``
seconds, and a node whose lease ran out is dead.  Any live node may then
*reap* it: in one transaction, its queued messages are released (``message.node``
set to NULL, for the node their recipient is now on to claim), its rows of
``location`` and ``esme_bind`` are deleted, and so is its ``node`` row.  A node
that finds its own row gone (it stalled past its lease) has lost its claims
and must not act on them: ``heartbeat`` says so.

Times are the nodes' clocks, passed in (naive UTC, as every table keeps them):
tests drive them with ``task.Clock``; nodes on several hosts need their
clocks within a fraction of the lease (NTP), which is why the lease is
seconds, not milliseconds.

Everything here runs in a transaction on the storage thread (``BatchWriter.call``);
it is PostgreSQL's SQL (``ON CONFLICT``, ``SKIP LOCKED``), never run on SQLite,
whose single process needs none of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from storage.pgnotify import notify

from .models import ESME_BIND, LOCATION, MESSAGE, NODE, SUBSCRIBER, MessageState

#: The channel a node is told of work on: the payload is the node's name, or
#: empty for "every node: look for what you may claim" (after a reaping).
CHANNEL = "smsc_work"


#: The bind type a row of ``esme_bind`` counts: binds that may be sent a
#: deliver_sm (receiver and transceiver, SMPP 3.4 §2.2).
RECEIVER = "receiver"


def channel(node: str) -> str:
    """The channel ``node`` is told on of work for its subscribers and ESMEs."""
    return f"{CHANNEL}_{node}"


class NodeNameTaken(Exception):
    """Another live node has this name."""


@dataclass(frozen=True)
class Lease:
    """This node's row: ``started_at`` tells this run from an earlier one."""

    name: str
    started_at: datetime
    seconds: float

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)


def join(conn: Connection, lease: Lease, now: datetime, admin_url: str | None = None) -> None:
    """Register ``lease``'s node; ``NodeNameTaken`` if a live node has the name.
    An earlier run of the name whose lease ran out is reaped first."""
    row = conn.execute(
        select(NODE.c.lease_until).where(NODE.c.name == lease.name).with_for_update()
    ).first()
    if row is not None:
        if row.lease_until >= now:
            raise NodeNameTaken(
                f"node {lease.name!r} is alive (lease until {row.lease_until:%H:%M:%S} UTC); "
                "give each node its own --node name"
            )
        _reap(conn, [lease.name])
    conn.execute(
        NODE.insert().values(
            name=lease.name,
            started_at=lease.started_at,
            lease_until=lease.until(now),
            admin_url=admin_url,
        )
    )


def heartbeat(conn: Connection, lease: Lease, now: datetime) -> bool:
    """Renew the lease; False if this run's row is gone (it was reaped: its
    claims are no longer its own)."""
    renewed = conn.execute(
        update(NODE)
        .where(NODE.c.name == lease.name, NODE.c.started_at == lease.started_at)
        .values(lease_until=lease.until(now))
    ).rowcount
    return bool(renewed)


def leave(conn: Connection, lease: Lease) -> None:
    """A clean stop: release at once what the node held, as its death would."""
    exists = conn.execute(
        select(NODE.c.name)
        .where(NODE.c.name == lease.name, NODE.c.started_at == lease.started_at)
        .with_for_update()
    ).first()
    if exists is not None:
        _reap(conn, [lease.name])


def reap(conn: Connection, now: datetime) -> list[str]:
    """Release what the nodes whose lease ran out held; their names.  Two
    nodes reaping at once skip each other's rows (SKIP LOCKED)."""
    dead = list(
        conn.execute(
            select(NODE.c.name).where(NODE.c.lease_until < now).with_for_update(skip_locked=True)
        ).scalars()
    )
    if dead:
        _reap(conn, dead)
    return dead


def _reap(conn: Connection, names: list[str]) -> None:
    conn.execute(
        update(MESSAGE)
        .where(MESSAGE.c.node.in_(names), MESSAGE.c.state == MessageState.QUEUED.value)
        .values(node=None)
    )
    conn.execute(delete(LOCATION).where(LOCATION.c.node.in_(names)))
    conn.execute(delete(ESME_BIND).where(ESME_BIND.c.node.in_(names)))
    conn.execute(delete(NODE).where(NODE.c.name.in_(names)))
    notify(conn, CHANNEL, "")


# -- where subscribers and binds are ---------------------------------------------------


def locate(conn: Connection, msisdn: str, node: str, now: datetime) -> None:
    """``msisdn`` attached on ``node`` (the last attach wins)."""
    statement = insert(LOCATION).values(msisdn=msisdn, node=node, since=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[LOCATION.c.msisdn], set_={"node": node, "since": now}
        )
    )


def detach(conn: Connection, msisdn: str, node: str) -> None:
    """``msisdn`` left ``node`` (unless it has attached elsewhere since)."""
    conn.execute(delete(LOCATION).where(LOCATION.c.msisdn == msisdn, LOCATION.c.node == node))


def where(conn: Connection, msisdn: str, now: datetime) -> str | None:
    """The live node ``msisdn`` is attached on, if any."""
    return conn.execute(
        select(LOCATION.c.node)
        .join(NODE, NODE.c.name == LOCATION.c.node)
        .where(LOCATION.c.msisdn == msisdn, NODE.c.lease_until >= now)
    ).scalar()


def where_all(conn: Connection, msisdns: Iterable[str], now: datetime) -> dict[str, str]:
    """``where`` for many subscribers in one statement: msisdn → live node
    (the ones attached nowhere are left out)."""
    rows = conn.execute(
        select(LOCATION.c.msisdn, LOCATION.c.node)
        .join(NODE, NODE.c.name == LOCATION.c.node)
        .where(LOCATION.c.msisdn.in_(list(msisdns)), NODE.c.lease_until >= now)
    )
    return {row.msisdn: row.node for row in rows}


def seen(conn: Connection, msisdn: str) -> str | None:
    """The IMSI ``msisdn`` last attached with, on any node and in any run
    (``subscriber``, which every node writes at each attach); None if never."""
    imsi: str | None = conn.execute(
        select(SUBSCRIBER.c.imsi).where(SUBSCRIBER.c.msisdn == msisdn)
    ).scalar()
    return imsi


def bound(conn: Connection, system_id: str, node: str, binds: int) -> None:
    """``node`` holds ``binds`` binds of ``system_id`` that may be sent a
    deliver_sm (receiver, transceiver); 0 deletes the row."""
    if binds <= 0:
        conn.execute(
            delete(ESME_BIND).where(ESME_BIND.c.system_id == system_id, ESME_BIND.c.node == node)
        )
        return
    statement = insert(ESME_BIND).values(
        system_id=system_id, node=node, bind_type=RECEIVER, binds=binds
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[ESME_BIND.c.system_id, ESME_BIND.c.node, ESME_BIND.c.bind_type],
            set_={"binds": binds},
        )
    )


def receivers(conn: Connection, system_id: str, now: datetime) -> list[str]:
    """The live nodes holding a receiver or transceiver bind of ``system_id``."""
    return list(
        conn.execute(
            select(ESME_BIND.c.node)
            .distinct()
            .join(NODE, NODE.c.name == ESME_BIND.c.node)
            .where(
                ESME_BIND.c.system_id == system_id,
                ESME_BIND.c.bind_type == RECEIVER,
                NODE.c.lease_until >= now,
            )
            .order_by(ESME_BIND.c.node)
        ).scalars()
    )


# -- ids ------------------------------------------------------------------------------------


def id_block(conn: Connection) -> int:
    """The first id of a block of ``ID_BLOCK`` ids no other node will use."""
    return int(conn.execute(text("SELECT nextval('message_id_block')")).scalar_one())


# -- the whole cluster, for the admin API -----------------------------------------------------


def view(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Each node: its lease, whether it is alive, its subscribers, binds and
    queue depth (messages it claimed; ``null`` gathers those nobody has)."""
    nodes: dict[str | None, dict[str, Any]] = {}
    for row in conn.execute(select(NODE).order_by(NODE.c.name)):
        nodes[row.name] = {
            "name": row.name,
            "started_at": row.started_at.isoformat() + "Z",
            "lease_until": row.lease_until.isoformat() + "Z",
            "alive": row.lease_until >= now,
            "admin_url": row.admin_url,
            "subscribers": [],
            "binds": [],
            "queued": 0,
        }
    for msisdn, node in conn.execute(
        select(LOCATION.c.msisdn, LOCATION.c.node).order_by(LOCATION.c.msisdn)
    ):
        if node in nodes:
            nodes[node]["subscribers"].append(msisdn)
    for system_id, node, bind_type, binds in conn.execute(
        select(ESME_BIND).order_by(ESME_BIND.c.system_id, ESME_BIND.c.bind_type)
    ):
        if node in nodes:
            nodes[node]["binds"].append(
                {"system_id": system_id, "bind_type": bind_type, "binds": binds}
            )
    unclaimed = 0
    for node, count in conn.execute(
        select(MESSAGE.c.node, func.count())
        .where(MESSAGE.c.state == MessageState.QUEUED.value)
        .group_by(MESSAGE.c.node)
    ):
        if node in nodes:
            nodes[node]["queued"] = count
        else:
            unclaimed += count
    return [*nodes.values(), {"name": None, "queued": unclaimed}]


def live(conn: Connection, now: datetime) -> list[str]:
    return list(
        conn.execute(
            select(NODE.c.name).where(NODE.c.lease_until >= now).order_by(NODE.c.name)
        ).scalars()
    )
