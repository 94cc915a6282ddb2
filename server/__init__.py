"""The HTTP service: Starlette app, sessions, streams, jobs and backends."""
