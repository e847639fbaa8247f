"""SMPP v3.4 codec: the public names, whatever module of ``smpp34`` holds them."""

from .pdus import *  # noqa: F403
