"""Small Twisted helpers the three components share: listening on endpoint
strings, TCP_NODELAY, and the product's one back-off policy."""

from .backoff import Backoff, backoff_policy
from .endpoints import ListenError, endpoint_spec, listen, nodelay

__all__ = ["Backoff", "ListenError", "backoff_policy", "endpoint_spec", "listen", "nodelay"]
