"""Running analyses: the worker process pool, what runs inside a worker, and the dispatch
loops that feed it queued sessions."""
