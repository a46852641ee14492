/* Study page: series (remote C-FIND + local), retrieve with live progress (SSE). */
"use strict";

(() => {
  const { el, api, date, name, plural, showError } = pl;
  const root = document.getElementById("study");
  const aeName = root.dataset.ae || null;
  const studyUid = root.dataset.study;
  const tbody = document.querySelector("#series-table tbody");
  const errorBox = document.getElementById("study-error");
  const retrieveStudy = document.getElementById("retrieve-study");
  const panel = document.getElementById("progress-panel");
  const bar = document.getElementById("progress-bar");
  const counts = document.getElementById("progress-counts");
  const message = document.getElementById("progress-message");
  const retryButton = document.getElementById("retry-missing");
  let series = [];
  let patientId = null;
  let currentJob = null;
  let source = null;
  let refreshTimer = null;

  if (document.referrer && new URL(document.referrer).origin === location.origin) {
    // keep "Back" as history.back(); otherwise go to search
  } else {
    document.getElementById("back-link").href = "/";
  }

  function header(study) {
    const title = [name(study.PatientName), study.StudyDescription].filter(Boolean).join(" — ");
    document.getElementById("study-title").textContent = title || "Study";
    document.title = `${title || "Study"} · pacslink`;
    const fact = (label, value) => (value ? el("span", {}, el("b", {}, label), value) : null);
    document.getElementById("study-facts").replaceChildren(...[
      fact("Patient ID", study.PatientID),
      fact("Date", date(study.StudyDate)),
      fact("Modalities", (study.ModalitiesInStudy || "").split("\\").filter(Boolean).join(", ")),
      fact("Accession", study.AccessionNumber),
      fact("Images", study.NumberOfStudyRelatedInstances),
      aeName ? fact("Source", aeName) : fact("Source", "this computer"),
    ].filter(Boolean));
  }

  function thumbCell(s) {
    if (s.local_count > 0 && s.thumbnail_sop_instance_uid) {
      const img = el("img", { src: `/api/instances/${encodeURIComponent(s.thumbnail_sop_instance_uid)}/thumbnail.png?size=144`, alt: `${s.modality || ""} series ${s.series_number ?? ""}`, loading: "lazy" });
      img.addEventListener("error", () => img.replaceWith(el("span", {}, "no preview")));
      return el("div", { class: "thumb" }, img);
    }
    if (s.local_count > 0) return el("div", { class: "thumb none" }, "no image");
    return el("div", { class: "thumb none", title: "Not on this computer yet" }, "—");
  }

  function row(s) {
    const view = el("a", {
      class: "btn small", href: `/viewer/${encodeURIComponent(s.series_instance_uid)}`,
      "aria-disabled": s.local_count > 0 ? null : "true", tabindex: s.local_count > 0 ? null : "-1",
      title: s.local_count > 0 ? "Open in the viewer" : "Retrieve the series first",
      dataset: { action: "view" },
    }, "View");
    const actions = [];
    if (aeName && s.on_remote !== false) {
      actions.push(el("button", {
        class: "btn small", type: "button", dataset: { action: "retrieve-series" },
        onclick: () => startRetrieve(s.series_instance_uid),
      }, "Retrieve series"));
    }
    actions.push(view);
    const remote = s.remote_count ?? null;
    const local = s.local_count || 0;
    const complete = remote !== null && local >= remote && remote > 0;
    return el("tr", { dataset: { series: s.series_instance_uid } },
      el("td", {}, thumbCell(s)),
      el("td", { class: "num" }, s.series_number ?? "—"),
      el("td", {}, s.modality || "—"),
      el("td", {}, s.series_description || "(no description)"),
      aeName ? el("td", { class: "num" }, s.on_remote === false ? "not on PACS" : (remote ?? "?")) : null,
      el("td", { class: "num" }, local ? (complete ? el("span", { class: "badge ok" }, `${local} ✓`) : String(local)) : "—"),
      el("td", { class: "actions" }, actions));
  }

  function renderSeries() {
    if (!series.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" },
        aeName ? `${aeName} lists no series for this study.` : "No series of this study are on this computer.")));
      return;
    }
    tbody.replaceChildren(...series.map(row));
  }

  async function load() {
    try {
      if (aeName) {
        const data = await api(`/api/studies/${encodeURIComponent(aeName)}/${encodeURIComponent(studyUid)}`);
        header(data.study);
        patientId = data.study.PatientID || null;
        series = data.series;
        if (data.error) {
          showError(errorBox, `${data.error}. ${data.local ? "The series already on this computer are listed below." : ""}`,
            `${aeName} could not list this study's series`);
        } else if (!data.found) {
          showError(errorBox, `${aeName} does not hold this study (any more).`, "Study not found on the PACS");
        }
        retrieveStudy.disabled = !(data.found && !data.error);
        renderSeries();
        if (data.jobs && data.jobs.length) follow(data.jobs[0]);
      } else {
        const data = await api(`/api/local/studies/${encodeURIComponent(studyUid)}`);
        const st = data.study;
        header({ PatientName: st.patient_name, PatientID: st.patient_id, StudyDate: st.study_date,
          StudyDescription: st.study_description, ModalitiesInStudy: st.modalities.join("\\"),
          AccessionNumber: st.accession_number, NumberOfStudyRelatedInstances: String(st.instance_count) });
        series = data.series;
        renderSeries();
        if (data.jobs && data.jobs.length) follow(data.jobs[0]);
      }
    } catch (err) {
      document.getElementById("study-facts").replaceChildren();
      showError(errorBox, err.message, "The study cannot be shown");
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No series to show.")));
    }
  }

  /** Update the local counts and thumbnails from the local store (during a retrieve). */
  async function refreshLocal() {
    let data;
    try {
      data = await api(`/api/local/studies/${encodeURIComponent(studyUid)}`);
    } catch (err) {
      if (err.status === 404) return;
      throw err;
    }
    const here = new Map(data.series.map((s) => [s.series_instance_uid, s]));
    let changed = false;
    for (const s of series) {
      const local = here.get(s.series_instance_uid);
      const count = local ? local.local_count : 0;
      if (count !== s.local_count) {
        s.local_count = count;
        s.thumbnail_sop_instance_uid = local ? local.thumbnail_sop_instance_uid : null;
        changed = true;
      }
      here.delete(s.series_instance_uid);
    }
    for (const extra of here.values()) { series.push({ ...extra, remote_count: null, on_remote: false }); changed = true; }
    if (changed) renderSeries();
  }

  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      try { await refreshLocal(); } catch (_) { /* the next event refreshes again */ }
    }, 200);
  }

  function showJob(job) {
    panel.classList.remove("hidden");
    const c = job.counts;
    const expected = c.expected;
    const arrived = c.arrived || 0;
    const pct = expected ? Math.min(100, Math.round((100 * arrived) / expected)) : (job.done ? 100 : 0);
    bar.classList.toggle("indeterminate", !job.done && !expected);
    bar.classList.toggle("done", job.state === "complete");
    bar.classList.toggle("bad", job.state === "incomplete" || job.state === "failed");
    bar.firstElementChild.style.width = `${pct}%`;
    bar.setAttribute("aria-valuenow", String(pct));
    const method = { move: "C-MOVE", get: "C-GET" }[job.method] || "";
    const what = job.level === "SERIES" ? "series" : job.level === "IMAGE" ? "missing images" : "study";
    document.getElementById("progress-title").textContent =
      `Retrieve ${what} from ${job.ae}${method ? ` by ${method}` : ""}`;
    const item = (label, value, cls) => el("span", { class: cls || null, dataset: { count: label } }, `${label} `, el("b", {}, value ?? "—"));
    counts.replaceChildren(...[
      item("received", expected ? `${arrived} of ${expected}` : String(arrived)),
      item("completed", c.completed), item("failed", c.failed),
      c.warning ? item("warnings", c.warning) : null,
      job.done && c.missing !== null ? item("missing", c.missing) : null].filter(Boolean));
    retryButton.classList.add("hidden");
    message.className = "";
    if (!job.done) {
      message.textContent = job.state === "queued" ? "Starting…" :
        expected ? "Images are arriving; you can open the viewer already." : "Asking the PACS what to send…";
      return;
    }
    const secs = job.seconds !== null ? ` in ${job.seconds.toFixed(1)} s` : "";
    if (job.state === "complete") {
      message.className = "alert ok";
      message.textContent = `Complete: ${plural(arrived, "image")} are on this computer${secs}.`;
    } else if (job.state === "incomplete") {
      message.className = "alert warn";
      const missing = c.missing ?? "some";
      message.replaceChildren(el("strong", {}, `Incomplete: ${missing} image${missing === 1 ? "" : "s"} did not arrive.`),
        job.error ? `${job.error}. ` : "", c.not_stored ? `${c.not_stored} could not be stored here. ` : "",
        "Try again with Retry missing, or ask the PACS administrator.");
      retryButton.classList.remove("hidden");
    } else {
      message.className = "alert error";
      message.replaceChildren(el("strong", {}, "The retrieve failed."), job.error || "No reason was given.");
      retryButton.classList.remove("hidden");
    }
    if (job.notes && job.notes.length) message.append(el("div", { class: "small muted" }, job.notes.join("; ")));
  }

  function follow(job) {
    currentJob = job;
    showJob(job);
    if (source) source.close();
    if (job.done) return;
    retrieveStudy && (retrieveStudy.disabled = true);
    const es = new EventSource(`/api/retrieves/${encodeURIComponent(job.id)}/events`);
    source = es;
    const onJob = (event) => {
      const data = JSON.parse(event.data);
      if (currentJob && data.id !== currentJob.id) return;
      currentJob = data;
      showJob(data);
      scheduleRefresh();
      if (data.done) {
        es.close();
        retrieveStudy && (retrieveStudy.disabled = false);
        refreshLocal().catch(() => {});
      }
    };
    es.addEventListener("progress", onJob);
    es.addEventListener("done", onJob);
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED) poll(job.id);
    });
  }

  async function poll(jobId) {
    while (currentJob && currentJob.id === jobId && !currentJob.done) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        currentJob = await api(`/api/retrieves/${encodeURIComponent(jobId)}`);
        showJob(currentJob);
        await refreshLocal();
      } catch (err) {
        message.className = "alert error";
        message.textContent = err.message;
        return;
      }
    }
    retrieveStudy && (retrieveStudy.disabled = false);
  }

  async function startRetrieve(seriesUid) {
    try {
      const body = { ae: aeName, study_instance_uid: studyUid };
      if (seriesUid) body.series_instance_uid = seriesUid;
      if (patientId) body.patient_id = patientId;
      const job = await api("/api/retrieves", { method: "POST", json: body });
      follow(job);
    } catch (err) {
      panel.classList.remove("hidden");
      message.className = "alert error";
      message.textContent = err.message;
    }
  }

  if (retrieveStudy) retrieveStudy.addEventListener("click", () => startRetrieve(null));
  retryButton.addEventListener("click", async () => {
    if (!currentJob) return;
    try {
      follow(await api(`/api/retrieves/${encodeURIComponent(currentJob.id)}/retry`, { method: "POST" }));
    } catch (err) {
      message.className = "alert error";
      message.textContent = err.message;
    }
  });
  load();
})();
