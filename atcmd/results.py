"""Result codes and the shape of every response line.

ITU-T V.250 §5.7 gives the two forms: verbose (ATV1) frames each line with
<CR><LF> on both sides; numeric (ATV0) sends information text as
``text<CR><LF>`` and a final result code as ``code<CR>``.  ATQ1 suppresses
result codes but not information text.

The two error families are TS 27.007 §9.2 (``+CME ERROR``, shown as its number
with AT+CMEE=1, as its text with AT+CMEE=2, as plain ERROR with AT+CMEE=0) and
TS 27.005 §3.2.5 (``+CMS ERROR`` for the SMS commands: always sent, numeric
unless AT+CMEE=2).  CMS values 0-127 are the RP-Cause of TS 24.011 §E.2 as the
network sent it and 128-255 the TP-FCS of TS 23.040 §9.2.3.22, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pdu.status import RP_CAUSE_NAMES, TP_FCS_NAMES


class Final(Enum):
    """The basic result codes of V.250 §5.7.1: (verbose text, numeric code)."""

    OK = ("OK", 0)
    CONNECT = ("CONNECT", 1)
    RING = ("RING", 2)
    NO_CARRIER = ("NO CARRIER", 3)
    ERROR = ("ERROR", 4)
    NO_DIALTONE = ("NO DIALTONE", 6)
    BUSY = ("BUSY", 7)
    NO_ANSWER = ("NO ANSWER", 8)


#: TS 27.007 §9.2.1 and §9.2.2 (the values a handset can meet).
CME_TEXT = {
    0: "phone failure",
    1: "no connection to phone",
    2: "phone-adaptor link reserved",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    100: "unknown",
}

#: TS 27.005 §3.2.5, the values above 255.
CMS_TEXT = {
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    312: "PH-SIM PIN required",
    313: "SIM failure",
    314: "SIM busy",
    315: "SIM wrong",
    316: "SIM PUK required",
    317: "SIM PIN2 required",
    318: "SIM PUK2 required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

# The CMS errors the interpreter itself raises (TS 27.005 §3.2.5).
CMS_ME_FAILURE = 300
CMS_NOT_ALLOWED = 302
CMS_NOT_SUPPORTED = 303
CMS_INVALID_PDU = 304
CMS_INVALID_TEXT = 305
CMS_SIM_PIN_REQUIRED = 311
CMS_INVALID_INDEX = 321
CMS_SMSC_UNKNOWN = 330
CMS_NO_NETWORK = 331
CMS_NO_CNMA_EXPECTED = 340
CMS_UNKNOWN = 500

# The CME errors it raises (TS 27.007 §9.2).
CME_NOT_ALLOWED = 3
CME_NOT_SUPPORTED = 4
CME_SIM_PIN_REQUIRED = 11
CME_INCORRECT_PASSWORD = 16
CME_INVALID_CHARACTERS = 25
CME_NO_NETWORK = 30


def cms_text(code: int) -> str:
    if code < 128:
        return RP_CAUSE_NAMES.get(code, "unspecified network error")
    if code < 256:
        return TP_FCS_NAMES.get(code, "unspecified TP error")
    return CMS_TEXT.get(code, "unknown error")


class CmeError(Exception):
    """Ends a command with ``+CME ERROR: <code>`` (TS 27.007 §9.2)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class CmsError(Exception):
    """Ends an SMS command with ``+CMS ERROR: <code>`` (TS 27.005 §3.2.5)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class CommandError(Exception):
    """Ends a command with the plain ERROR result code (V.250 §5.7.1)."""


Failure = CommandError | CmeError | CmsError


@dataclass(slots=True)
class Format:
    """What ATV, ATQ, AT+CMEE and S3/S4 decide about the shape of responses."""

    verbose: bool = True  # ATV1
    quiet: bool = False  # ATQ1
    cmee: int = 0  # AT+CMEE
    s3: int = 13  # command line termination character
    s4: int = 10  # response formatting character

    def info(self, *lines: str) -> str:
        """Information text: one response, or one unsolicited result code, of
        one or more lines (``+CMGL: ...`` then its PDU)."""
        cr, lf = chr(self.s3), chr(self.s4)
        text = (cr + lf).join(lines) + cr + lf
        return cr + lf + text if self.verbose else text

    def final(self, code: Final) -> str:
        if self.quiet:
            return ""
        text, number = code.value
        return self.info(text) if self.verbose else f"{number}{chr(self.s3)}"

    def failure(self, error: Failure) -> str:
        if self.quiet:
            return ""
        if isinstance(error, CmeError):
            if self.cmee == 0:
                return self.final(Final.ERROR)
            value = str(error.code) if self.cmee == 1 else CME_TEXT.get(error.code, "unknown")
            line = f"+CME ERROR: {value}"
        elif isinstance(error, CmsError):
            value = cms_text(error.code) if self.cmee == 2 else str(error.code)
            line = f"+CMS ERROR: {value}"
        else:
            return self.final(Final.ERROR)
        return self.info(line) if self.verbose else f"{line}{chr(self.s3)}"

    def prompt(self) -> str:
        """The four characters TS 27.005 §3.5.1 asks for before the message."""
        return f"{chr(self.s3)}{chr(self.s4)}> "
