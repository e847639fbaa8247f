"""A database that cannot be used, told in one line: a URL that is none, a
driver that is not installed, a server that does not answer, a file that
cannot be written.  The URL is printed without its password (``safe_url``),
here and wherever the product shows one."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

#: What a URL looks like, for the errors about one.
EXAMPLES = "expected e.g. sqlite:///path or postgresql+psycopg://user@host/db"
#: SQLSTATEs of a database that refuses writes: read_only_sql_transaction
#: (a standby, default_transaction_read_only) and insufficient_privilege.
_READ_ONLY_STATES = ("25006", "42501")


class StorageError(Exception):
    """The database cannot be used: what and why, one line, no password.
    ``url`` is the database's, for the caller to name the setting it came from."""

    def __init__(self, message: str, url: URL | None = None) -> None:
        super().__init__(message)
        self.url = url


def safe_url(url: str | URL) -> str:
    """``url`` as it may be printed: its password, if any, as ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL; it may still hold ``user:password@``
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)


def place(url: URL) -> str:
    """The database as its user names it: a SQLite file's path, else the URL."""
    if url.get_backend_name() == "sqlite":
        return url.database or "an in-memory SQLite database"
    return safe_url(url)


def reason(error: BaseException, url: URL | None = None) -> str:
    """The driver's own words on one line, with no password of ``url`` in them."""
    text = str(getattr(error, "orig", None) or error)
    text = "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def _read_only(error: DBAPIError) -> bool:
    orig = error.orig
    if str(getattr(orig, "sqlite_errorname", "")).startswith("SQLITE_READONLY"):
        return True
    return getattr(orig, "sqlstate", None) in _READ_ONLY_STATES


@contextmanager
def told(url: URL, *, connecting: bool = False) -> Iterator[None]:
    """Turn what the database says of itself (it does not answer, it refuses
    writes) into a ``StorageError``; any other error, a bug in SQL say, goes
    on as it is.  ``connecting``: the error is of opening a connection."""
    try:
        yield
    except DBAPIError as exc:
        where, why = place(url), reason(exc, url)
        if _read_only(exc):
            raise StorageError(f"cannot write to the database {where} ({why})", url) from None
        if not isinstance(exc, OperationalError | InterfaceError):
            raise
        if url.get_backend_name() == "sqlite":
            if getattr(exc.orig, "sqlite_errorname", "") == "SQLITE_CANTOPEN" and url.database:
                why += f": can this user make files in {os.path.dirname(url.database) or '.'}?"
            raise StorageError(f"cannot use the database {where} ({why})", url) from None
        what = "cannot connect to" if connecting else "cannot use"
        raise StorageError(f"{what} the database {where}: {why}", url) from None
