"""A pure codec for GSM short messages: the alphabets of TS 23.038, the TPDUs of
TS 23.040, User Data Headers, concatenation and the read-receipt message number.

No I/O and no Twisted: bytes and dataclasses in, bytes and dataclasses out.
Every malformed input raises ``PDUError`` with the octet offset and the reason.
"""

from .address import Address
from .dcs import Alphabet, DataCodingScheme
from .errors import PDUError
from .hexutil import from_hex, to_hex
from .tpdu import (
    Direction,
    SmsCommand,
    SmsDeliver,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    Tpdu,
    decode,
    decode_sca,
    encode,
    encode_sca,
)
from .udh import InformationElement, Udh
from .userdata import UserData
from .validity import EnhancedVP, RelativeVP, ValidityPeriod

__all__ = [
    "Address",
    "Alphabet",
    "DataCodingScheme",
    "Direction",
    "EnhancedVP",
    "InformationElement",
    "PDUError",
    "RelativeVP",
    "SmsCommand",
    "SmsDeliver",
    "SmsDeliverReport",
    "SmsStatusReport",
    "SmsSubmit",
    "SmsSubmitReport",
    "Tpdu",
    "Udh",
    "UserData",
    "ValidityPeriod",
    "decode",
    "decode_sca",
    "encode",
    "encode_sca",
    "from_hex",
    "to_hex",
]
