"""SMPP v3.4 codec: the public names, whatever module of ``smpp34`` holds them."""

from .constants import *  # noqa: F403
from .errors import *  # noqa: F403
from .fields import *  # noqa: F403
from .pdus import *  # noqa: F403
from .tlv import *  # noqa: F403
