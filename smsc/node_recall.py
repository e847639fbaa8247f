"""A cluster node's side of cancel_sm and replace_sm of a message it does not
hold (``smsc.recall``, docs/scaling.md §Model): the rows gathered in one
transaction, the unclaimed parts claimed and acted on here, the held ones
asked of their node; and the requests other nodes ask of this one, heard on
its LISTEN channel among the notifications of work (``smsc.node``)."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from twisted.internet.defer import Deferred, succeed

from storage.pgnotify import notify

from . import cluster, recall

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger(__name__)


class NodeRecall:
    """cancel_sm and replace_sm between ``node`` and the other nodes."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self.recalls = recall.Recall(node.name, node.clock, self._send, self._act)

    def message(
        self, command: str, esme: str, number: int, short_message: bytes = b""
    ) -> Deferred[bool]:
        """cancel_sm or replace_sm of ``esme``'s message ``number``, whose
        parts this node does not hold: the unclaimed ones it claims and acts
        on here, those of another node that node is asked for; fires True
        once done and committed (here or there)."""
        node = self.node
        d = node.writer.call(partial(recall.gather, node.name, esme, number, node.now()))
        return d.addCallback(self._recall, command, esme, short_message)

    def heard(self, batch: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Take this module's notifications out of ``batch`` (and act on
        them); the rest is the node's."""
        rest = []
        for channel, payload in batch:
            if recall.is_recall(payload):
                self.recalls.heard(payload)
            else:
                rest.append((channel, payload))
        return rest

    def stop(self) -> None:
        """Fail what still waits for another node's answer."""
        self.recalls.stop()

    def _recall(
        self, parts: recall.Parts | None, command: str, esme: str, short_message: bytes
    ) -> Deferred[bool]:
        node = self.node
        if parts is None:
            return succeed(False)
        if parts.claimed:
            node._take((parts.claimed, parts.subs))
        holders = set(parts.holders.values())
        if parts.ended or len(holders) != 1 or None in holders:
            done = succeed(False)  # ended, or held by no one or by several: all or none
        elif holders == {node.name}:
            done = self._act(command, esme, parts.ids, short_message)
        else:
            (holder,) = holders
            assert holder is not None
            done = self.recalls.ask(holder, command, esme, parts.ids, short_message)
        if parts.claimed and not node.smsc.radio.is_attached(parts.recipient):
            # Claimed to be acted on, not for delivery: what is left goes to
            # the node the recipient is attached on (none: it stays here
            # until the recipient attaches somewhere).
            recipient = parts.recipient

            def hand_on(outcome: Any) -> Any:
                node._give_up([recipient])
                return outcome

            done.addBoth(hand_on)
        return done

    def _act(
        self, command: str, esme: str, ids: tuple[int, ...], short_message: bytes
    ) -> Deferred[bool]:
        door = self.node.smsc.esme
        if door is None:
            return recall.never()
        return door.recalled(command, esme, ids, short_message)

    def _send(self, node: str, payload: str) -> None:
        d = self.node.writer.call(partial(_notify, cluster.channel(node), payload))
        d.addErrback(
            lambda f: log.warning(
                "node %s: could not tell node %s of a recall: %s",
                self.node.name,
                node,
                f.getErrorMessage(),
            )
        )  # the asker's timeout answers for it


def _notify(channel: str, payload: str, conn: Connection) -> None:
    notify(conn, channel, payload)
