"""The IP server: device sessions, read responses and their feedback, with a
durable outbox (SPEC §4.4).  The wire protocol is in docs/receipt-wire.md."""
