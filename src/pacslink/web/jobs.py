"""Retrieves started from the browser: asyncio tasks in a small registry.

``POST /api/retrieves`` starts a :class:`RetrieveJob`; its counters are updated by the
retrieve's progress callback (the peer's C-MOVE/C-GET counters and our own arrivals)
and read by ``GET /api/retrieves/{id}`` or followed live with Server-Sent Events
(``/api/retrieves/{id}/events``). Each job runs in :meth:`pacslink.api.Pacslink.receiving`,
so the Storage SCP of the same process receives the C-MOVE sub-operations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pacslink.api import Pacslink, RetrieveProgress, RetrieveReport, RetrieveTarget
from pacslink.errors import PacslinkError
from pacslink.models import RemoteAE, RetrieveMethod

log = logging.getLogger(__name__)

#: States of a job; the last three are final.
STATES = ("queued", "running", "complete", "incomplete", "failed")
FINAL = frozenset({"complete", "incomplete", "failed"})
#: Missing and failed instances listed in a job's JSON (the counts are always exact).
LISTED = 200


class JobConflict(PacslinkError):
    """The request conflicts with a retrieve's state (still running, nothing missing)."""


@dataclass
class RetrieveJob:
    """One retrieve started from the web UI, with live counters."""

    id: str
    ae: RemoteAE
    target: RetrieveTarget
    method: RetrieveMethod | None = None
    retries: int = 0
    retry_of: str | None = None
    state: str = "queued"
    progress: RetrieveProgress | None = None
    report: RetrieveReport | None = None
    error: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    version: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.state in FINAL

    def touch(self) -> None:
        """Record a change and wake whoever waits for one."""
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def on_progress(self, progress: RetrieveProgress) -> None:
        """The retrieve's progress callback (never raises: an observer never breaks it)."""
        self.progress = dataclasses.replace(progress)
        self.touch()

    async def wait_change(self, seen: int, timeout: float) -> bool:
        """Wait until ``version`` differs from ``seen``; ``False`` on timeout."""
        if self.version != seen:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return self.version != seen
        return True

    def counts(self) -> dict[str, int | None]:
        """expected / arrived / completed / failed / warning / remaining / missing."""
        p, r = self.progress, self.report
        expected = len(r.expected) if r is not None and r.expected_known else (
            p.expected if p is not None else None)
        if r is not None:
            arrived = len(r.present) if r.expected_known else len(r.arrived)
            return {"expected": expected, "arrived": arrived, "completed": r.completed,
                    "failed": r.failed_count, "warning": r.warning, "remaining": 0,
                    "missing": len(r.missing) if r.expected_known else None,
                    "not_stored": len(r.failed)}
        return {"expected": expected, "arrived": p.arrived if p else 0,
                "completed": p.completed if p else None, "failed": p.failed if p else None,
                "warning": p.warning if p else None, "remaining": p.remaining if p else None,
                "missing": None, "not_stored": 0}

    def as_json(self) -> dict[str, Any]:
        r = self.report
        end = self.finished or time.time()
        return {
            "id": self.id, "state": self.state, "done": self.done, "ae": self.ae.name,
            "study_instance_uid": self.target.study_instance_uid,
            "series_instance_uid": self.target.series_instance_uid,
            "level": self.target.level.value,
            "method": (r.method if r is not None and r.method else
                       self.progress.method if self.progress else None),
            "counts": self.counts(),
            "missing": sorted(r.missing)[:LISTED] if r is not None and r.expected_known else [],
            "not_stored": dict(list(r.failed.items())[:LISTED]) if r is not None else {},
            "error": self.error or (r.error if r is not None else "") or None,
            "notes": list(r.notes) if r is not None else [],
            "retry_of": self.retry_of,
            "created": self.created, "started": self.started, "finished": self.finished,
            "seconds": round(end - self.started, 3) if self.started else None,
            "version": self.version,
        }


class JobRegistry:
    """The retrieves of this web process; the last ``keep`` finished ones are kept.

    Parameters
    ----------
    pacslink : Pacslink
        The facade whose :meth:`~pacslink.api.Pacslink.receiving` runs the retrieves.
    keep : int
        Finished jobs remembered (for the study page after a reload).
    """

    def __init__(self, pacslink: Pacslink, keep: int = 50) -> None:
        self.pacslink = pacslink
        self.keep = keep
        self._jobs: OrderedDict[str, RetrieveJob] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(
        self, ae: RemoteAE, target: RetrieveTarget, *, method: RetrieveMethod | None = None,
        retries: int = 0, retry_of: str | None = None,
    ) -> RetrieveJob:
        """Start a retrieve as an asyncio task and return its job at once."""
        job = RetrieveJob(uuid.uuid4().hex[:16], ae, target, method, retries, retry_of)
        self._jobs[job.id] = job
        self._forget_old()
        self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"retrieve-{job.id}")
        return job

    def retry_missing(self, job: RetrieveJob) -> RetrieveJob:
        """Start a new job for the instances ``job`` expected and did not get.

        Raises
        ------
        JobConflict
            The job is still running, or nothing is missing.
        """
        if not job.done:
            raise JobConflict("this retrieve is still running; wait for it to finish")
        report = job.report
        if report is None or not report.expected_known:
            target = job.target  # nothing is known about what is missing: ask again
        elif not report.missing:
            raise JobConflict("nothing is missing: every expected image is on this computer")
        else:
            target = dataclasses.replace(job.target, series_instance_uid=None,
                                         sop_instance_uids=tuple(sorted(report.missing)))
        try:  # the AE's entry may have been corrected since (port, AE title)
            ae = self.pacslink.resolve(job.ae.name)
        except PacslinkError:
            ae = job.ae
        return self.start(ae, target, method=job.method, retries=job.retries, retry_of=job.id)

    def get(self, job_id: str) -> RetrieveJob | None:
        return self._jobs.get(job_id)

    def all(self) -> list[RetrieveJob]:
        """Newest first."""
        return list(reversed(self._jobs.values()))

    def running_for(self, study_instance_uid: str) -> list[RetrieveJob]:
        """Jobs of this study that are not finished."""
        return [j for j in self._jobs.values()
                if not j.done and j.target.study_instance_uid == study_instance_uid]

    async def close(self) -> None:
        """Cancel running retrieves (at shutdown)."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.done]
        for job_id in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[job_id]
            self._tasks.pop(job_id, None)

    async def _run(self, job: RetrieveJob) -> None:
        job.state, job.started = "running", time.time()
        job.touch()
        try:
            async with self.pacslink.receiving() as retriever:
                report = await retriever.retrieve(job.ae, job.target, method=job.method,
                                                  retries=job.retries, progress=job.on_progress)
        except asyncio.CancelledError:
            job.state, job.error = "failed", "cancelled: pacslink was stopped"
            raise
        except PacslinkError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception:  # an unexpected bug: logged with its traceback, shown in words
            log.exception("retrieve %s failed unexpectedly", job.id)
            job.state, job.error = "failed", "internal error in pacslink (see the server log)"
        else:
            job.report = report
            job.state = report.verdict
        finally:
            job.finished = time.time()
            job.touch()
            self._tasks.pop(job.id, None)


__all__ = ["FINAL", "STATES", "JobConflict", "JobRegistry", "RetrieveJob"]
