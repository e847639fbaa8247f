"""The SMSC: radio link, store and forward, status reports, admin API."""
