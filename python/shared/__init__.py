"""Helpers shared by the fixture generators, the test oracles and the
Python benchmarks (import with ``python/`` on ``sys.path``)."""
