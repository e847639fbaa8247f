"""What the IP server tells Prometheus (``smsemu_ip_*``): sessions, responses
and feedback, history queries and the relay's latency, the rate limit.

Served on its own endpoint (``smsemu ip-server run --metrics``) and, in
``smsemu up``, on the SMSC admin API's /metrics too.  The gauges of who is
connected are read from the sessions at each scrape; the feedback outbox's
size is kept here, counted from the database at each sweep and moved by each
feedback committed and each acknowledged between sweeps (the reactor never
waits on a count).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from txkit.prometheus import Registry

if TYPE_CHECKING:
    from .sessions import Sessions

#: Seconds from a relayed query to its results being ready: the deadline is
#: 0.1-60 s (5 s unless the query asks).
RELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class IpMetrics:
    def __init__(self) -> None:
        self.registry = reg = Registry()
        #: The sessions of the running server (its factory sets them).
        self.sessions: Sessions | None = None
        reg.gauge(
            "smsemu_ip_connections",
            "connections open now",
            read=lambda: len(self.sessions.connections) if self.sessions else 0,
        )
        reg.gauge(
            "smsemu_ip_devices_logged_in",
            "devices logged in now",
            read=lambda: len(self.sessions.by_device) if self.sessions else 0,
        )
        reg.gauge(
            "smsemu_ip_push_channels",
            "push channels open now",
            read=lambda: len(self.sessions.push_channels) if self.sessions else 0,
        )
        self.logins = reg.counter(
            "smsemu_ip_logins_total", "logins accepted, by device kind", ("kind",)
        )
        self.push_subscriptions = reg.counter(
            "smsemu_ip_push_subscriptions_total", "push channels opened"
        )
        self.auth_failures = reg.counter(
            "smsemu_ip_auth_failures_total",
            "logins and push subscriptions refused: bad credentials",
        )
        self.auth_locked = reg.counter(
            "smsemu_ip_auth_locked_total",
            "of those, refused unchecked while the device or the address was locked out",
        )
        #: How many device ids and addresses are locked out now (the factory sets it).
        self.locked: Callable[[], int] = lambda: 0
        reg.gauge(
            "smsemu_ip_login_lockouts",
            "device ids and source addresses locked out now after failed logins",
            read=lambda: self.locked(),
        )
        self.not_logged_in = reg.counter(
            "smsemu_ip_closed_before_login_total",
            "connections closed before a login: 'deadline' (none in time) or "
            "'frame' (something else than a login frame)",
            ("reason",),
        )
        self.responses = reg.counter(
            "smsemu_ip_responses_total",
            "read responses: 'accepted' (its feedback committed) or the error code refusing it",
            ("outcome",),
        )
        self.feedback_pushed = reg.counter(
            "smsemu_ip_feedback_pushed_total", "feedback sent to senders' phones, resends included"
        )
        self.feedback_pending = reg.gauge(
            "smsemu_ip_feedback_pending",
            "feedback committed and not yet acknowledged by the sender's phone",
        )
        self.queries = reg.counter("smsemu_ip_history_queries_total", "history queries received")
        self.queries_from_window = reg.counter(
            "smsemu_ip_history_queries_from_window_total",
            "history queries answered from the server's window",
        )
        self.queries_relayed = reg.counter(
            "smsemu_ip_history_queries_relayed_total",
            "history queries relayed to the account's other devices",
        )
        self.queries_finished = reg.counter(
            "smsemu_ip_history_queries_finished_total",
            "relayed queries finished, by status (complete, partial, not_found)",
            ("status",),
        )
        self.queries_timed_out = reg.counter(
            "smsemu_ip_history_queries_timed_out_total",
            "relayed queries whose deadline came before every device answered",
        )
        self.relay_seconds = reg.histogram(
            "smsemu_ip_history_relay_seconds",
            "seconds from a relayed query to its results being ready",
            buckets=RELAY_BUCKETS,
        )
        self.rate_limited = reg.counter(
            "smsemu_ip_rate_limited_total", "requests refused: past the device's rate"
        )
        # The series known beforehand start at 0, so that rate() sees the first one.
        for kind in ("phone", "companion"):
            self.logins.inc(kind, by=0)
        self.responses.inc("accepted", by=0)
        for status in ("complete", "partial", "not_found"):
            self.queries_finished.inc(status, by=0)
