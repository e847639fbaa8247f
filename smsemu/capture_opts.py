"""``--pcap FILE`` and ``--gsmtap HOST[:PORT]`` of ``smsemu smsc``, ``up`` and
``demo``: where the SMSC's capture goes (docs/wireshark.md)."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from .errors import CommandError

GSMTAP_PORT = 4729  # IANA's; radiolink.air.GSMTAP_PORT, not imported to keep --help light


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pcap",
        metavar="FILE",
        help="write every leg's traffic to a pcapng FILE for Wireshark (radio as GSMTAP, "
        "SMPP as TCP), flushed packet by packet; with up --workers, a file per SMSC node "
        "(cap.pcapng: cap-smsc-1.pcapng, ...)",
    )
    p.add_argument(
        "--pcap-max",
        metavar="MB",
        help="with --pcap: once FILE reaches MB megabytes it becomes FILE.1 (FILE.1 "
        "FILE.2, ... up to FILE.9) and a new FILE starts",
    )
    p.add_argument(
        "--gsmtap",
        metavar="HOST[:PORT]",
        help=f"send the radio leg live as GSMTAP over UDP (default port {GSMTAP_PORT}): "
        "watch it with Wireshark on that interface",
    )


def gsmtap_address(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` as (host, port); CommandError (status 2) when it is not."""
    host, colon, port = text.rpartition(":")
    if not colon:
        host, port = text, str(GSMTAP_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--gsmtap: expected HOST or HOST:PORT (port 1-65535), got {text!r}", 2)
    host = host.strip("[]")
    try:  # once, at start: the sender then needs no name service
        address = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_DGRAM)[0][4]
    except OSError as exc:
        raise CommandError(f"--gsmtap: {host}: {exc.strerror or exc}", 2) from None
    return str(address[0]), int(port)


def capture_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``SmscService`` keywords of the options given."""
    gsmtap = getattr(args, "gsmtap", None)
    pcap, most = getattr(args, "pcap", None), getattr(args, "pcap_max", None)
    if most is not None and pcap is None:
        raise CommandError("--pcap-max: only with --pcap FILE", 2)
    return {
        "pcap": pcap,
        "pcap_max_bytes": _megabytes(most) if most is not None else None,
        "gsmtap": gsmtap_address(gsmtap) if gsmtap is not None else None,
    }


def _megabytes(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 1e6:
        raise CommandError(f"--pcap-max: expected a positive number of megabytes, got {text!r}", 2)
    return max(1, int(value * 1_000_000))
