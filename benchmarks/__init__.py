"""Benchmarks of pacslink against DCMTK, run by ``make bench`` (``python -m benchmarks``).

One module per scenario group (receive, send, echo, qr, web), a runner, the results
table, and the data generator; docs/performance.md says what each scenario measures.
"""
