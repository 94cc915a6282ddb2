"""Live events to connected clients: the hub that fans out each event, and the subscriptions
that open with a snapshot and a replay before following live."""
