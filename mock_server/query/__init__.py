"""The query path: QueryEngineService over DuckDB, from SQL text to Thrift result chunks."""
