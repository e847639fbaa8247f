"""The IP server: device sessions, read responses and their feedback, with a
durable outbox (docs/read-receipts.md §Feedback).  The wire protocol is in docs/receipt-wire.md."""
