/* Search page: federated C-FIND streamed as NDJSON from /api/search/stream. */
"use strict";

(() => {
  const { el, api, ndjson, date, name, plural } = pl;
  const form = document.getElementById("search-form");
  const formError = document.getElementById("form-error");
  const statusBox = document.getElementById("ae-status");
  const results = document.getElementById("results");
  const tbody = document.querySelector("#results-table tbody");
  const summary = document.getElementById("summary");
  let controller = null;
  let rows = new Map();

  const isoToDicom = (v) => (v || "").replaceAll("-", "");
  const dicomToIso = (v) => (/^\d{8}$/.test(v) ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}` : "");

  function formParams() {
    const params = new URLSearchParams();
    const pid = form.patient_id.value.trim();
    const pname = form.patient_name.value.trim();
    if (pid) params.set("patient_id", pid);
    if (pname) params.set("patient_name", pname);
    const from = isoToDicom(form.date_from.value);
    const to = isoToDicom(form.date_to.value);
    if (from || to) params.set("date", from === to ? from : `${from}-${to}`);
    if (form.modality.value) params.set("modality", form.modality.value);
    const boxes = [...form.querySelectorAll("input[name=ae]")];
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length !== boxes.length) chosen.forEach((a) => params.append("ae", a));
    return { params, chosen, boxes };
  }

  function restore() {
    const q = new URLSearchParams(location.search);
    if (!q.has("patient_id") && !q.has("patient_name")) return false;
    form.patient_id.value = q.get("patient_id") || "";
    form.patient_name.value = q.get("patient_name") || "";
    const range = q.get("date") || "";
    const [from, to] = range.includes("-") ? range.split("-") : [range, range];
    form.date_from.value = dicomToIso(from);
    form.date_to.value = dicomToIso(to);
    form.modality.value = q.get("modality") || "";
    const aes = q.getAll("ae");
    if (aes.length) form.querySelectorAll("input[name=ae]").forEach((b) => { b.checked = aes.includes(b.value); });
    return true;
  }

  function fail(message) {
    formError.textContent = message;
    formError.classList.remove("hidden");
  }

  function chip(aeName, state, text) {
    let node = statusBox.querySelector(`[data-ae="${CSS.escape(aeName)}"]`);
    const cls = { pending: "badge pending", ok: "badge ok", truncated: "badge warn", failed: "badge fail", timeout: "badge fail" }[state] || "badge";
    const content = state === "pending" ? [el("span", { class: "spinner", "aria-hidden": "true" }), `${aeName}: searching…`] : [text];
    const fresh = el("span", { class: cls, dataset: { ae: aeName, state }, role: state === "failed" || state === "timeout" ? "status" : null }, ...content);
    if (node) node.replaceWith(fresh); else statusBox.append(fresh);
  }

  function aeText(item) {
    if (item.state === "ok") return `${item.ae}: ${plural(item.matches, "study", "studies")} in ${item.seconds.toFixed(2)} s`;
    if (item.state === "truncated") return `${item.ae}: stopped at ${item.matches} studies (too many); narrow the search with a date or modality`;
    if (item.state === "timeout") return `${item.ae}: no answer — ${item.error}`;
    return `${item.ae}: failed — ${item.error}`;
  }

  function merge(aeName, study) {
    const uid = study.StudyInstanceUID;
    if (!uid) return;
    let row = rows.get(uid);
    if (!row) {
      row = { study: { ...study }, aes: [] };
      rows.set(uid, row);
    } else {
      for (const [k, v] of Object.entries(study)) if (v && !row.study[k]) row.study[k] = v;
      row.study.local = row.study.local || study.local;
    }
    if (!row.aes.includes(aeName)) row.aes.push(aeName);
    render(uid, row);
  }

  function render(uid, row) {
    const s = row.study;
    const href = `/study/${encodeURIComponent(row.aes[0])}/${encodeURIComponent(uid)}`;
    const held = el("div", { class: "badges" },
      row.aes.map((a) => el("span", { class: "badge ok", title: `${a} holds this study` }, a)),
      s.local ? el("span", { class: "badge local", title: "Already in the local store" }, "On this computer") : null);
    const tr = el("tr", { class: "link", dataset: { uid, href, date: s.StudyDate || "" } },
      el("td", { class: "nowrap" }, date(s.StudyDate) || "—"),
      el("td", {}, el("div", {}, name(s.PatientName) || "—"), el("div", { class: "muted small" }, s.PatientID || "")),
      el("td", {}, el("a", { href, class: "study-link" }, s.StudyDescription || "(no description)")),
      el("td", {}, (s.ModalitiesInStudy || "").split("\\").filter(Boolean).join(", ") || "—"),
      el("td", { class: "num" }, s.NumberOfStudyRelatedInstances || "—"),
      el("td", {}, held));
    tr.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      location.href = href;
    });
    if (row.tr) row.tr.replaceWith(tr);
    else {
      const later = [...tbody.children].find((other) => (other.dataset.date || "") < (s.StudyDate || ""));
      tbody.insertBefore(tr, later || null);
    }
    row.tr = tr;
    results.classList.remove("hidden");
  }

  async function search() {
    formError.classList.add("hidden");
    const { params, chosen, boxes } = formParams();
    if (!params.get("patient_id") && !params.get("patient_name")) {
      fail("Type a Patient ID (or a patient's name) to search for.");
      form.patient_id.focus();
      return;
    }
    if (boxes.length && !chosen.length) {
      fail("Tick at least one PACS to search on.");
      return;
    }
    history.replaceState(null, "", `/?${params}`);
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    rows = new Map();
    tbody.replaceChildren();
    results.classList.add("hidden");
    statusBox.replaceChildren();
    summary.textContent = "";
    (chosen.length ? chosen : boxes.map((b) => b.value)).forEach((a) => chip(a, "pending"));
    const button = document.getElementById("search-button");
    button.disabled = true;
    try {
      let response;
      try {
        response = await fetch(`/api/search/stream?${params}`, { signal: mine.signal, headers: { Accept: "application/x-ndjson" } });
      } catch (err) {
        if (err.name === "AbortError") return;
        throw new pl.ApiError("pacslink is not answering. Is it still running on this computer?", 0);
      }
      if (!response.ok) throw await pl.readError(response);
      await ndjson(response, (item) => {
        if (mine.signal.aborted) return;
        if (item.type === "match") merge(item.ae, item.study);
        else if (item.type === "ae") chip(item.ae, item.state, aeText(item));
        else if (item.type === "done") {
          summary.textContent = item.studies
            ? `${plural(item.studies, "study", "studies")} found in ${item.seconds.toFixed(2)} s. Click a study to see its series and retrieve it.`
            : `No studies found (${item.seconds.toFixed(2)} s). Check the Patient ID, or widen the dates.`;
        } else if (item.type === "error") fail(item.detail);
      });
    } catch (err) {
      if (err.name === "AbortError") return;
      statusBox.replaceChildren();
      fail(err.message);
    } finally {
      if (controller === mine) button.disabled = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  if (restore()) search();
})();
