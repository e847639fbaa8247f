"""The SMSC's SMPP v3.4 door for ESMEs: the PDU codec (``pdu``) and what builds on it."""
