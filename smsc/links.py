"""The SMSC's end of its radio links: applies what ``radiolink.network``
decides (frames to send, links to close) and hands its events to the core's
parts.  The Twisted protocol (``smsc.server``), or a test double, is the
``Link``.

Unless the SMSC is open (``SmscConfig.open_attach``), every ATTACH is
authenticated (docs/radio-link.md): its IMSI is looked up in the
``subscription`` table, on the database thread, and the network's AuC given
what was found before the ATTACH is fed to it; the link's next frames wait
behind the lookup, in order.  A refused attach is counted and logged, one
line at once, then a count per 10 s at most (``txkit.throttle``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from twisted.python.failure import Failure

from radiolink import auth
from radiolink import frames as lk
from radiolink import network as nw
from txkit.throttle import Throttle

from .subscriptions import Provisioned

if TYPE_CHECKING:
    from .core import Smsc

log = logging.getLogger(__name__)


class Link(Protocol):
    """What the SMSC needs of a handset's connection."""

    def send(self, frame: lk.Frame) -> None: ...

    def close(self) -> None: ...

    def __hash__(self) -> int: ...  # a key of the network's tables


class RadioLinks:
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        #: The AuC; None: an open SMSC, where any attach is accepted.
        self.auc = None if smsc.config.open_attach else auth.AuthCentre()
        self.network: nw.NetworkSide[Link] = nw.NetworkSide(smsc.config.address, self.auc)
        #: Links waiting for a subscription lookup, with the frames behind it.
        self._held: dict[Link, list[lk.Frame | lk.MalformedFrame]] = {}
        #: What a peer's junk makes the links log: a line per kind and source,
        #: then a count each 10 s (smsc.server's lines too).
        self.peer_log = Throttle(log, clock=smsc.clock)

    # -- what the connections report ---------------------------------------------------

    def opened(self, link: Link) -> None:
        self.network.opened(link)

    def lost(self, link: Link) -> None:
        if self.smsc.capture is not None:
            self.smsc.capture.radio_lost(link)
        self._held.pop(link, None)
        self.apply(self.network.lost(link))

    def received(self, link: Link, frame: lk.Frame | lk.MalformedFrame) -> None:
        self.smsc.metrics.frames_in += 1
        if self.smsc.capture is not None and isinstance(frame, lk.Rp):
            self.smsc.capture.radio(link, frame.message, uplink=True)
        if self.smsc.watchers and isinstance(frame, lk.Rp):
            self._tell(link, frame.message, uplink=True)
        self._next(link, frame)

    def _next(self, link: Link, frame: lk.Frame | lk.MalformedFrame) -> None:
        held = self._held.get(link)
        if held is not None:
            held.append(frame)
        elif (
            self.auc is not None
            and isinstance(frame, lk.Attach)
            and self.network.state(link) is not nw.State.ATTACHED
        ):
            self._held[link] = []
            d = self.smsc.store.subscription(frame.imsi)
            d.addCallbacks(
                self._looked_up, self._lookup_failed, (link, frame), errbackArgs=(link, frame)
            )
        else:
            self.apply(self.network.receive(link, frame))

    def _looked_up(self, found: Provisioned | None, link: Link, frame: lk.Attach) -> None:
        held = self._held.pop(link, None)
        if held is None:  # the link went meanwhile
            return
        auc = self.auc
        assert auc is not None
        if found is None:
            auc.remove(frame.imsi)
        else:
            known = auc.get(frame.imsi)
            sqn = found.sqn
            if known is not None and known.keys == found.keys:
                sqn = max(sqn, known.sqn)  # an advance not committed yet
            auc.provision(found.imsi, found.msisdn, found.keys, sqn)
        self.apply(self.network.receive(link, frame))
        for later in held:
            self._next(link, later)

    def _lookup_failed(self, failure: Failure, link: Link, frame: lk.Attach) -> None:
        if self._held.pop(link, None) is None:
            return
        log.error("radio link: cannot look up IMSI %s: %s", frame.imsi, failure.getErrorMessage())
        link.close()  # the handset attaches again later

    # -- what the core sends -----------------------------------------------------------

    def links(self) -> Iterator[Link]:
        return self.network.links()

    def is_attached(self, msisdn: str) -> bool:
        return self.network.link_of(msisdn) is not None

    def attached(self) -> Iterator[str]:
        return self.network.attached()

    def deliver(self, msisdn: str, rp_mr: int, tpdu: bytes) -> None:
        self._send(self.network.deliver(msisdn, rp_mr, tpdu))

    def ack(self, link: Link, rp_mr: int, rp_ud: bytes | None = None) -> None:
        self._send(self.network.ack(link, rp_mr, rp_ud))

    def error(self, link: Link, rp_mr: int, cause: int, rp_ud: bytes | None = None) -> None:
        self._send(self.network.error(link, rp_mr, cause, rp_ud))

    def _send(self, send: nw.Send[Link]) -> None:
        self.smsc.metrics.frames_out += 1
        if self.smsc.capture is not None and isinstance(send.frame, lk.Rp):
            self.smsc.capture.radio(send.link, send.frame.message, uplink=False)
        if self.smsc.watchers and isinstance(send.frame, lk.Rp):
            self._tell(send.link, send.frame.message, uplink=False)
        send.link.send(send.frame)

    def _tell(self, link: Link, rp: bytes, uplink: bool) -> None:
        """An RP message's octets, for the console's inspector: it is told before
        the event it leads to (accepted, delivering), in the same turn."""
        self.smsc.watchers.emit("rp", msisdn=self.network.msisdn_of(link), uplink=uplink, rp=rp)

    # -- applying the network's outputs, in order ----------------------------------------

    def apply(self, outputs: list[nw.Output[Link]]) -> None:
        smsc = self.smsc
        for out in outputs:
            if isinstance(out, nw.Send):
                self._send(out)
            elif isinstance(out, nw.Submitted):
                smsc.submissions.submitted(out.link, out.msisdn, out.rp_mr, out.tpdu)
            elif isinstance(out, nw.Acked):
                smsc.delivery.acked(out.msisdn, out.rp_mr)
            elif isinstance(out, nw.Refused):
                smsc.delivery.refused(out.msisdn, out.rp_mr, out.cause)
            elif isinstance(out, nw.Attached):
                self._attached(out.msisdn, out.imsi)
            elif isinstance(out, nw.Detached):
                smsc.delivery.detached(out.msisdn)
                smsc.watchers.emit("detached", msisdn=out.msisdn)
            elif isinstance(out, nw.MemoryAvailable):
                station = smsc.delivery.memory_available(out.msisdn)
                smsc.watchers.emit("memory available", msisdn=out.msisdn)
                smsc.delivery.kick(station)
            elif isinstance(out, nw.Close):
                out.link.close()
            elif isinstance(out, nw.ProtocolError):
                smsc.metrics.protocol_errors += 1
                host = getattr(out.link, "host", "?")
                self.peer_log.info(
                    f"radio link errors from {host}", "radio link from %s: %s", host, out.reason
                )
            elif isinstance(out, nw.SqnAdvanced):
                smsc.store.advance_sqn(out.imsi, out.sqn)
            elif isinstance(out, nw.AttachRefused):
                reason = out.cause.name.lower()
                refused = smsc.metrics.attach_refused
                refused[reason] = refused.get(reason, 0) + 1
                self.peer_log.warning(
                    "attaches refused",
                    "radio link: attach of IMSI %s as %s refused (%s)",
                    out.imsi, out.msisdn, reason,
                    summary="radio link: {count} more attaches refused in the last {seconds:g} s",
                )  # fmt: skip

    def _attached(self, msisdn: str, imsi: str) -> None:
        smsc = self.smsc
        smsc.metrics.attaches += 1
        station = smsc.delivery.attached(msisdn, imsi)
        smsc.store.upsert_subscriber(msisdn, imsi, smsc.now())
        smsc.watchers.emit("attached", msisdn=msisdn, imsi=imsi, queued=len(station.queue))
        smsc.delivery.kick(station)
