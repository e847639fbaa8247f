"""The IP server's wire protocol: the public names, whatever module of ``ipwire`` holds them."""

from .messages import *  # noqa: F403
