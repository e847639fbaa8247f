"""The radio link between a handset and the SMSC, as both ends speak it.

Sans-I/O: bytes and events in, bytes and events out, no reactor.

- ``frames``: the small versioned framing that carries RP messages over TCP
  (docs/radio-link.md);
- ``rp``: the RP layer of TS 24.011 (RP-DATA, RP-ACK, RP-ERROR, RP-SMMA);
- ``ms``: the mobile station's side (attach, submit, acknowledge);
- ``network``: the network's side (which connection is which subscriber).
"""
