"""Live sessions: what a live source is (sources), how one is followed (hls, pull, feed), the live job a
worker process runs (job), and how the server drives it and records what it reports (driver).

Between `jobs` and `sessions` in the server's layers: a worker process (jobs/child.py) runs `job`, and
the dispatcher (jobs/dispatch.py) runs a live session through `driver`."""
