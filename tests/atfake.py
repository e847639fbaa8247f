"""A handset for the AT interpreter's tests: a dict for a message store,
answering each request at once (the real one answers later, from its
worker thread and the radio link)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from atcmd import (
    DeleteMessages,
    Identity,
    ListMessages,
    Modem,
    QueryStorage,
    ReadMessage,
    Request,
    SendMessage,
    SendStored,
    SetFunctionality,
    StoredMessage,
    StoreMessage,
    StoreStatus,
)
from pdu import Address, SmsDeliver, UserData, encode_sca

IDENTITY = Identity(
    msisdn="15550001001",
    imsi="001010000001001",
    imei="490154203237518",
    smsc="+15550000000",
)
SMSC = Address("15550000000")
WHEN = datetime(2024, 1, 2, 10, 11, 12, tzinfo=timezone(timedelta(hours=1)))


def deliver_pdu(text: str = "hello", sender: str = "15550001002") -> bytes:
    """SMSC address field and SMS-DELIVER, as the handset stores a received one."""
    return encode_sca(SmsDeliver(tp_oa=Address(sender), tp_scts=WHEN, tp_ud=UserData(text)), SMSC)


@dataclass
class FakeHandset:
    modem: Modem = field(default_factory=lambda: Modem(IDENTITY))
    store: dict[int, StoredMessage] = field(default_factory=dict)
    total: int = 30
    sent: list[SendMessage | SendStored] = field(default_factory=list)
    functionality: list[int] = field(default_factory=list)
    next_mr: int = 0

    def put(self, stat: int, pdu: bytes) -> int:
        index = next(i for i in range(1, self.total + 1) if i not in self.store)
        self.store[index] = StoredMessage(index, stat, pdu)
        return index

    def _mark_read(self, message: StoredMessage) -> None:
        if message.stat == 0:
            self.store[message.index] = StoredMessage(message.index, 1, message.pdu)

    def result(self, request: Request) -> object:
        if isinstance(request, SendMessage | SendStored):
            self.sent.append(request)
            self.next_mr += 1
            return self.next_mr - 1
        if isinstance(request, StoreMessage):
            return self.put(request.stat, request.pdu)
        if isinstance(request, ListMessages):
            found = [m for _, m in sorted(self.store.items()) if request.stat in (4, m.stat)]
            for m in found:
                self._mark_read(m)
            return found
        if isinstance(request, ReadMessage):
            message = self.store.get(request.index)
            if message is not None:
                self._mark_read(message)
            return message
        if isinstance(request, DeleteMessages):
            doomed = {0: (), 1: (1,), 2: (1, 3), 3: (1, 2, 3), 4: (0, 1, 2, 3)}[request.flag]
            if request.flag == 0:
                self.store.pop(request.index, None)
            for i in [i for i, m in self.store.items() if m.stat in doomed]:
                del self.store[i]
            return None
        if isinstance(request, QueryStorage):
            return StoreStatus(len(self.store), self.total)
        assert isinstance(request, SetFunctionality)
        self.functionality.append(request.fun)
        return None

    def answer(self, request: Request | None) -> None:
        while request is not None:
            request = self.modem.complete(request, self.result(request))

    def send(self, data: bytes) -> bytes:
        """Bytes from the TE; every request answered; the bytes back."""
        self.answer(self.modem.receive_data(data))
        return self.modem.data_to_send()

    def command(self, line: str) -> bytes:
        return self.send(line.encode("latin-1") + b"\r")
