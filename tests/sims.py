"""SIMs for tests: keys that are a function of the number, so a handset made
twice for one number (a reconnect, a restart) holds the same SIM, and the
network's provisioning of it is idempotent."""

from __future__ import annotations

import hashlib

from radiolink.auth import Keys
from smsc.subscriptions import Provisioned


def imsi_for(msisdn: str) -> str:
    return "00101" + msisdn[-10:].rjust(10, "0")


def keys_for(msisdn: str) -> Keys:
    digest = hashlib.sha256(f"test SIM of {msisdn}".encode()).digest()
    return Keys(k=digest[:16], opc=digest[16:])


def subscription(msisdn: str, imsi: str | None = None) -> Provisioned:
    return Provisioned(imsi or imsi_for(msisdn), msisdn, keys_for(msisdn))
