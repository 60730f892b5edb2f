"""gruverify's benchmarks: speed and power of the checker, measured (``python -m benchmarks``)."""
