"""Datasets end to end: encrypted versioned storage, resumable uploads, rate limit and the gRPC service."""
