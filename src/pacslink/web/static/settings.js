/* Settings page: remote AEs (add, edit, remove, C-ECHO test). */
"use strict";

(() => {
  const { el, api, confirmDialog } = pl;
  const tbody = document.querySelector("#ae-table tbody");
  const form = document.getElementById("ae-form");
  const formError = document.getElementById("form-error");
  const formTitle = document.getElementById("form-title");
  const saveButton = document.getElementById("save-button");
  const cancelEdit = document.getElementById("cancel-edit");
  const messageBox = document.getElementById("aes-message");
  let editing = null;

  function note(kind, text) {
    messageBox.replaceChildren(el("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" }, text));
    messageBox.classList.remove("hidden");
  }

  function render(aes) {
    if (!aes.length) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No remote AEs yet. Add your PACS with the form below.")));
      return;
    }
    tbody.replaceChildren(...aes.map((ae) => {
      const result = el("span", { class: "echo-result", "aria-live": "polite" });
      const test = el("button", { class: "btn small", type: "button", dataset: { action: "test" } }, "Test");
      test.addEventListener("click", () => echo(ae, test, result));
      return el("tr", { dataset: { ae: ae.name } },
        el("td", {}, el("strong", {}, ae.name)),
        el("td", { class: "mono" }, ae.ae_title),
        el("td", { class: "mono" }, ae.host),
        el("td", { class: "num" }, ae.port),
        el("td", { class: "hide-narrow" }, { auto: "automatic", move: "C-MOVE", get: "C-GET" }[ae.retrieve] || ae.retrieve),
        el("td", { class: "hide-narrow" }, ae.description || ""),
        el("td", {}, el("div", { style: "display:flex;gap:8px;align-items:center;flex-wrap:wrap" }, test, result)),
        el("td", { class: "actions" },
          el("button", { class: "btn small", type: "button", dataset: { action: "edit" }, onclick: () => startEdit(ae) }, "Edit"),
          el("button", { class: "btn small danger", type: "button", dataset: { action: "remove" }, onclick: () => remove(ae) }, "Remove")));
    }));
  }

  async function load() {
    try {
      render(await api("/api/aes"));
    } catch (err) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "The remote AEs cannot be listed.")));
      note("error", err.message);
    }
  }

  async function echo(ae, button, result) {
    button.disabled = true;
    result.replaceChildren(el("span", { class: "spinner", "aria-hidden": "true" }), " testing…");
    try {
      const r = await api(`/api/aes/${encodeURIComponent(ae.name)}/echo`, { method: "POST" });
      result.replaceChildren(r.ok
        ? el("span", { class: "badge ok", dataset: { ok: "true" } }, `OK · ${r.round_trip_ms.toFixed(1)} ms`)
        : el("span", { class: "badge fail", dataset: { ok: "false" } }, `Failed: ${r.error}`));
    } catch (err) {
      result.replaceChildren(el("span", { class: "badge fail", dataset: { ok: "false" } }, `Failed: ${err.message}`));
    } finally {
      button.disabled = false;
    }
  }

  function startEdit(ae) {
    editing = ae.name;
    form.name.value = ae.name;
    form.ae_title.value = ae.ae_title;
    form.host.value = ae.host;
    form.port.value = ae.port;
    form.retrieve.value = ae.retrieve;
    form.description.value = ae.description;
    formTitle.textContent = `Edit ${ae.name}`;
    saveButton.textContent = "Save changes";
    cancelEdit.classList.remove("hidden");
    formError.classList.add("hidden");
    form.scrollIntoView({ block: "nearest" });
    form.ae_title.focus();
  }

  function stopEdit() {
    editing = null;
    form.reset();
    formTitle.textContent = "Add a remote AE";
    saveButton.textContent = "Add AE";
    cancelEdit.classList.add("hidden");
    formError.classList.add("hidden");
  }

  async function remove(ae) {
    const ok = await confirmDialog({
      title: `Remove ${ae.name}?`,
      body: `pacslink will no longer search or retrieve from ${ae.name} (${ae.ae_title} at ${ae.host}:${ae.port}). Images already on this computer stay.`,
      confirm: "Remove", danger: true,
    });
    if (!ok) return;
    try {
      await api(`/api/aes/${encodeURIComponent(ae.name)}`, { method: "DELETE" });
      if (editing === ae.name) stopEdit();
      note("ok", `Removed ${ae.name}.`);
      load();
    } catch (err) {
      note("error", err.message);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.classList.add("hidden");
    const body = {
      name: form.name.value.trim(), ae_title: form.ae_title.value, host: form.host.value.trim(),
      port: form.port.value.trim(), retrieve: form.retrieve.value, description: form.description.value.trim(),
    };
    const missing = [["name", "Name"], ["ae_title", "AE title"], ["host", "Host"], ["port", "Port"]].filter(([k]) => !String(body[k]).trim());
    if (missing.length) {
      formError.textContent = `Please fill in: ${missing.map(([, label]) => label).join(", ")}.`;
      formError.classList.remove("hidden");
      form[missing[0][0]].focus();
      return;
    }
    try {
      if (editing) {
        const saved = await api(`/api/aes/${encodeURIComponent(editing)}`, { method: "PATCH", json: body });
        note("ok", `Saved ${saved.name} (${saved.address}).`);
      } else {
        const added = await api("/api/aes", { method: "POST", json: body });
        note("ok", `Added ${added.name} (${added.address}). Use Test to check that it answers.`);
      }
      stopEdit();
      load();
    } catch (err) {
      formError.textContent = err.message;
      formError.classList.remove("hidden");
    }
  });
  cancelEdit.addEventListener("click", stopEdit);
  load();
})();
