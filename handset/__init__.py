"""The emulated handset (phone or companion device)."""
