"""Property: whatever UIDs and AE titles a peer sends, every file pacslink writes is under the store."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacslink.errors import StoreError
from pacslink.store import Index, Store
from tests.factory import make_ct, make_dataset_bytes

hostile = st.one_of(
    st.sampled_from(["../../x", "/etc/x", "..", ".", "a/../../b", "\\\\server\\share", "C:\\x",
                     "x\x00y", "~root", "%2e%2e%2f", "1.2.3/../.."]),
    st.text(min_size=1, max_size=80),
)


def _files(tmp_path: Path) -> set[Path]:
    """Everything under this test's directory, and the entries next to it (where a
    ``../x`` would land), without walking other tests' directories."""
    return set(tmp_path.rglob("*")) | set(tmp_path.parent.iterdir())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uid=hostile, calling_ae=hostile, patient_id=hostile)
def test_every_file_written_is_under_the_store(tmp_path: Path, uid: str, calling_ae: str,
                                               patient_id: str) -> None:
    root = tmp_path / "store"
    store = Store(root, Index(f"sqlite:///{tmp_path / 'index.sqlite'}"), min_free_bytes=0)
    before = _files(tmp_path)
    try:
        ds = make_ct(sop_instance_uid="1.2.3", rows=2, columns=2)
        try:
            ds.SOPInstanceUID = uid
            ds.PatientID = patient_id
        except Exception:  # pydicom refuses some values: the command still carries them
            pass
        try:
            data = make_dataset_bytes(ds)
        except Exception:
            data = b"\x08\x00\x18\x00UI\x02\x00x\x00"
        incoming = store.begin(sop_class_uid=ds.SOPClassUID, sop_instance_uid=uid,
                               transfer_syntax_uid="1.2.840.10008.1.2.1", calling_ae=calling_ae)
        incoming.write(data)
        incoming.commit()
    except StoreError:
        pass  # refused with a DIMSE status: fine, nothing may be left either
    created = _files(tmp_path) - before
    resolved_root = root.resolve()
    for path in created:
        real = path.resolve()
        assert real == tmp_path.resolve() / "index.sqlite" or real.parent == tmp_path.resolve() \
            or resolved_root in real.parents or real == resolved_root, real
        if real.is_file() and resolved_root in real.parents:  # names pacslink generated
            assert re.fullmatch(r"[0-9a-f]{32}\.(dcm|part)", real.name), real
            assert re.fullmatch(r"objects/[0-9a-f]{2}|tmp", str(real.parent.relative_to(resolved_root))), real
    store.index.close()


def test_symlink_planted_in_the_store_is_not_followed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pathlib import PurePosixPath

    import pacslink.store.paths as paths

    root = tmp_path / "store"
    store = Store(root, Index(f"sqlite:///{tmp_path / 'index.sqlite'}"), min_free_bytes=0)
    outside = tmp_path / "outside"
    outside.mkdir()
    # an attacker with local access replaces a fan-out directory by a link to elsewhere
    victim = root / "objects" / "00"
    victim.rmdir()
    victim.symlink_to(outside, target_is_directory=True)
    monkeypatch.setattr(paths, "new_object_relpath",
                        lambda: PurePosixPath("objects", "00", "00" + "1" * 30 + ".dcm"))
    refused = 0
    for _ in range(3):
        ds = make_ct(rows=2, columns=2)
        incoming = store.begin(sop_class_uid=ds.SOPClassUID, sop_instance_uid=ds.SOPInstanceUID,
                               transfer_syntax_uid="1.2.840.10008.1.2.1", calling_ae="X")
        incoming.write(make_dataset_bytes(ds))
        try:
            incoming.commit()
        except StoreError as exc:
            refused += "symbolic link" in str(exc)
    assert refused == 3
    assert list(outside.iterdir()) == []
    assert list((root / "tmp").iterdir()) == []
