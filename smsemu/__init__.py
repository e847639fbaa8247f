"""smsemu: the composition root (the ``smsemu`` command)."""
