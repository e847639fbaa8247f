"""The live web console (docs/console.md): a page of plain JavaScript modules
served from this package at the admin API's root, with no build step and
nothing fetched from elsewhere (the machines that run it may be offline).

The page is a client of the APIs: the admin API's JSON routes and its live
stream (``GET /events``, ``smsc.live``), and, under ``smsemu up``, the
handsets' control API, which is mounted on the admin API at ``/control``
(``mount_control``).  Mounted rather than reached on its own port because
then the page has one origin: the HttpOnly cookie the printed URL set
carries the token to both APIs, no token is ever in the page's JavaScript,
no CORS is needed, and the page's URLs are relative, so they follow the
scheme (``--tls auto``: https) and the host the browser used.  The control
API keeps its own port for the CLI and scripts.
"""

from __future__ import annotations

from importlib import resources

from twisted.web.resource import Resource
from twisted.web.server import Request

from smsc.admin import index_html
from smsc.service import SmscService

#: The files of the page, and their types (nothing else is served).
TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}
#: The page fetches only from its own origin, runs only its own scripts.
POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _files() -> dict[bytes, tuple[bytes, bytes]]:
    """name -> (type, content), read once at start."""
    out = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in TYPES:
            out[entry.name.encode()] = (TYPES[suffix], entry.read_bytes())
    return out


def _headers(request: Request, kind: bytes) -> None:
    request.setHeader(b"content-type", kind)
    request.setHeader(b"content-security-policy", POLICY)
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"cache-control", b"no-cache")


class Assets(Resource):
    """``GET /console/NAME``: the page's modules and style sheet."""

    isLeaf = True

    def __init__(self, files: dict[bytes, tuple[bytes, bytes]]) -> None:
        super().__init__()
        self.files = files

    def render_GET(self, request: Request) -> bytes:
        path = request.postpath or []
        found = self.files.get(path[0]) if len(path) == 1 else None
        if found is None:
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"application/json")
            return b'{"error": "no such file of the console"}'
        _headers(request, found[0])
        return found[1]


class Page(Resource):
    """``GET /``: the console, with the API's routes listed at its foot."""

    isLeaf = True

    def __init__(self, html: bytes) -> None:
        super().__init__()
        self.html = html.replace(b"<!--routes-->", index_html().encode())

    def render_GET(self, request: Request) -> bytes:
        if request.postpath and any(request.postpath):
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"application/json")
            return b'{"error": "no such page (the console is at /)"}'
        _headers(request, TYPES[".html"])
        return self.html


def mount_console(service: SmscService) -> None:
    """The console at ``/`` of the service's admin API, its files at ``/console/``."""
    files = _files()
    service.mount("", Page(files.pop(b"index.html")[1]))
    service.mount("console", Assets(files))


def mount_control(service: SmscService, control: Resource, where: str = "control") -> None:
    """The handsets' control API under ``/control`` of the admin API, and its
    place in ``GET /network`` (the page finds it there)."""
    service.mount(where, control)
    service.sections["control"] = lambda: f"{where}/handsets"
