"""Object stores end to end: storage backends (local, S3), grants, named tables, scans and the gRPC service."""
