"""``python -m benchmarks``: every benchmark, printed as Markdown tables."""

from benchmarks import qr, receive

receive.main()
print()
qr.main()
