"""Every CLI test runs without ``PACSLINK_*`` variables in its environment, so a setting
exported in the shell that runs the tests cannot change what a command does."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PACSLINK_"):
            monkeypatch.delenv(name)
