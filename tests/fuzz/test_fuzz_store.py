"""Fuzzing the store path: a received data set, mutated, streamed into
:class:`~pacslink.store.ingest.IncomingFile` in random chunk sizes, then committed.

Contract: :class:`~pacslink.models.IngestResult` or a
:class:`~pacslink.errors.StoreError` subclass (which the SCP maps to a status), never
another exception; no temp file is left; no index row without its file, no file without
its row. fsync is skipped here (it only makes each example slower).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import given

from tests.fuzz.record import fuzz, run
from tests.fuzz.strategies import store_inputs

# pydicom warns about what mutated data sets hold (unknown character sets, VR guesses)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module", autouse=True)
def no_fsync() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: None)
        yield


@fuzz("store")
@given(store_inputs())
def test_mutated_data_sets(data: bytes) -> None:
    run("store", data)
