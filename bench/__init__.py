"""Benchmarks: `python -m bench.ingest_bench` and `python -m bench.query_bench` (docs/PERFORMANCE.md)."""
