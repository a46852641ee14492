"""Benchmarks of pacslink against DCMTK, run by ``make bench`` (``python -m benchmarks``)."""
