"""``python -m benchmarks``: every benchmark, printed as a Markdown table."""

from benchmarks import receive

receive.main()
