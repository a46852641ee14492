"""``python -m benchmarks``: every scenario, written to bench-results/ and printed as a table."""

import sys

from benchmarks.runner import main

sys.exit(main())
