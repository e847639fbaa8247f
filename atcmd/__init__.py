"""The AT command interpreter of a handset's modem port (ITU-T V.250,
3GPP TS 27.007 and TS 27.005), sans-I/O: bytes in, bytes out, and requests
to the handset for what needs its store or radio.

- ``modem``: ``Modem``, the machine the owner feeds (start there);
- ``requests``: the requests it makes and the events it is told;
- ``state``: ``Identity`` (what it answers about itself), the settings;
- ``lines``: framing of command lines and of the text after ``> ``;
- ``syntax``: the V.250 command line syntax;
- ``results``: result codes, +CME / +CMS errors, response formatting;
- ``dispatch``: the command table; ``basic``, ``equipment``, ``sms_settings``,
  ``sms_messages``: its entries; ``rules``: their shape;
- ``charset``, ``textmode``, ``show``, ``urc``: text mode, the TE character
  sets, how messages and unsolicited result codes look.
"""

from .modem import Modem
from .requests import (
    ALL,
    REC_READ,
    REC_UNREAD,
    STO_SENT,
    STO_UNSENT,
    DeleteMessages,
    Event,
    ListMessages,
    MessageArrived,
    QueryStorage,
    ReadMessage,
    RegistrationChanged,
    ReportArrived,
    Request,
    SendMessage,
    SendStored,
    SetFunctionality,
    StoredMessage,
    StoreMessage,
    StoreStatus,
)
from .state import MEMORY, Identity

__all__ = [
    "ALL",
    "MEMORY",
    "REC_READ",
    "REC_UNREAD",
    "STO_SENT",
    "STO_UNSENT",
    "DeleteMessages",
    "Event",
    "Identity",
    "ListMessages",
    "MessageArrived",
    "Modem",
    "QueryStorage",
    "ReadMessage",
    "RegistrationChanged",
    "ReportArrived",
    "Request",
    "SendMessage",
    "SendStored",
    "SetFunctionality",
    "StoreMessage",
    "StoreStatus",
    "StoredMessage",
]
