"""The modem: bytes from the TE in, bytes to the TE out, requests to the
handset, with no I/O (the h11 style).

Usage, by whoever owns the port::

    modem = Modem(identity)
    request = modem.receive_data(data)      # a Request, or None
    transport.write(modem.data_to_send())
    ...                                     # later, when the handset is done:
    request = modem.complete(request, result)  # or modem.fail(request, code)
    transport.write(modem.data_to_send())
    modem.deliver(MessageArrived(index, pdu))  # an unsolicited result code
    modem.connection_lost()                 # the TE went away

While a command waits for its request, the modem reads nothing: input
queues as in a real modem's buffer (up to INBOX_LIMIT) and runs once the
final result code is out.  Unsolicited result codes wait for the same moment,
or for the end of a ``> `` prompt (TS 27.005 §3.4.1, "link reserved").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from pdu import Address

from . import dispatch, lines, urc
from .requests import Event, Request
from .results import (
    CMS_INVALID_PDU,
    CMS_INVALID_TEXT,
    CmeError,
    CmsError,
    CommandError,
    Failure,
    Final,
)
from .rules import Await, Outcome, Prompt
from .state import Identity, Session, Urc
from .syntax import Command, parse, strip_prefix

#: Input kept while a command runs; beyond it the bytes are lost, as when a
#: UART's buffer overruns.
INBOX_LIMIT = 65536


class Modem:
    def __init__(self, identity: Identity) -> None:
        self.session = Session.start(identity)
        self._out = bytearray()
        self._inbox = bytearray()
        self._reader = lines.CommandReader()
        self._prompt: lines.PromptReader | None = None
        self._queue: deque[Command] = deque()
        self._then: Callable[[Any], Outcome] | None = None
        self._request: Request | None = None
        self._started: Request | None = None
        self._last_line: str | None = None

    # -- what the owner calls -------------------------------------------------

    @property
    def request(self) -> Request | None:
        """The request the interpreter waits for, if any."""
        return self._request

    def data_to_send(self) -> bytes:
        """The bytes for the TE produced so far (echo, responses, codes)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes) -> Request | None:
        """Bytes from the TE.  Returns the request this started, if any."""
        room = INBOX_LIMIT - len(self._inbox)
        self._inbox += data[: max(room, 0)]
        self._pump()
        return self._take_started()

    def complete(self, request: Request, result: object = None) -> Request | None:
        """``request`` succeeded with ``result`` (see requests.py for its type).
        Returns the next request the queued input started, if any.  A request
        from before connection_lost is ignored."""
        if request is not self._request:
            return None
        then = self._then
        self._request = self._then = None
        assert then is not None
        self._resume(then, result)
        self._pump()
        return self._take_started()

    def fail(self, request: Request, code: int) -> Request | None:
        """``request`` failed: +CMS ERROR ``code`` for the SMS requests (an
        RP-Cause, a TP-FCS or a TS 27.005 §3.2.5 value), +CME ERROR for the
        others."""
        if request is not self._request:
            return None
        self._request = self._then = None
        self._finish(CmsError(code) if request.sms else CmeError(code))
        self._pump()
        return self._take_started()

    def deliver(self, event: Event) -> None:
        """Something happened to the handset: shown now, later or never, as
        AT+CNMI / AT+CREG and the command in progress decide."""
        code = urc.indication(self.session, event)
        if code is None:
            return
        mode = self.session.settings.cnmi.mode
        if self._reserved():
            if not (code.sms and mode == 1):
                self.session.urc_buffer.append(code)
        elif code.sms and mode == 0:
            self.session.urc_buffer.append(code)
        else:
            self._emit(code)

    def set_smsc(self, address: str | None) -> None:
        """The SMSC address the handset learnt (AT+CSCA? shows it)."""
        self.session.device.smsc = Address.parse(address) if address else None

    def connection_lost(self) -> None:
        """The TE went away (even in the middle of a prompt): the next one
        finds the factory settings.  An outstanding request runs on, and its
        completion is ignored."""
        self.session.reset()
        self._out.clear()
        self._inbox.clear()
        self._reader = lines.CommandReader()
        self._prompt = None
        self._queue.clear()
        self._request = self._then = self._started = None

    # -- the machine ----------------------------------------------------------

    def _reserved(self) -> bool:
        return self._request is not None or self._prompt is not None

    def _take_started(self) -> Request | None:
        started, self._started = self._started, None
        return started

    def _write(self, text: str) -> None:
        self._out += text.encode("latin-1", "replace")

    def _emit(self, code: Urc) -> None:
        self._write(self.session.settings.format.info(*code.lines))

    def _flush_urcs(self) -> None:
        """Between commands: out with what was held and may go now."""
        buffer = self.session.urc_buffer
        hold = self.session.settings.cnmi.mode == 0
        kept = [code for code in buffer if code.sms and hold]
        for code in buffer:
            if not (code.sms and hold):
                self._emit(code)
        buffer.clear()
        buffer.extend(kept)

    def _pump(self) -> None:
        while self._inbox and self._request is None:
            byte = self._inbox[0]
            del self._inbox[0]
            if self._prompt is not None:
                self._prompt_byte(self._prompt, byte)
            else:
                self._command_byte(byte)

    def _command_byte(self, byte: int) -> None:
        settings = self.session.settings
        if settings.echo:
            self._out.append(byte)
        event = self._reader.feed(byte, settings.format.s3, settings.s_registers[5])
        if isinstance(event, lines.Repeat):
            self._line(lines.Line(self._last_line or ""), repeat=True)
        elif event is not None:
            self._line(event)

    def _line(self, line: lines.Line, repeat: bool = False) -> None:
        if line.too_long:
            self._finish(CommandError("line too long"))
            return
        if not line.text.strip(" ") and not repeat:
            return  # an empty line is no command (V.250 §5.2.1)
        body = strip_prefix(line.text)
        if body is None:
            self._finish(CommandError("no AT prefix"))
            return
        self._last_line = line.text
        try:
            self._queue = deque(parse(body))
        except CommandError as error:
            self._finish(error)
            return
        self._run()

    def _run(self) -> None:
        while self._queue:
            try:
                outcome = dispatch.run(self.session, self._queue.popleft())
            except (CommandError, CmeError, CmsError) as error:
                self._finish(error)
                return
            if not self._settle(outcome):
                return
        self._finish(None)

    def _settle(self, outcome: Outcome) -> bool:
        """Show a finished command's lines (True), or start waiting (False)."""
        if isinstance(outcome, Await):
            self._request = self._started = outcome.request
            self._then = outcome.then
            return False
        if isinstance(outcome, Prompt):
            self._prompt = lines.PromptReader(text_mode=self.session.settings.cmgf == 1)
            self._then = outcome.then
            self._write(self.session.settings.format.prompt())
            return False
        if outcome:
            self._write(self.session.settings.format.info(*outcome))
        return True

    def _resume(self, then: Callable[[Any], Outcome], value: object) -> None:
        try:
            outcome = then(value)
        except (CommandError, CmeError, CmsError) as error:
            self._finish(error)
            return
        if self._settle(outcome):
            self._run()

    def _finish(self, error: Failure | None) -> None:
        """The final result code of the line, then the held codes."""
        self._queue.clear()
        fmt = self.session.settings.format
        self._write(fmt.final(Final.OK) if error is None else fmt.failure(error))
        self._flush_urcs()

    def _prompt_byte(self, prompt: lines.PromptReader, byte: int) -> None:
        settings = self.session.settings
        event = prompt.feed(byte, settings.format.s3, settings.s_registers[5])
        if event is None:
            if settings.echo and byte != settings.format.s3:
                self._out.append(byte)
            return
        if isinstance(event, lines.Reprompt):
            self._write(settings.format.prompt())
            return
        self._prompt = None
        then, self._then = self._then, None
        if isinstance(event, lines.Cancel):
            self._finish(None)
        elif event.too_long:
            self._finish(CmsError(CMS_INVALID_TEXT if settings.cmgf else CMS_INVALID_PDU))
        else:
            assert then is not None
            self._resume(then, event.text)
