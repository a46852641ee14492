"""Layout and containment: names are ours, and index paths cannot leave the store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pacslink.errors import StoreError
from pacslink.store import Index, Store
from pacslink.store.paths import is_stale, lock_temp, new_object_relpath, resolve_object


def test_object_names_are_generated_and_unique() -> None:
    names = {str(new_object_relpath()) for _ in range(1000)}
    assert len(names) == 1000
    assert all(
        re.fullmatch(r"objects/([0-9a-f]{2})/\1[0-9a-f]{30}\.dcm", n) for n in names
    )


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "/etc/passwd",
        "objects/../../x",
        "objects/../index.sqlite",
        "tmp/a.part",
        "objects",
        "",
        "objects/aa/../../../x",
    ],
)
def test_resolve_object_refuses_paths_outside_objects(tmp_path: Path, bad: str) -> None:
    (tmp_path / "objects").mkdir()
    with pytest.raises(StoreError):
        resolve_object(tmp_path, bad)


def test_resolve_object_refuses_symlinks_leading_out(tmp_path: Path) -> None:
    (tmp_path / "objects").mkdir()
    (tmp_path / "objects" / "aa").symlink_to("/etc")
    with pytest.raises(StoreError):
        resolve_object(tmp_path, "objects/aa/passwd")


def test_resolve_object_accepts_store_paths(tmp_path: Path) -> None:
    rel = new_object_relpath()
    assert resolve_object(tmp_path, str(rel)) == (tmp_path / rel).resolve()


def test_lock_marks_temp_files_in_use(tmp_path: Path) -> None:
    path = tmp_path / "x.part"
    path.write_bytes(b"")
    assert is_stale(path)
    with open(path, "rb") as fp:
        lock_temp(fp.fileno())
        assert not is_stale(path)
    assert is_stale(path)
    assert not is_stale(tmp_path / "missing.part")


def test_store_creates_its_layout(tmp_path: Path, index: Index) -> None:
    store = Store(tmp_path / "a" / "b", index)
    assert store.root == (tmp_path / "a" / "b").resolve()
    assert store.tmp_dir.is_dir() and store.objects_dir.is_dir()
    assert store.tmp_dir.stat().st_dev == store.objects_dir.stat().st_dev  # atomic rename
