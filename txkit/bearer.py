"""A bearer token in front of an HTTP API, the way Jupyter does it: the token
is generated into the data directory on first start (``txkit.private``),
printed in the URL (``http://127.0.0.1:7180/?token=...``), and that URL works
as is in a browser.

The rules of ``TokenGuard``, for every path but the ones it leaves open:

* The token is taken from ``Authorization: Bearer TOKEN``, else from a
  ``token`` query parameter, else from the cookie a ``?token=`` set.
* None: 401 with ``WWW-Authenticate: Bearer``.  A wrong one: 403.  Tokens
  are compared in constant time (``hmac.compare_digest``).
* A good ``?token=`` sets an HttpOnly, SameSite=Strict cookie named after the
  port (two APIs of one host keep their own), so the links and fetches of a
  page opened from the printed URL carry the token; no other site's page can
  send it.  The ``token`` parameter is taken out of the query before the API
  reads it.
* Wrong tokens from one address lock it out (``txkit.lockout``: a few free,
  then a lock that doubles): a locked address is answered 429 with
  ``Retry-After``, without its token being looked at.  A missing token is not
  a guess and does not count.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request

from .lockout import Lockout

#: What the lockout counts wrong tokens against, besides the address.
_REALM = "api-token"


def new_token() -> str:
    """32 URL-safe characters (192 bits): nothing to escape in a URL."""
    return secrets.token_urlsafe(24)


def token_url(host: str, port: int, token: str, path: str = "/") -> str:
    """The URL to print: it works as is, in a browser or with curl."""
    where = f"[{host}]" if ":" in host else host
    return f"http://{where}:{port}{path}?token={token}"


def _answer(request: Request, status: int, message: str) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps({"error": message}).encode()


class _Refusal(Resource):
    isLeaf = True

    def __init__(self, status: int, message: str, headers: dict[bytes, bytes]) -> None:
        super().__init__()
        self.status, self.message, self.headers = status, message, headers

    def render(self, request: Request) -> bytes:
        for name, value in self.headers.items():
            request.setHeader(name, value)
        return _answer(request, self.status, self.message)


class TokenGuard(Resource):
    """``root`` behind ``token``; paths whose first segment is in ``open`` are
    served to anyone (``/metrics`` for a Prometheus without the token).
    ``where`` tells a refused client where the token is."""

    def __init__(
        self,
        root: Resource,
        token: str,
        clock: IReactorTime,
        *,
        open: frozenset[bytes] = frozenset(),
        where: str = "the URL printed at start",
        lockout: Lockout | None = None,
    ) -> None:
        super().__init__()
        self.root = root
        self.token = token.encode()
        self.clock = clock
        self.open = open
        self.where = where
        self.lockout = lockout or Lockout(free=5, longest=60.0)

    def getChildWithDefault(self, path: bytes, request: Any) -> Resource:
        refusal = None if path in self.open else self.refusal(request)
        if refusal is not None:
            return refusal
        # Hand the segment back: the root walks the path as if nothing stood before it.
        request.postpath.insert(0, request.prepath.pop())
        return self.root

    def refusal(self, request: Request) -> Resource | None:
        """None when ``request`` carries the token; the answer otherwise."""
        args = request.args if request.args is not None else {}
        in_query = args.pop(b"token", [None])[-1]
        cookie = b"smsemu-token-%d" % getattr(request.getHost(), "port", 0)
        given = _bearer(request) or in_query or request.getCookie(cookie)
        if not given:
            return _Refusal(
                401,
                f"this API needs its token: 'Authorization: Bearer TOKEN' or ?token=TOKEN "
                f"({self.where})",
                {b"www-authenticate": b'Bearer realm="smsemu"'},
            )
        address = str(getattr(request.getClientAddress(), "host", ""))
        now = self.clock.seconds()
        verdict = self.lockout.check(_REALM, address, now)
        if verdict.locked:
            wait = math.ceil(max(verdict.delay, 1.0))
            return _Refusal(
                429,
                f"too many wrong tokens from {address}: try again in {wait} s",
                {b"retry-after": str(wait).encode()},
            )
        if not hmac.compare_digest(given, self.token):
            self.lockout.failed(_REALM, address, now)
            return _Refusal(
                403,
                f"wrong token ({self.where})",
                {b"www-authenticate": b'Bearer realm="smsemu", error="invalid_token"'},
            )
        self.lockout.succeeded(_REALM, address)
        if in_query:
            request.addCookie(cookie, given, path=b"/", httpOnly=True, sameSite="strict")
            request.setHeader(b"referrer-policy", b"no-referrer")  # keep the token off links
        return None


def _bearer(request: Request) -> bytes | None:
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(b" ")
    return value.strip() if scheme.lower() == b"bearer" else None
