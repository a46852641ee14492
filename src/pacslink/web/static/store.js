/* Local store page: studies on this computer, filter, delete (with confirmation). */
"use strict";

(() => {
  const { el, api, date, name, plural, confirmDialog } = pl;
  const tbody = document.querySelector("#store-table tbody");
  const filter = document.getElementById("filter");
  const summary = document.getElementById("store-summary");
  const messageBox = document.getElementById("store-message");
  let studies = [];

  function note(kind, text) {
    messageBox.replaceChildren(el("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" }, text));
    messageBox.classList.remove("hidden");
  }

  function haystack(s) {
    return [s.patient_id, s.patient_name, name(s.patient_name), s.study_description, s.study_date, date(s.study_date),
      s.accession_number, s.modalities.join(" "), s.study_instance_uid].join(" ").toLowerCase();
  }

  function render() {
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = studies.filter((s) => words.every((w) => s.haystack.includes(w)));
    const patients = new Set(studies.map((s) => s.patient_id)).size;
    const images = studies.reduce((n, s) => n + s.instance_count, 0);
    summary.textContent = studies.length
      ? `${plural(patients, "patient")}, ${plural(studies.length, "study", "studies")}, ${plural(images, "image")} on this computer` +
        (words.length ? ` — ${shown.length} shown` : ".")
      : "Nothing is stored on this computer yet. Search a PACS and retrieve a study, or send images to pacslink.";
    if (!shown.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" },
        studies.length ? "No study matches the filter." : "The local store is empty.")));
      return;
    }
    let lastPatient = null;
    tbody.replaceChildren(...shown.map((s) => {
      const href = `/study/${encodeURIComponent(s.study_instance_uid)}`;
      const first = s.patient_id !== lastPatient;
      lastPatient = s.patient_id;
      const tr = el("tr", { class: "link", dataset: { uid: s.study_instance_uid } },
        el("td", {}, first ? [el("div", {}, name(s.patient_name) || "—"), el("div", { class: "muted small" }, s.patient_id)] : el("span", { class: "muted small" }, s.patient_id)),
        el("td", { class: "nowrap" }, date(s.study_date) || "—"),
        el("td", {}, el("a", { href }, s.study_description || "(no description)")),
        el("td", {}, s.modalities.join(", ") || "—"),
        el("td", { class: "num hide-narrow" }, s.series_count),
        el("td", { class: "num" }, s.instance_count),
        el("td", { class: "actions" },
          el("a", { class: "btn small", href }, "Open"),
          el("button", { class: "btn small danger", type: "button", dataset: { action: "delete" }, onclick: (e) => { e.stopPropagation(); remove(s); } }, "Delete")));
      tr.addEventListener("click", (event) => { if (!event.target.closest("a,button")) location.href = href; });
      return tr;
    }));
  }

  async function load() {
    try {
      const data = await api("/api/local/studies");
      studies = data.studies.map((s) => ({ ...s, haystack: haystack(s) }));
      studies.sort((a, b) => (a.patient_id.localeCompare(b.patient_id)) || (b.study_date || "").localeCompare(a.study_date || ""));
      render();
    } catch (err) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "The local store cannot be listed.")));
      note("error", err.message);
    }
  }

  async function remove(s) {
    const who = [name(s.patient_name), s.patient_id].filter(Boolean).join(", ");
    const ok = await confirmDialog({
      title: "Delete this study from this computer?",
      body: `${s.study_description || "Study"} of ${who} (${date(s.study_date) || "no date"}): ${plural(s.instance_count, "image")} will be deleted from this computer. Copies on the PACS are not touched. This cannot be undone.`,
      confirm: "Delete", danger: true,
    });
    if (!ok) return;
    try {
      const result = await api(`/api/local/studies/${encodeURIComponent(s.study_instance_uid)}`, { method: "DELETE" });
      studies = studies.filter((x) => x.study_instance_uid !== s.study_instance_uid);
      render();
      note("ok", `Deleted ${s.study_description || "the study"} of ${who}: ${plural(result.deleted_instances, "image")} removed.`);
    } catch (err) {
      note("error", err.message);
    }
  }

  filter.addEventListener("input", render);
  const q = new URLSearchParams(location.search).get("q");
  if (q) filter.value = q;
  load();
})();
