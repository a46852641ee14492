"""The local store: received instances as DICOM Part 10 files plus a SQL index (layer L2).

::

    from pacslink.store import Index, Store

    index = Index("sqlite:////var/lib/pacslink/index.sqlite")
    store = Store(Path("/var/lib/pacslink/store"), index)
    incoming = store.begin(sop_class_uid=..., sop_instance_uid=...,
                           transfer_syntax_uid=..., calling_ae="CT01")
    incoming.write(fragment)          # for every P-DATA fragment, on the event loop
    result = incoming.commit()        # in a worker thread; durable and indexed on return

Modules: :mod:`~pacslink.store.paths` (layout, generated names), :mod:`~.schema` (tables),
:mod:`~.index` and :mod:`~.query` (SQL), :mod:`~.parse` (bounded header parsing),
:mod:`~.record` (attributes), :mod:`~.meta` (file meta), :mod:`~.ingest` (receiving),
:mod:`~.verify` (consistency check), :mod:`~.reconcile` (start-up repair after a crash,
and the lock that tells a process whether it has the store to itself). This package
never imports the network layers.
"""

from __future__ import annotations

from pacslink.store.index import Index
from pacslink.store.ingest import IncomingFile, Store
from pacslink.store.record import InstanceRecord
from pacslink.store.verify import verify

__all__ = ["IncomingFile", "Index", "InstanceRecord", "Store", "verify"]
