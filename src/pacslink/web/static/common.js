/* pacslink: helpers shared by every page (plain JavaScript, no build step). */
"use strict";

const pl = (() => {
  /** Build an element: el("td", {class: "num"}, "12", child, ...). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** An error whose message is meant for people. */
  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  async function readError(response) {
    let detail = "";
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) {
      detail = response.statusText || "";
    }
    return new ApiError(detail || `pacslink answered ${response.status}`, response.status);
  }

  /** fetch() a JSON API; throws ApiError with the server's {"detail"} message. */
  async function api(path, options = {}) {
    const init = { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } };
    if (options.json !== undefined) {
      init.body = JSON.stringify(options.json);
      init.headers["Content-Type"] = "application/json";
      delete init.json;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError("pacslink is not answering. Is it still running on this computer?", 0);
    }
    if (!response.ok) throw await readError(response);
    if (response.status === 204) return null;
    return response.json();
  }

  /** Read an NDJSON response line by line, calling onItem(object) for each. */
  async function ndjson(response, onItem) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) onItem(JSON.parse(line));
      }
    }
    if (buffer.trim()) onItem(JSON.parse(buffer));
  }

  /** "20250614" -> "2025-06-14"; anything else as it is. */
  function date(value) {
    const s = String(value || "");
    return /^\d{8}$/.test(s) ? `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}` : s;
  }

  /** DICOM Person Name "Family^Given=Ideographic" -> "Family, Given (Ideographic)". */
  function name(value) {
    const s = String(value || "");
    if (!s) return "";
    const groups = s.split("=");
    const fmt = (g, sep) => {
      const [family = "", given = "", middle = "", prefix = "", suffix = ""] = g.split("^");
      const first = [prefix, given, middle].filter(Boolean).join(" ");
      const full = [family, first].filter(Boolean).join(sep);
      return suffix ? `${full} ${suffix}` : full;
    };
    const main = fmt(groups[0], ", ");
    const other = groups.slice(1).map((g) => fmt(g, " ")).filter(Boolean);
    if (!main) return other.join(" / ");
    return other.length ? `${main} (${other[0]})` : main;
  }

  /** Show an error panel in a container (replacing its content). */
  function showError(container, message, title) {
    container.replaceChildren(el("div", { class: "alert error", role: "alert" },
      el("strong", { text: title || "Something went wrong" }), message));
    container.classList.remove("hidden");
  }

  function clear(node) { node.replaceChildren(); }

  /** Ask a yes/no question in a <dialog>; resolves true when confirmed. */
  function confirmDialog({ title, body, confirm = "OK", danger = false }) {
    return new Promise((resolve) => {
      const yes = el("button", { class: danger ? "btn danger solid" : "btn primary", type: "button", value: "yes", text: confirm });
      const no = el("button", { class: "btn", type: "button", value: "no", text: "Cancel" });
      const dialog = el("dialog", { "aria-labelledby": "dialog-title" },
        el("h2", { id: "dialog-title", text: title }),
        el("p", {}, body),
        el("div", { class: "form-actions" }, no, yes));
      document.body.append(dialog);
      let answered = false;
      const finish = (value) => {
        if (answered) return;
        answered = true;
        dialog.close();
        dialog.remove();
        resolve(value);
      };
      yes.addEventListener("click", () => finish(true));
      no.addEventListener("click", () => finish(false));
      dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(false); });
      dialog.showModal();
      no.focus();
    });
  }

  function plural(n, word, many) {
    return `${n} ${n === 1 ? word : (many || word + "s")}`;
  }

  return { el, api, ApiError, ndjson, date, name, showError, clear, confirmDialog, plural, readError };
})();
