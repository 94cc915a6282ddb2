"""How a video arrives: multipart, tus (resumable) or a URL, each checked and probed before
its session is queued."""
