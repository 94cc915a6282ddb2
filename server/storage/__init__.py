"""Where a session's files live: a local folder (`local`) or an S3 bucket (`s3`)."""
