"""Start-up mistakes told as the user's, in one line each: the plumbing says
what failed (``txkit.ListenError``: a port in use; ``storage.StorageError``:
a database that cannot be used), this module says which option, or which key
of the ``--config`` file, set it.

``127.0.0.1:7180 is in use`` becomes ``--admin: 127.0.0.1:7180 is in use
(Address already in use)``, or ``net.toml: smsc.admin: ...`` when the file
chose the address.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from storage import StorageError
from txkit import ListenError
from txkit.bearer import new_token
from txkit.private import generated

from .config import Config, ControlSettings, IpServerSettings, SmscSettings
from .defaults import TOKEN_FILE
from .errors import CommandError


@dataclass(frozen=True)
class Origins:
    """Where each setting came from, as its user would look for it: a
    listener's name (``txkit.listen``'s ``name``: ``link``, ``admin``,
    ``smpp``, ``ip_server``, ``control``), ``data_dir`` or ``database_url``
    to ``--admin`` or ``FILE: smsc.admin``.  ``database_url`` is the URL the
    user gave, if any: a failure of another database (a handset's SQLite
    file) is the data directory's."""

    names: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None

    def explain(self, error: BaseException) -> CommandError | None:
        """``error`` as one line naming its setting; None for a bug."""
        if isinstance(error, CommandError):
            return error
        if isinstance(error, ListenError):
            return self._named(error.name or "", error)
        if isinstance(error, StorageError):
            given = self.database_url is not None and error.url == make_url(self.database_url)
            return self._named("database_url" if given else "data_dir", error)
        if isinstance(error, OSError) and error.filename is not None:
            return CommandError(f"{error.filename}: {error.strerror}")
        return None

    def _named(self, name: str, error: Exception) -> CommandError:
        where = self.names.get(name, name.replace("_", " "))
        return CommandError(f"{where}: {error}" if where else str(error))


def origin(
    args: argparse.Namespace, config: Config, option: str, key: str, value: object, default: object
) -> str:
    """``option`` if given (or if nothing set the value), else the file's key."""
    given = getattr(args, option.lstrip("-").replace("-", "_"), None) is not None
    if not given and config.source is not None and value != default:
        return f"{config.source}: {key}"
    return option


def network_origins(args: argparse.Namespace, config: Config, *, up: bool = False) -> Origins:
    """The settings of ``smsemu smsc`` (and, with ``up``, ``smsemu up``)."""
    s, d = config.smsc, SmscSettings()

    def of(option: str, key: str, value: object, default: object) -> str:
        return origin(args, config, option, key, value, default)

    names = {
        "link": of("--link", "smsc.link", s.link, d.link),
        "admin": of("--admin", "smsc.admin", s.admin, d.admin),
        "smpp": of("--smpp", "smpp.listen", s.smpp, d.smpp),
        "data_dir": of("--data-dir", "smsc.data_dir", s.data_dir, d.data_dir),
        "database_url": of("--database-url", "smsc.database_url", s.database_url, None),
    }
    if up:
        ip, control = config.ip_server.listen, config.control.listen
        names["ip_server"] = of("--ip-server", "ip_server.listen", ip, IpServerSettings().listen)
        names["control"] = of("--control", "control.listen", control, ControlSettings().listen)
        names["at_tcp"] = f"{config.source}: handset.at_tcp" if config.source else "at_tcp"
    return Origins(names, s.database_url)


def data_dir(path: Path, where: str) -> Path:
    """``path``, made if it is not there yet; CommandError if it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CommandError(f"{where}: {path} is a file, not a directory") from None
    except OSError as exc:
        why = exc.strerror
        raise CommandError(f"{where}: cannot create the directory {path} ({why})") from None
    return path


def database_url(
    url: str | None, directory: Path, sqlite: Callable[[Path], str], where: str = "--data-dir"
) -> str:
    """``url``, or the SQLite file ``sqlite`` names in ``directory`` (made now)."""
    return url if url is not None else sqlite(data_dir(directory, where))


def api_token(directory: Path, where: str) -> str:
    """The admin and control APIs' token (``txkit.bearer``): one per data
    directory, generated on first start, then the same at every start."""
    return kept_secret(directory / TOKEN_FILE, new_token, where)


def kept_secret(path: Path, make: Callable[[], str], where: str) -> str:
    """The secret in ``path`` (made by ``make`` the first time); a file that
    will not do is one line naming it, or ``where`` (the data dir's option)."""
    try:
        return generated(path, make)
    except PermissionError as exc:
        if exc.strerror is None:  # ours: a file others may read
            raise CommandError(f"{path}: {exc}") from None
        why = f"{exc.strerror}: can this user make files in {path.parent}?"
        raise CommandError(f"{where}: cannot write {path} ({why})") from None
    except OSError as exc:
        raise CommandError(f"{where}: cannot use {path} ({exc.strerror or exc})") from None
