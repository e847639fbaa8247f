"""The handsets' HTTP control API: what a user's thumbs do, as JSON over HTTP.

``smsemu up`` serves it for the handsets of its config, ``smsemu handset run``
for its one handset, and ``smsemu handset ...`` is its command-line client.
Documented in docs/handset-api.md.  Every route names the handset by its
MSISDN (``+`` may be written ``%2B``), a companion device by ``name@MSISDN``:

    GET  /handsets                                   the handsets and their links
    GET  /handsets/M                                 one of them, with its settings
    POST /handsets/M/send        {"to", "text", "carrier"?}    -> 202 {"id"}
    GET  /handsets/M/inbox       ?limit=N            received messages, newest first
    GET  /handsets/M/conversations                   one line per peer
    GET  /handsets/M/conversations/PEER              the messages, with "Read"/"Sent"
    GET  /handsets/M/events/KIND ?field=value&timeout=S  waits for the next such event
    GET  /handsets/M/messages/ID                     one message
    POST /handsets/M/messages/ID/read                open it (received: sends the read response)
    POST /handsets/M/settings    {"receipts"?, "carrier"?, "iei"?, "marker"?, "ip_path"?,
                                  "read_on_view"?}
    POST /handsets/M/search      {"text"?, "peer"?, "since"?, "until"?, "limit"?, "timeout"?}
    POST /handsets/M/logout                          log out of the IP server (push stays)
    POST /handsets/M/login                           log in again
    POST /handsets/M/load        {"to", "count", "rate", "text"?}  -> 202: a load run

Errors are ``{"error": reason}`` with 400 (bad request or one the handset
cannot carry out), 404 (no such handset or message), 405 (wrong method), 408
(what it waited for did not come in time) or 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from ipwire import wire
from pdu.message_number import Carrier
from txkit.numbers import MAX_ID, whole

from .load import Load
from .phone import NotFound, Phone, PhoneError, number_of
from .store import Settings

log = logging.getLogger(__name__)
#: Seconds ``POST .../login`` waits for the IP session to come up.
LOGIN_WAIT = 30.0
#: The longest ``timeout`` of a long poll (``GET .../events/KIND``), in seconds.
MAX_WAIT = 3600


class ApiError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def settings_json(settings: Settings) -> dict[str, Any]:
    return {
        "carrier": settings.carrier.value,
        "receipts": settings.receipts,
        "iei": settings.iei,
        "marker": settings.marker,
        "ip_path": settings.ip_path.value,
        "read_on_view": settings.read_on_view,
    }


def handset_json(phone: Phone, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "handset": phone.owner,
        "msisdn": phone.msisdn,
        "companion": phone.companion,
        "imsi": phone.imsi if phone.companion is None else None,
        "attached": phone.attached,
        "ip_online": phone.online,
        "logged_out": phone.logged_out,
        "at": dict(phone.at),
    }
    if full:
        out["settings"] = settings_json(phone.settings)
    return out


def _body(request: Request) -> dict[str, Any]:
    assert request.content is not None
    raw = request.content.read()
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _field(body: Mapping[str, Any], name: str, kind: type, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, f"{name!r} must be {kind.__name__}")
    return value


def _write(request: Request, status: int, body: Any) -> None:
    if request.finished or request._disconnected:
        return
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.write(json.dumps(body, ensure_ascii=False).encode())
    request.finish()


def _all(views: list[Any]) -> list[dict[str, Any]]:
    return [v.as_dict() for v in views]


def _whole(text: str, what: str, maximum: int = MAX_ID) -> int:
    """A whole number from the path or the query (``txkit.numbers``), or 400."""
    try:
        return whole(what, text, 0, maximum)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _message_id(text: str) -> int:
    return _whole(text, "message id")


class ControlApi(Resource):
    """The whole API as one leaf resource: routes are few and all JSON."""

    isLeaf = True

    def __init__(self, phones: Mapping[str, Phone], reactor: Any = None) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.phones = phones
        self.reactor = reactor
        self.loads: dict[str, Load] = {}  # the load run of each phone

    def render(self, request: Request) -> bytes | int:
        try:
            parts = [p.decode("utf-8") for p in request.postpath or [] if p]
            result = self._route(request, (request.method or b"GET").decode(), parts)
        except ApiError as exc:
            _write(request, exc.status, {"error": exc.reason})
            return NOT_DONE_YET
        except UnicodeDecodeError:
            _write(request, 400, {"error": "the path is not UTF-8"})
            return NOT_DONE_YET
        status = 202 if request.method == b"POST" and parts[-1:] in (["send"], ["load"]) else 200
        if isinstance(result, Deferred):
            result.addCallbacks(
                lambda value: _write(request, status, value),
                lambda failure: self._failed(request, failure),
            )
        else:
            _write(request, status, result)
        return NOT_DONE_YET

    @staticmethod
    def _failed(request: Request, failure: Failure) -> None:
        exc = failure.value
        if isinstance(exc, ApiError):
            _write(request, exc.status, {"error": exc.reason})
        elif isinstance(exc, NotFound):
            what = exc.args[0] if exc.args else "?"
            _write(request, 404, {"error": what if isinstance(what, str) else f"no message {what}"})
        elif isinstance(exc, PhoneError):
            _write(request, 400, {"error": str(exc)})
        else:
            log.error("control API: %s", failure.getTraceback())
            _write(request, 500, {"error": failure.getErrorMessage()})

    def _phone(self, key: str) -> Phone:
        """A phone by its number, a companion device by ``name@number``."""
        phone = self.phones.get(key)
        if phone is None:
            try:
                phone = self.phones.get(number_of(key))
            except Exception:
                phone = None
        if phone is None:
            raise ApiError(404, f"no handset {key}")
        return phone

    def _route(self, request: Request, method: str, parts: list[str]) -> Any:
        if not parts or parts[0] != "handsets":
            raise ApiError(404, "the API lives under /handsets")
        if len(parts) == 1:
            if method != "GET":
                raise ApiError(405, f"{method} /handsets: use GET")
            return [handset_json(p) for p in self.phones.values()]
        phone = self._phone(parts[1])
        match method, parts[2:]:
            case "GET", []:
                return handset_json(phone, full=True)
            case "POST", ["send"]:
                body = _body(request)
                to, text = _field(body, "to", str), _field(body, "text", str)
                carrier = _field(body, "carrier", str, required=False)
                if carrier is not None and carrier not in set(Carrier):
                    raise ApiError(400, "'carrier' must be 'udh', 'inline' or 'none'")
                return phone.send(to, text, carrier).addCallback(lambda i: {"id": i})
            case "GET", ["inbox"]:
                raw = request.args.get(b"limit", [b""])[0].decode("utf-8")
                limit = _whole(raw, "limit") if raw else None
                return phone.inbox(limit).addCallback(_all)
            case "GET", ["conversations"]:
                return phone.conversations().addCallback(_all)
            case "GET", ["conversations", peer]:
                return phone.view(peer).addCallback(_all)
            case "GET", ["events", kind]:
                return self._next_event(phone, kind, request)
            case "GET", ["messages", ident]:
                return phone.message(_message_id(ident)).addCallback(lambda v: v.as_dict())
            case "POST", ["messages", ident, "read"]:
                return phone.read(_message_id(ident)).addCallback(lambda v: v.as_dict())
            case "POST", ["settings"]:
                return self._configure(phone, _body(request))
            case "POST", ["search"]:
                return self._search(phone, _body(request))
            case "POST", ["logout"]:
                return phone.logout().addCallback(lambda _: handset_json(phone))
            case "POST", ["load"]:
                return self._load(phone, _body(request))
            case "POST", ["login"]:
                logged_in = self._within(phone.login(), LOGIN_WAIT, "login")
                return logged_in.addCallback(lambda _: handset_json(phone))
        raise ApiError(404, f"no route {method} /{'/'.join(parts)}")

    def _next_event(self, phone: Phone, kind: str, request: Request) -> Deferred[Any]:
        """Long poll: the details of the phone's next event ``kind`` whose
        details match the query (``timeout`` seconds at most, 30 by default),
        so that a script waits on the event itself instead of polling."""
        query = {k.decode(): v[0].decode() for k, v in request.args.items()}
        timeout = float(_whole(query.pop("timeout", "30"), "timeout", MAX_WAIT))
        match: dict[str, Any] = {
            k: int(v) if v.isascii() and v.isdigit() else v for k, v in query.items()
        }
        d = self._within(phone.wait_for(kind, **match), timeout, f"{kind} event")
        return d.addCallback(
            lambda details: {k: getattr(v, "value", v) for k, v in details.items()}
        )

    def _within(self, d: Deferred[Any], timeout: float, what: str) -> Deferred[Any]:
        """``d``, or 408 if it has not fired in ``timeout`` seconds."""

        def late(failure: Failure) -> Any:
            if not isinstance(failure.value, DeferredTimeout):
                return failure
            raise ApiError(408, f"no {what} in {timeout:g} s")

        return d.addTimeout(timeout, self.reactor).addErrback(late)

    def _load(self, phone: Phone, body: dict[str, Any]) -> dict[str, Any]:
        """Start a load run (``handset.load``); a newer run of the phone replaces
        the one going on."""
        unknown = sorted(set(body) - {"to", "count", "rate", "text"})
        if unknown:
            raise ApiError(400, f"unknown load fields: {', '.join(unknown)}")
        rate = body.get("rate")
        if not isinstance(rate, int | float) or isinstance(rate, bool):
            raise ApiError(400, "'rate' must be a number")
        try:
            to, count = _field(body, "to", str), _field(body, "count", int)
            text = _field(body, "text", str, required=False) or "load"
            load = Load(phone.owner, phone.send, to, count, float(rate), text, self.reactor)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        old = self.loads.pop(phone.owner, None)
        if old is not None:
            old.stop()
        self.loads[phone.owner] = load
        load.start()
        return load.as_dict()

    @staticmethod
    def _search(phone: Phone, body: dict[str, Any]) -> Deferred[dict[str, Any]]:
        kinds: dict[str, type | tuple[type, ...]] = {
            "text": str, "peer": str, "since": str, "until": str, "limit": int,
            "timeout": (int, float),
        }  # fmt: skip
        unknown = sorted(set(body) - set(kinds))
        if unknown:
            raise ApiError(400, f"unknown search fields: {', '.join(unknown)}")
        for name, value in body.items():
            if value is not None and (
                not isinstance(value, kinds[name]) or isinstance(value, bool)
            ):
                raise ApiError(400, f"{name!r} has the wrong type")
        times = {}
        for name in ("since", "until"):
            if body.get(name) is not None:
                try:
                    when = datetime.fromisoformat(body[name])
                except ValueError:
                    raise ApiError(400, f"{name!r} is not an ISO 8601 time") from None
                times[name] = when if when.tzinfo else when.replace(tzinfo=UTC)
        # What the IP server would refuse, refused here with its reason.
        checks = {
            "timeout": wire.timeout,
            "limit": wire.integer(1, wire.MAX_LIMIT),
            "text": wire.optional(wire.text(256)),
        }
        for name, check in checks.items():
            try:
                check(body.get(name, 50 if name == "limit" else None))
            except wire.Invalid as exc:
                raise ApiError(400, f"{name!r} {exc}") from None
        timeout = body.get("timeout")
        d = phone.search(
            body.get("text"),
            body.get("peer"),
            times.get("since"),
            times.get("until"),
            body.get("limit", 50),
            timeout,
        )
        return d.addCallback(lambda result: result.as_dict())

    @staticmethod
    def _configure(phone: Phone, body: dict[str, Any]) -> Deferred[dict[str, Any]]:
        kinds = {
            "receipts": bool,
            "carrier": str,
            "iei": int,
            "marker": str,
            "ip_path": str,
            "read_on_view": bool,
        }
        unknown = sorted(set(body) - set(kinds))
        if unknown:
            raise ApiError(400, f"unknown settings: {', '.join(unknown)}")
        changes = {k: _field(body, k, kinds[k]) for k in body}
        return phone.configure(**changes).addCallback(settings_json)
