"""The fuzz harnesses under atheris (coverage-guided, libFuzzer), optional.

hypothesis drives the harnesses in ``make test`` and ``make fuzz``; atheris adds
coverage guidance for long runs. It is not a dependency of pacslink
(``pip install '.[fuzz]'`` or ``pip install atheris``)::

    .venv/bin/python -m tests.fuzz.atheris_main pdu -max_total_time=600 \\
        -artifact_prefix=tests/fuzz/regressions/pdu/crash- /tmp/corpus-pdu tests/fuzz/regressions/pdu

Harnesses: ``pdu``, ``dimse_command``, ``dimse_stream``, ``store``. With
``-artifact_prefix`` as above an input that breaks a harness lands straight in the
regression corpus. Give libFuzzer a scratch directory first (it adds what it finds to
the first directory) and the committed corpus after it, read-only in effect.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["pacslink"]):
        from tests.fuzz.harnesses import HARNESSES

    if len(argv) < 2 or argv[1] not in HARNESSES:
        sys.exit(f"usage: python -m tests.fuzz.atheris_main {{{','.join(HARNESSES)}}} "
                 "[libFuzzer options] [corpus directories]")
    check = HARNESSES[argv[1]]
    atheris.Setup([argv[0], *argv[2:]], check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
