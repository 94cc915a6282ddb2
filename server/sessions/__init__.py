"""The session service: lookups, the state machine and its events, cancel, restart and expiry."""
