"""``python -m pacslink`` runs the command-line interface."""

from pacslink.cli.main import run

run()
