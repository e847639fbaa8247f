#!/usr/bin/env python3
"""Make tests/data/receipt_server_0002.sqlite3: an IP server database written
by the code of revision b2c01f3 (schema 0002, devices keeping SHA-256 of their
secrets), for tests/test_ip_login_migration.py to migrate.  Run it with that
revision's code first on the path::

    mkdir /tmp/rs-0002 && git archive b2c01f3 | tar -x -C /tmp/rs-0002
    PYTHONPATH=/tmp/rs-0002 .venv/bin/python scripts/make-receipt-db-0002.py \\
        tests/data/receipt_server_0002.sqlite3

The devices' secrets are fixed (a test must know them); they protect nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.internet.defer import Deferred

from receipt_server.store import ReceiptStore, sqlite_url

PHONE, OTHER = "+447700900123", "+4915112345678"
DEVICES = [  # (device_id, msisdn, account, kind, secret)
    ("dPhone", PHONE, PHONE, "phone", "phone-secret-0002-aaaaaaaaaaaaaaaaaaaaaaaaa"),
    ("dTablet", PHONE, PHONE, "companion", "tablet-secret-0002-bbbbbbbbbbbbbbbbbbbbbbbb"),
    ("dGone", OTHER, OTHER, "phone", "gone-secret-0002-cccccccccccccccccccccccccc"),
]


def fired(d: Deferred[object]) -> object:
    out: list[object] = []
    d.addCallback(out.append)
    return out[0]


def main(path: Path) -> None:
    if path.exists():
        sys.exit(f"{path}: exists")
    url = sqlite_url(path.parent) if path.name == "receipt.sqlite3" else f"sqlite:///{path}"
    store = ReceiptStore.open(url, threaded=False)
    for device_id, msisdn, account, kind, secret in DEVICES:
        fired(store.register_device(msisdn, account, kind, device_id=device_id, secret=secret))
    fired(store.unbind("dGone"))
    fired(store.add_feedback(OTHER, PHONE, 17, 1))  # pending for OTHER: kept
    store.close()
    print(f"{path}: written")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
