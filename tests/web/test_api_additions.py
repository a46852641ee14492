"""What the web UI added to the facade and the index: lookups by UID, deleting a study."""

from __future__ import annotations

from pathlib import Path

from pacslink.api import Pacslink
from tests.web.conftest import Library


def test_lookups_and_delete_study(tmp_path: Path, library: Library) -> None:
    app = Pacslink.from_home(tmp_path, flags={"min_free_mb": 1}, environ={})
    mr, photo = library.study("MRT Schädel"), library.study("Fotodokumentation")
    app.import_paths([mr.folder, photo.folder])
    detail = app.study_detail(mr.study_instance_uid)
    assert detail is not None and len(detail.series) == 2
    t2 = detail.series[1]
    assert app.index.study_of_series(t2.series_instance_uid) == mr.study_instance_uid
    assert app.index.study_of_series("1.2.3") is None
    found = app.series_detail(t2.series_instance_uid)
    assert found is not None and found[1] == t2 and found[0].study == detail.study
    assert app.series_detail("1.2.3") is None
    first = t2.instances[0]
    located = app.instance_file(first.sop_instance_uid)
    assert located is not None and located[0] == first
    assert located[1] == app.store.path_of(first) and located[1].is_file()
    assert app.instance_file("1.2.3") is None

    files = [app.store.path_of(i) for s in detail.series for i in s.instances]
    removed = app.delete_study(mr.study_instance_uid)
    assert sorted(i.sop_instance_uid for i in removed) == sorted(
        i.sop_instance_uid for s in detail.series for i in s.instances)
    assert not any(f.exists() for f in files)
    assert app.study_detail(mr.study_instance_uid) is None
    assert app.index.study_of_series(t2.series_instance_uid) is None
    # the patient keeps its other study; deleting that one removes the patient too
    assert [s.study_instance_uid for s in app.list_studies("VET003")] == [photo.study_instance_uid]
    assert len(app.delete_study(photo.study_instance_uid)) == 1
    assert app.list_studies() == [] and app.delete_study(photo.study_instance_uid) == []
    assert app.verify_store().ok
    app.close()


def test_delete_study_tolerates_a_file_already_gone(tmp_path: Path, library: Library) -> None:
    app = Pacslink.from_home(tmp_path, flags={"min_free_mb": 1}, environ={})
    dx = library.study("THORAX RADIOGRAPHS")
    app.import_paths([dx.folder])
    detail = app.study_detail(dx.study_instance_uid)
    assert detail is not None
    app.store.path_of(detail.series[0].instances[0]).unlink()
    assert len(app.delete_study(dx.study_instance_uid)) == 2
    assert app.list_studies() == [] and app.verify_store().ok
    app.close()
