"""Fixtures shared by the service tests: a running Storage SCP for the module's ``app``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pacslink.api import Pacslink
from pacslink.dicomnet.server import DicomServer


@pytest.fixture
async def server(app: Pacslink) -> AsyncIterator[DicomServer]:
    """``app``'s listener (Storage + Verification SCP), closed after the test.

    Each test module defines the ``app`` fixture: the home, settings and allowed callers.
    """
    srv = await app.start_listener()
    try:
        yield srv
    finally:
        await srv.close()
