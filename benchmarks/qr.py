"""Query/Retrieve figures: federated C-FIND over 5 AEs, and C-MOVE of a 500-image study.

* Federated search: pacslink asks 5 AEs at once (2 Orthanc, 2 dcmqrscp, 1 pynetdicom
  SCP) and is compared with the sum of the same 5 searches run one after another.
* C-MOVE: the same 500-image study from the same Orthanc into ``pacslink retrieve``
  (durable: fsync + index before each C-STORE-RSP) and into DCMTK ``movescu --port``.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

from benchmarks.common import DCMTK_ENV, fresh, make_ct_series, median
from pacslink.api import Pacslink, Query, QueryLevel, RetrieveTarget
from pacslink.models import RemoteAE, RetrieveMethod
from tests.peers import free_port
from tests.qr_peers import dcmqrscp_server, load, orthanc_server, rogue_qr_scp, set_modality, storescu


def _app(home: Path, port: int, aes: dict[str, tuple[str, int]]) -> Pacslink:
    app = Pacslink.from_home(home, flags={"port": port, "min_free_mb": 1}, environ={})
    for name, (aet, p) in aes.items():
        app.registry.add(RemoteAE(name, aet, "127.0.0.1", p))
    return app


def federated(root: Path, repetitions: int = 5) -> dict[str, float]:
    files = make_ct_series(root / "small", 20, size=64)
    datasets = [pydicom.dcmread(p) for p in files]
    with contextlib.ExitStack() as stack:
        aes: dict[str, tuple[str, int]] = {}
        for i in range(2):
            o = stack.enter_context(orthanc_server(root / f"o{i}", aet=f"ORTHANC{i}"))
            storescu(o.aet, o.dicom_port, files)
            aes[o.aet] = (o.aet, o.dicom_port)
            d = stack.enter_context(dcmqrscp_server(root / f"d{i}", aet=f"DCMQR{i}"))
            load(d, files)
            aes[d.aet] = (d.aet, d.port)
        r = stack.enter_context(rogue_qr_scp("normal", datasets, aet="PYNETDICOM"))
        aes["PYNETDICOM"] = (r.aet, r.port)
        app = _app(root / "fed", free_port(), aes)
        query = Query(QueryLevel.STUDY, patient_id="BENCH001")
        walls, sums, ratios = [], [], []
        for _ in range(repetitions):
            t = time.perf_counter()
            result = asyncio.run(app.find(query))
            wall = time.perf_counter() - t
            assert all(x.ok for x in result.per_ae), [x.error for x in result.per_ae]
            singles = []
            for name in aes:
                t = time.perf_counter()
                asyncio.run(app.find(query, aes=[name]))
                singles.append(time.perf_counter() - t)
            walls.append(wall)
            sums.append(sum(singles))
            ratios.append(wall / sum(singles))
    return {"federated_s": median(walls), "sum_of_singles_s": median(sums), "ratio": median(ratios)}


def move(root: Path, count: int = 500, repetitions: int = 3) -> dict[str, float]:
    files = make_ct_series(root / "study", count)
    study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    ours, theirs, ratios = [], [], []
    with orthanc_server(root / "orthanc", aet="ORTHANC") as orthanc:
        storescu(orthanc.aet, orthanc.dicom_port, files, timeout=600)
        for _ in range(repetitions):
            port = free_port()
            set_modality(orthanc, "PACSLINK", "PACSLINK", port)
            app = _app(fresh(root / "home"), port, {"ORTHANC": (orthanc.aet, orthanc.dicom_port)})
            t = time.perf_counter()
            report = asyncio.run(app.retrieve("ORTHANC", RetrieveTarget(study_uid),
                                              method=RetrieveMethod.MOVE))
            t_ours = time.perf_counter() - t
            assert report.complete and len(report.present) == count, report
            app.close()
            mport = free_port()
            set_modality(orthanc, "MOVESCU", "MOVESCU", mport)
            out = fresh(root / "movescu")
            t = time.perf_counter()
            subprocess.run(["movescu", "-aet", "MOVESCU", "-aec", orthanc.aet, "-aem", "MOVESCU",
                            "--port", str(mport), "-S", "-od", str(out),
                            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                            "127.0.0.1", str(orthanc.dicom_port)],
                           check=True, env=DCMTK_ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=600)
            t_theirs = time.perf_counter() - t
            assert len(list(out.iterdir())) == count
            ours.append(count / t_ours)
            theirs.append(count / t_theirs)
            ratios.append(t_theirs / t_ours)
    return {"pacslink_images_per_s": median(ours), "movescu_images_per_s": median(theirs),
            "ratio": median(ratios), "count": count}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pacslink-bench-qr-") as tmp:
        root = Path(tmp)
        fed = federated(root / "fed")
        mv = move(root / "move")
    print("| scenario | pacslink | reference | ratio |")
    print("|---|---|---|---|")
    print(f"| federated C-FIND over 5 AEs (wall) | {fed['federated_s'] * 1000:.0f} ms | "
          f"sum of 5 single searches {fed['sum_of_singles_s'] * 1000:.0f} ms | "
          f"{fed['ratio']:.2f} of the sum |")
    print(f"| C-MOVE {mv['count']}-image study from Orthanc | {mv['pacslink_images_per_s']:.0f} img/s | "
          f"movescu --port {mv['movescu_images_per_s']:.0f} img/s | {mv['ratio']:.2f}x |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
