"""TLS in the configuration (docs/tls.md): the ``tls = { cert, key }`` of a
service's table, and ``--tls auto``, turned into ``ssl:`` endpoint strings.

A table's ``tls`` puts its listeners on TLS: ``[smsc]`` the radio link and
the admin API, ``[smpp]`` the SMPP server, ``[ip_server]`` and ``[control]``
theirs.  ``--tls auto`` puts every other TCP listener of the command on TLS
with the data directory's self-signed certificate (``txkit.tls``).  An
``ssl:`` endpoint string given as an address names its own files and is kept.
"""

from __future__ import annotations

from pathlib import Path

from txkit.tls import TlsError, TlsFiles, auto_certificate, check, is_tls, secured, trusted_of

from ..errors import CommandError
from .values import STRING, Table


def tls_table(parent: Table) -> TlsFiles | None:
    """``tls = { cert = "...", key = "..." }`` (and ``ca``, what our own
    clients trust when a CA issued ``cert``) in ``parent``, checked now."""
    if "tls" not in parent.data:
        parent.taken.add("tls")
        return None
    table = parent.table("tls")
    files = TlsFiles(
        Path(table.need("cert", STRING)),
        Path(table.need("key", STRING)),
        Path(ca) if (ca := table.take("ca", STRING, None)) is not None else None,
    )
    table.done()
    try:
        check(files)
    except TlsError as exc:
        raise table.error(table.path, str(exc)) from None
    return files


def auto(data_dir: Path, where: str) -> TlsFiles:
    """The data directory's certificate of ``--tls auto``; one line if it
    cannot be made or read (``where`` names the data directory's setting)."""
    try:
        return auto_certificate(data_dir)
    except TlsError as exc:
        raise CommandError(f"{where}: {exc}") from None


def on_tls(spec: str, files: TlsFiles | None) -> str:
    """``spec`` on TLS with ``files``, or as it is without."""
    if files is None or is_tls(spec):
        return spec
    try:
        return secured(spec, files)
    except TlsError as exc:
        raise CommandError(str(exc)) from None


def trusted(spec: str | None, files: TlsFiles | None) -> Path | None:
    """What a client of ours trusts to reach the listener ``spec`` made with
    ``files`` (or an ``ssl:`` string naming its own); None: plain TCP."""
    if spec is None or not is_tls(spec):
        return None
    return files.trusted if files is not None else trusted_of(spec)
