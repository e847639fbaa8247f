"""What the admin API's pages share: JSON answers, query parameters, bodies."""

from __future__ import annotations

import json
from typing import Any

from twisted.web.server import Request


def write_json(request: Request, status: int, body: Any) -> None:
    """Answer ``body`` as JSON (unless the client has gone meanwhile)."""
    if request.finished or request._disconnected:
        return
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.write(json.dumps(body, ensure_ascii=False).encode())
    request.finish()


def arg(request: Request, name: str) -> str | None:
    values = (request.args or {}).get(name.encode())
    return values[0].decode() if values else None


def number(request: Request, name: str) -> str | None:
    """A phone number parameter.  A ``+`` typed as is in a query string
    reads as a space (form encoding): a leading space is taken for the ``+``
    the user meant, so ``?recipient=+1555...`` works as ``%2B1555...``."""
    value = arg(request, name)
    if value is not None and value.startswith(" "):
        value = "+" + value.lstrip(" ")
    return value


def json_object(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object; ValueError says what is wrong."""
    raw = request.content.read() if request.content is not None else b""
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data
