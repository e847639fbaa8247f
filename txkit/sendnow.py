"""A write that goes to the socket at once when nothing waits before it.

Twisted buffers every ``transport.write`` until the reactor's next turn: it
registers the socket for writing (an ``epoll_ctl``), sends when told it can,
and unregisters it (another ``epoll_ctl``).  For a connection that carries one
small frame a turn (the radio link: one RP-DATA per handset, the next only
after its RP-ACK) that is three system calls where one ``send`` does, and
under SMPP load the two registrations were a seventh of the SMSC's reactor.

``send_now`` sends at once only when the TCP transport holds nothing
(so the order of a connection's bytes stays as written), is not closing and
has no TLS on it; what the kernel does not take, or any error, goes the usual
way through ``write`` (Twisted then reports a lost connection as always).
Anything else (TLS, a test's ``StringTransport``) gets a plain ``write``, and
so does everything if a Twisted release renames the attributes read here.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp
from twisted.internet.interfaces import ITransport
from twisted.protocols.policies import ProtocolWrapper


def send_now(transport: ITransport | ProtocolWrapper, data: bytes) -> None:
    """``data`` to ``transport``: sent now if it can be, else buffered as usual."""
    t: Any = transport
    # Through wrappers that pass writes on as they are (txkit.limits' guard),
    # never through one that transforms them (TLSMemoryBIOProtocol encrypts).
    while isinstance(t, ProtocolWrapper) and type(t).write is ProtocolWrapper.write:
        t = t.transport
    try:
        busy = (
            not isinstance(t, tcp.Connection)
            or t.TLS
            or t.dataBuffer
            or t._tempDataBuffer
            or not t.connected
            or t.disconnecting
            or t._writeDisconnected
        )
    except AttributeError:  # a Twisted whose insides moved: the usual way, always
        busy = True
    if busy:
        transport.write(data)
        return
    sent = t.writeSomeData(data)
    if isinstance(sent, Exception):  # lost: the buffered write lets Twisted tell it
        transport.write(data)
    elif sent < len(data):
        transport.write(data[sent:])
