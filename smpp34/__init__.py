"""SMPP 3.4 as the SMSC and any ESME speak it, with no I/O.

- ``pdu``: the codec (every PDU of the specification, its TLVs, the stream
  reader that frames them), the one module to import: it re-exports the
  public names of ``constants``, ``errors``, ``fields``, ``tlv``, ``pdus``,
  ``codec``, ``reader`` and ``times``, which hold them by concern;
- ``session``: one ESME connection as a state machine (binds, the window,
  unbind), returning actions for its transport to apply.
"""
