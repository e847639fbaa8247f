"""What a modem remembers: who it is (Identity), what the TE chose on this
connection (Settings: reset by ATZ, AT&F and a new connection) and what
belongs to the device itself and outlives a connection (Device: the SIM lock,
AT+CFUN, the registration, the SMSC address)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pdu import Address

from .results import Format

#: The one message store, advertised for all three memories of AT+CPMS:
#: advertising one store under two names makes Gammu read each message twice.
MEMORY = "SM"

#: Unsolicited result codes a TA keeps while they cannot go out; the oldest
#: go first when more arrive (TS 27.005 §3.4.1, <mode> 0).
URC_BUFFER = 64


@dataclass(frozen=True, slots=True)
class Urc:
    """One unsolicited result code, and whether AT+CNMI <mode> governs it
    (the TS 27.005 indications) or only the command in progress does."""

    lines: tuple[str, ...]
    sms: bool


@dataclass(frozen=True, slots=True)
class Identity:
    """What the identification commands answer (TS 27.007 §5)."""

    msisdn: str
    imsi: str
    imei: str
    manufacturer: str = "smsemu"
    model: str = "smsemu handset"
    revision: str = "1.0"
    operator: str = "smsemu"
    operator_short: str = "smsemu"
    operator_numeric: str = "00101"
    #: The SIM PIN; None: the SIM asks for none (AT+CPIN? says READY).
    pin: str | None = None
    #: The SMSC address AT+CSCA? shows until the TE or the owner sets one.
    smsc: str | None = None


@dataclass(slots=True)
class Csmp:
    """AT+CSMP (TS 27.005 §3.3.2): how text mode builds an SMS-SUBMIT."""

    fo: int = 17  # SMS-SUBMIT, TP-VPF relative
    vp: int = 167  # 24 hours
    pid: int = 0
    dcs: int = 0


@dataclass(slots=True)
class Cnmi:
    """AT+CNMI (TS 27.005 §3.4.1): where new message indications go."""

    mode: int = 0
    mt: int = 0
    bm: int = 0
    ds: int = 0
    bfr: int = 0


@dataclass(slots=True)
class Settings:
    """Per connection, as the TE set them; the factory profile by default."""

    echo: bool = True
    format: Format = field(default_factory=Format)
    s_registers: dict[int, int] = field(
        default_factory=lambda: {0: 0, 3: 13, 4: 10, 5: 8, 6: 2, 7: 50, 8: 2, 10: 14}
    )
    cmgf: int = 0
    cscs: str = "IRA"
    csms: int = 0
    csmp: Csmp = field(default_factory=Csmp)
    cnmi: Cnmi = field(default_factory=Cnmi)
    creg: int = 0
    clip: int = 0
    crc: int = 0
    cvhu: int = 0
    cops_format: int = 0


@dataclass(slots=True)
class Device:
    """The handset's own state, the same whoever is connected."""

    sim_locked: bool
    fun: int = 1
    registration: int = 0
    smsc: Address | None = None


@dataclass(slots=True)
class Session:
    """Everything a command handler may read or change."""

    identity: Identity
    device: Device
    settings: Settings = field(default_factory=Settings)
    #: +CMT or +CDS was shown with AT+CSMS=1: the TE owes an AT+CNMA.
    ack_pending: bool = False
    #: Held unsolicited result codes; they outlive a connection, as in a TA.
    urc_buffer: deque[Urc] = field(default_factory=lambda: deque(maxlen=URC_BUFFER))

    @classmethod
    def start(cls, identity: Identity) -> Session:
        smsc = Address.parse(identity.smsc) if identity.smsc else None
        return cls(identity, Device(sim_locked=identity.pin is not None, smsc=smsc))

    def reset(self) -> None:
        """ATZ, AT&F or a new connection: the factory profile again."""
        self.settings = Settings()
        self.ack_pending = False
