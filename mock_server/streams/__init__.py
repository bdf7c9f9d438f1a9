"""V3IO-style streams: sharded, ordered, durable record logs with retention (store, gRPC service, SQL catalog)."""
