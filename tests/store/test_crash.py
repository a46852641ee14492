"""Crash points: a process killed mid-commit leaves no visible file and no row.

A child process receives one instance and dies with ``os._exit`` (no cleanup, no
``finally``, no flush: what SIGKILL or a power cut looks like to the store) at a chosen
step of :meth:`IncomingFile.commit`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pacslink.models import VerifyProblem
from pacslink.store import Index, Store, verify
from pacslink.store.paths import stale_temp_files

REPO_DIR = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from tests.factory import make_ct, make_dataset_bytes
    from pacslink.store import Index, Store
    from pacslink.store.index import Index as IndexClass

    store = Store(Path({root!r}), Index({url!r}))
    ds = make_ct(sop_instance_uid="1.2.3.4.5.6")
    incoming = store.begin(sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
                           transfer_syntax_uid="1.2.840.10008.1.2.1", calling_ae="CRASHER")
    incoming.write(make_dataset_bytes(ds))
    point = {point!r}
    if point == "before-rename":
        os.replace = lambda *args, **kwargs: os._exit(17)
    elif point == "before-index":
        IndexClass.add_instance = lambda *args, **kwargs: os._exit(17)
    elif point == "during-write":
        os._exit(17)
    incoming.commit()
    os._exit(0)
    """
)


def run_child(root: Path, url: str, point: str) -> None:
    code = CHILD.format(repo=str(REPO_DIR), root=str(root), url=url, point=point)
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, timeout=60
    )
    assert proc.returncode == 17, proc.stderr.decode()


@pytest.mark.parametrize("point", ["during-write", "before-rename"])
def test_kill_before_rename_leaves_no_visible_file_and_no_row(
    tmp_path: Path, sqlite_url: str, point: str
) -> None:
    root = tmp_path / "store"
    run_child(root, sqlite_url, point)
    index = Index(sqlite_url)
    try:
        assert list((root / "objects").rglob("*.*")) == []
        assert index.get_instance("1.2.3.4.5.6") is None
        assert list(index.iter_instances()) == []
        leftovers = list((root / "tmp").iterdir())
        assert len(leftovers) == 1  # the child's temp file, its lock gone with the child
        assert stale_temp_files(root) == leftovers
        # The next start removes it.
        Store(root, index)
        assert list((root / "tmp").iterdir()) == []
    finally:
        index.close()


def test_kill_after_rename_leaves_an_orphan_that_verify_reports(
    tmp_path: Path, sqlite_url: str
) -> None:
    root = tmp_path / "store"
    run_child(root, sqlite_url, "before-index")
    index = Index(sqlite_url)
    try:
        assert index.get_instance("1.2.3.4.5.6") is None
        store = Store(root, index)
        report = verify(store)
        assert [i.problem for i in report.issues] == [VerifyProblem.ORPHAN]
        assert (root / report.issues[0].path).is_file()
    finally:
        index.close()


def test_live_temp_files_of_another_store_are_not_cleaned(store: Store, index: Index) -> None:
    incoming = store.begin(
        sop_class_uid="1.2.3",
        sop_instance_uid="1.2.3.4",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        calling_ae="X",
    )
    stale = store.tmp_dir / "0123456789abcdef0123456789abcdef.part"
    stale.write_bytes(b"left by a crash")
    second = Store(store.root, index)  # e.g. 'pacslink store verify' while 'listen' runs
    assert second.tmp_dir == store.tmp_dir
    assert sorted(os.listdir(store.tmp_dir)) == [incoming.path.name]
    incoming.abort()
    assert os.listdir(store.tmp_dir) == []
