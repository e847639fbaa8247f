"""The ESMEs bound now: who may bind (the accounts), and which connections
each ESME has, for the deliver_sms it is owed."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from smpp34 import pdu as p
from smpp34.pdu import CommandStatus as S

if TYPE_CHECKING:
    from .gateway import EsmeAccount


class Connection(Protocol):
    """What the gateway needs of an ESME's connection."""

    @property
    def system_id(self) -> str | None: ...

    @property
    def can_receive(self) -> bool: ...

    @property
    def room(self) -> int: ...

    def request(self, make: type[p.Pdu], **fields: Any) -> int | None:
        """Send a request; its sequence number, or None if it cannot go now."""

    def forget(self, sequence_number: int) -> None:
        """Stop waiting for the response to that request."""

    def unbind(self) -> None: ...

    def reset(self) -> None:
        """Drop the connection, answering nothing."""


class Sessions:
    def __init__(self, accounts: Iterable[EsmeAccount]) -> None:
        self.accounts = {a.system_id: a for a in accounts}
        self.connections: dict[str, list[Connection]] = {}

    def authenticate(
        self, bind: p.BindTransmitter | p.BindReceiver | p.BindTransceiver, address: str
    ) -> int:
        account = self.accounts.get(bind.system_id)
        if account is None:
            return S.ESME_RINVSYSID
        if not hmac.compare_digest(bind.password.encode(), account.password.encode()):
            return S.ESME_RINVPASWD
        if not account.allows(address):
            return S.ESME_RBINDFAIL
        if account.system_type is not None and bind.system_type != account.system_type:
            return S.ESME_RINVSYSTYP
        return S.ESME_ROK

    def route(self, number: str) -> str | None:
        """The ESME whose MO routes take ``number``."""
        for account in self.accounts.values():
            if account.routes_to(number):
                return account.system_id
        return None

    def add(self, connection: Connection) -> str:
        assert connection.system_id is not None
        self.connections.setdefault(connection.system_id, []).append(connection)
        return connection.system_id

    def remove(self, connection: Connection) -> None:
        live = self.connections.get(connection.system_id or "", [])
        if connection in live:
            live.remove(connection)

    def receivers(self, esme: str) -> list[Connection]:
        return [c for c in self.connections.get(esme, []) if c.can_receive]
