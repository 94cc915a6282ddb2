"""Webhooks: signed deliveries of a session's end, retried until a receiver accepts them."""
