"""The IP server's wire protocol (docs/receipt-wire.md), as devices and the
server speak it, with no I/O.

- ``wire``: the messages, their validators (one set for encode and decode) and
  the frame reader, the one module to import: it re-exports the public names
  of ``validators``, ``messages`` and ``frames``, which hold them by concern;
- ``device_session``: the device's side (requests out, events in);
- ``server_session``: the server's side of one connection, returning actions;
- ``relay``: which open history query goes to which device, and when it ends;
- ``ratelimit``: the per-device token buckets the server session applies.
"""
