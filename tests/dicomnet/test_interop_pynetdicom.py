"""Interoperability of the engine with pynetdicom, an independent implementation, both roles."""

from __future__ import annotations

import asyncio
from io import BytesIO

import pytest
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset

from pacslink.dicomnet.association import FileDataset
from pacslink.dicomnet.client import associate, c_echo, c_store
from pacslink.dicomnet.negotiation import build_contexts
from tests.dicomnet.conftest import CT, TS, VERIFICATION, local_ae
from tests.factory import make_ct, make_dataset_bytes
from tests.peers import require_module

pynetdicom = require_module("pynetdicom")  # skips outside CI, fails in CI
pytestmark = pytest.mark.interop


async def test_pynetdicom_scu_to_our_scp(memory_server) -> None:  # type: ignore[no-untyped-def]
    server, provider = memory_server
    ds = make_ct(rows=64, columns=64)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = TS[0]

    def run_scu() -> tuple[int, int]:
        ae = pynetdicom.AE(ae_title="PYNETDICOM")
        ae.add_requested_context(VERIFICATION)
        ae.add_requested_context(CT, TS[0])
        assoc = ae.associate("127.0.0.1", server.port, ae_title="PACSLINK", max_pdu=16382)
        assert assoc.is_established
        echo = assoc.send_c_echo().Status
        store = assoc.send_c_store(ds).Status
        assoc.release()
        return echo, store

    echo, store = await asyncio.to_thread(run_scu)
    assert (echo, store) == (0, 0)
    received = provider.received[ds.SOPInstanceUID]
    assert received == make_dataset_bytes(ds, TS[0])


async def test_our_scu_to_pynetdicom_scp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stored: list[bytes] = []

    def handle_store(event):  # type: ignore[no-untyped-def]
        stored.append(event.request.DataSet.getvalue())
        return 0x0000

    ae = pynetdicom.AE(ae_title="PYSCP")
    ae.add_supported_context(VERIFICATION)
    ae.add_supported_context(CT, TS)
    scp = ae.start_server(("127.0.0.1", 0), block=False,
                          evt_handlers=[(pynetdicom.evt.EVT_C_STORE, handle_store)])
    port = scp.server_address[1]
    try:
        ds = make_ct(rows=32, columns=32)
        payload = make_dataset_bytes(ds, TS[1])
        f = tmp_path / "ct.bin"
        f.write_bytes(payload)
        contexts = build_contexts([(VERIFICATION, TS), (CT, [TS[1]])])
        async with await associate("127.0.0.1", port, local_ae("PACSLINK"), "PYSCP", contexts) as a:
            assert a.peer_max_pdu == 16382  # pynetdicom's default: we fragment to it
            assert await c_echo(a) == 0
            rsp = await c_store(a, a.context_for(CT), CT, ds.SOPInstanceUID,
                                FileDataset(f, 0, len(payload)))
            assert rsp.Status == 0
    finally:
        scp.shutdown()
    assert stored == [payload]
    assert dcmread(BytesIO(stored[0]), force=True).SOPInstanceUID == ds.SOPInstanceUID
