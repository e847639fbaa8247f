"""Files only their owner may read: credentials, keys and tokens that smsemu
generates on first use and prints, so no password is ever a fixed default."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all (a temporary file renamed), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def generated(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``; made by ``make`` and written there the
    first time.  A file others may read is refused: the secret has leaked."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        value = make()
        write_private(path, value + "\n")
        return value
    if mode & 0o077:
        raise PermissionError("readable by others (chmod 600 it, or delete it)")
    return path.read_text().strip()


def password(length: int) -> str:
    """A random password of letters and digits, ``length`` characters."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
