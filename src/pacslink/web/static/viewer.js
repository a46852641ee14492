/* Viewer: a series' images as they arrive; window/level applied here, on the canvas.
 *
 * Grey frames are fetched once as modality values (Int16/Int32/Float32, little endian)
 * and mapped through the window (PS3.3 C.11.2.1.2 linear function) into ImageData on
 * every drag step; colour frames are fetched once as PNG. Objects without pixels show
 * their attributes as a table.
 */
"use strict";

(() => {
  const { el, api, date, name } = pl;
  const stage = document.getElementById("stage");
  const canvas = document.getElementById("view");
  const ctx = canvas.getContext("2d");
  const message = document.getElementById("message");
  const attrsBox = document.getElementById("attrs");
  const slider = document.getElementById("slice-slider");
  const sliceLabel = document.getElementById("slice-label");
  const statusBox = document.getElementById("status");
  const presetSelect = document.getElementById("preset-select");
  const seriesSelect = document.getElementById("series-select");
  const invertButton = document.getElementById("invert-button");
  const playButton = document.getElementById("play-button");
  const overlays = { tl: "ov-tl", tr: "ov-tr", bl: "ov-bl", br: "ov-br" };
  for (const k of Object.keys(overlays)) overlays[k] = document.getElementById(overlays[k]);

  const seriesUid = stage.dataset.series;
  const TYPES = { int16: Int16Array, int32: Int32Array, float32: Float32Array };

  const state = {
    study: null, series: null, instances: [], stack: [], index: 0,
    receiving: false, info: new Map(), frames: new Map(), loading: new Map(), attrs: new Map(),
    seriesKind: null, display: null, center: null, width: null, defaults: null,
    userInvert: false, zoom: 1, panX: 0, panY: 0, playing: false, renders: 0,
    shownKey: null, current: null, presets: [], error: null,
  };
  const offscreen = document.createElement("canvas");
  const offctx = offscreen.getContext("2d");
  let imageData = null;
  window.pacslinkViewer = state; // for people debugging, and the browser tests

  const key = (entry) => `${entry.sop}:${entry.frame}`;

  // --- the series and its stack of (instance, frame) -------------------------------------

  function buildStack(instances) {
    const stack = [];
    for (const inst of instances) {
      const frames = inst.image ? Math.max(1, inst.frames || 1) : 1;
      for (let f = 0; f < frames; f++) stack.push({ sop: inst.sop_instance_uid, frame: f, inst, frames });
    }
    return stack;
  }

  async function loadSeries() {
    const data = await api(`/api/series/${encodeURIComponent(seriesUid)}`);
    state.study = data.study;
    state.series = data.series;
    state.receiving = data.receiving;
    const before = state.stack[state.index];
    state.instances = data.series.instances;
    state.stack = buildStack(state.instances);
    if (before) {
      const again = state.stack.findIndex((e) => e.sop === before.sop && e.frame === before.frame);
      state.index = again >= 0 ? again : Math.min(state.index, state.stack.length - 1);
    }
    slider.max = String(Math.max(0, state.stack.length - 1));
    slider.value = String(state.index);
    fillSeriesSelect(data.other_series);
    playButton.classList.toggle("hidden", state.stack.length < 2);
    updateStatus();
    return data;
  }

  function fillSeriesSelect(all) {
    if (seriesSelect.options.length === all.length) return;
    seriesSelect.replaceChildren(...all.map((s) => el("option", { value: s.series_instance_uid, selected: s.series_instance_uid === seriesUid },
      `${s.series_number ?? "?"} · ${s.modality || ""} ${s.series_description || ""} (${s.local_count})`)));
  }

  let pollTimer = null;
  let missingPolls = 0;
  async function poll() {
    pollTimer = null;
    const wasEmpty = state.stack.length === 0;
    const wasReceiving = state.receiving;
    let data;
    try {
      data = await loadSeries();
    } catch (err) {
      if (err.status !== 404) statusBox.textContent = err.message;
      else if (++missingPolls > 120) { say("No image of this series has arrived. Retrieve it from the study page.", false); return; }
      pollTimer = setTimeout(poll, 1000);
      return;
    }
    if (wasEmpty && state.stack.length) show(state.index);
    else updateOverlay();
    prefetch();
    // keep polling while a retrieve runs, and once more after it has ended
    if (data.receiving || wasReceiving) pollTimer = setTimeout(poll, 700);
  }

  function updateStatus() {
    const n = state.stack.length;
    const parts = [];
    if (n) parts.push(`${state.index + 1} / ${n}`);
    if (state.receiving) parts.push(`receiving… ${state.instances.length} here`);
    statusBox.replaceChildren(state.receiving ? el("span", { class: "spinner", "aria-hidden": "true" }) : "", parts.join(" · "));
    sliceLabel.textContent = n ? `Image ${state.index + 1} of ${n}` : "Image";
  }

  // --- fetching -------------------------------------------------------------------------------

  async function getInfo(sop) {
    if (state.info.has(sop)) return state.info.get(sop);
    const info = await api(`/api/instances/${encodeURIComponent(sop)}`);
    state.info.set(sop, info);
    return info;
  }

  function kindOf(entry) {
    const info = state.info.get(entry.sop);
    if (info) return info.display.kind;
    if (!entry.inst.image) return "none";
    return state.seriesKind;
  }

  function fetchFrame(entry, kind) {
    const k = key(entry);
    if (state.frames.has(k)) return Promise.resolve(state.frames.get(k));
    if (state.loading.has(k)) return state.loading.get(k);
    const base = `/api/instances/${encodeURIComponent(entry.sop)}/frames/${entry.frame}`;
    const job = (async () => {
      let frame;
      if (kind === "rgb") {
        const response = await fetch(`${base}.png`);
        if (!response.ok) throw await pl.readError(response);
        const blob = await response.blob();
        const bitmap = await createImageBitmap(blob);
        frame = { kind: "rgb", bitmap, rows: bitmap.height, columns: bitmap.width };
      } else {
        const response = await fetch(`${base}/values`);
        if (!response.ok) throw await pl.readError(response);
        const buffer = await response.arrayBuffer();
        const type = response.headers.get("X-Pixel-Type");
        const Typed = TYPES[type];
        if (!Typed) throw new Error(`unexpected pixel type ${type}`);
        frame = {
          kind: "grey", data: new Typed(buffer), type,
          rows: Number(response.headers.get("X-Rows")), columns: Number(response.headers.get("X-Columns")),
          min: Number(response.headers.get("X-Min")), max: Number(response.headers.get("X-Max")),
        };
      }
      state.frames.set(k, frame);
      return frame;
    })();
    state.loading.set(k, job);
    job.finally(() => state.loading.delete(k)).catch(() => {});
    return job;
  }

  let prefetching = false;
  async function prefetch() {
    if (prefetching || !state.seriesKind || state.seriesKind === "none") return;
    prefetching = true;
    try {
      for (;;) {
        const order = [];
        const n = state.stack.length;
        for (let d = 1; d < n; d++) {
          for (const i of [state.index + d, state.index - d]) {
            if (i >= 0 && i < n) {
              const e = state.stack[i];
              if (!state.frames.has(key(e)) && !state.loading.has(key(e)) && e.inst.image) order.push(e);
            }
          }
          if (order.length >= 4) break;
        }
        if (!order.length) break;
        await Promise.all(order.map((e) => fetchFrame(e, kindOf(e) || state.seriesKind).catch(() => null)));
      }
    } finally {
      prefetching = false;
    }
  }

  // --- showing one entry ----------------------------------------------------------------------

  function say(text, isError) {
    message.replaceChildren(isError ? el("div", { class: "alert error", role: "alert" }, el("strong", {}, "This image cannot be shown"), text)
      : el("span", {}, text));
    message.classList.remove("hidden");
  }

  async function show(index) {
    if (!state.stack.length) return;
    index = Math.max(0, Math.min(state.stack.length - 1, index));
    state.index = index;
    slider.value = String(index);
    updateStatus();
    const entry = state.stack[index];
    try {
      let kind = kindOf(entry);
      if (!kind || !state.defaults) {
        const info = await getInfo(entry.sop);
        kind = info.display.kind;
        if (kind !== "none" && !state.seriesKind) state.seriesKind = kind;
        if (kind === "grey" && !state.defaults) setDefaults(info);
      }
      if (state.index !== index) return; // the user moved on meanwhile
      if (kind === "none") {
        await showAttributes(entry);
        return;
      }
      const frame = await fetchFrame(entry, kind);
      if (state.index !== index) return;
      attrsBox.classList.add("hidden");
      canvas.classList.remove("hidden");
      document.body.dataset.kind = frame.kind;
      state.current = frame;
      state.currentEntry = entry;
      paint(true);
      message.classList.add("hidden");
      prefetch();
    } catch (err) {
      if (state.index === index) say(err.message, true);
    }
  }

  function setDefaults(info) {
    const d = info.display;
    state.display = d;
    state.defaults = { center: d.window_center, width: Math.max(1, d.window_width) };
    state.center = state.defaults.center;
    state.width = state.defaults.width;
    const presets = [{ name: "Default", center: state.defaults.center, width: state.defaults.width }];
    for (const p of d.presets || []) presets.push(p);
    presets.push({ name: "Full range", center: (d.min_value + d.max_value) / 2, width: Math.max(1, d.max_value - d.min_value + 1) });
    state.presets = presets;
    presetSelect.replaceChildren(...presets.map((p, i) => el("option", { value: String(i) }, `${p.name} (W ${fmt(p.width)} L ${fmt(p.center)})`)),
      el("option", { value: "custom", hidden: true }, "Custom"));
    presetSelect.value = "0";
  }

  async function showAttributes(entry) {
    canvas.classList.add("hidden");
    message.classList.add("hidden");
    document.body.dataset.kind = "none";
    state.current = null;
    state.currentEntry = entry;
    let rows = state.attrs.get(entry.sop);
    if (!rows) {
      attrsBox.replaceChildren(el("p", {}, "Loading the attributes…"));
      attrsBox.classList.remove("hidden");
      rows = (await api(`/api/instances/${encodeURIComponent(entry.sop)}/attributes`)).rows;
      state.attrs.set(entry.sop, rows);
    }
    if (state.currentEntry !== entry) return;
    const sopClass = (rows.find((r) => r.keyword === "SOPClassUID") || {}).value || "";
    attrsBox.replaceChildren(
      el("h2", { style: "margin-top:0" }, "This object has no image"),
      el("p", { class: "muted" }, `It is not a picture (SOP Class ${sopClass}), so its attributes are listed instead. Pixel and other binary data are not shown; long texts are shortened.`),
      el("div", { class: "table-wrap" }, el("table", { class: "data", id: "attr-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "Attribute"), el("th", {}, "Tag"), el("th", {}, "VR"), el("th", {}, "Value"))),
        el("tbody", {}, rows.map((r) => el("tr", {},
          el("td", { class: "kw", style: `padding-left:${10 + 16 * r.depth}px` }, r.keyword),
          el("td", { class: "mono nowrap" }, r.tag), el("td", { class: "mono" }, r.vr),
          el("td", { class: "value" }, r.value)))))));
    attrsBox.classList.remove("hidden");
    updateOverlay();
    state.renders++;
    canvas.dataset.rendered = `${key(entry)}:${state.renders}`;
  }

  // --- painting -------------------------------------------------------------------------------

  function windowed(frame) {
    const { rows, columns, data } = frame;
    if (!imageData || imageData.width !== columns || imageData.height !== rows) {
      imageData = new ImageData(columns, rows);
      offscreen.width = columns;
      offscreen.height = rows;
    }
    const out = imageData.data;
    const c = state.center;
    const w = Math.max(1, state.width);
    const invert = Boolean(state.display && state.display.invert) !== state.userInvert;
    const low = c - 0.5 - (w - 1) / 2;
    const high = c - 0.5 + (w - 1) / 2;
    const fn = (state.display && state.display.voi_lut_function) || "LINEAR";
    // PS3.3 C.11.2.1.2 (LINEAR), C.11.2.1.3.1 (LINEAR_EXACT), C.11.2.1.3.2 (SIGMOID)
    const linear = (v) => (v <= low ? 0 : v > high ? 255 : ((v - (c - 0.5)) / Math.max(1e-9, w - 1) + 0.5) * 255);
    const exact = (v) => ((v - c) / w + 0.5) * 255;
    const sigmoid = (v) => 255 / (1 + Math.exp((-4 * (v - c)) / w));
    const curve = fn === "SIGMOID" ? sigmoid : fn === "LINEAR_EXACT" ? exact : linear;
    const map = (v) => {
      let y = curve(v);
      if (!(y > 0)) y = 0; else if (y > 255) y = 255;
      return invert ? 255 - y : y;
    };
    const n = rows * columns;
    const span = frame.max - frame.min;
    if (frame.type !== "float32" && span >= 0 && span < 1 << 20) {
      const lut = new Uint8ClampedArray(span + 1);
      for (let i = 0; i <= span; i++) lut[i] = map(frame.min + i);
      const min = frame.min;
      for (let i = 0, j = 0; i < n; i++, j += 4) {
        const y = lut[data[i] - min];
        out[j] = y; out[j + 1] = y; out[j + 2] = y; out[j + 3] = 255;
      }
    } else {
      for (let i = 0, j = 0; i < n; i++, j += 4) {
        const y = map(data[i]);
        out[j] = y; out[j + 1] = y; out[j + 2] = y; out[j + 3] = 255;
      }
    }
    offctx.putImageData(imageData, 0, 0);
    return offscreen;
  }

  function fitCanvas() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(stage.clientWidth * dpr));
    const h = Math.max(1, Math.round(stage.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; return true; }
    return false;
  }

  let source = null;
  /** Draw the current frame; ``rewindow`` recomputes the windowed pixels first. */
  function paint(rewindow) {
    const frame = state.current;
    if (!frame) return;
    if (rewindow || !source) {
      if (frame.kind === "grey") source = windowed(frame);
      else source = frame.bitmap;
    }
    fitCanvas();
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const fit = Math.min(canvas.width / frame.columns, canvas.height / frame.rows);
    const scale = fit * state.zoom;
    const dw = frame.columns * scale;
    const dh = frame.rows * scale;
    const x = (canvas.width - dw) / 2 + state.panX * dpr;
    const y = (canvas.height - dh) / 2 + state.panY * dpr;
    ctx.imageSmoothingEnabled = scale < 4;
    ctx.drawImage(source, x, y, dw, dh);
    if (frame.kind === "rgb" && state.userInvert) {
      ctx.globalCompositeOperation = "difference";
      ctx.fillStyle = "#fff";
      ctx.fillRect(x, y, dw, dh);
      ctx.globalCompositeOperation = "source-over";
    }
    state.renders++;
    state.shownKey = key(state.currentEntry);
    canvas.dataset.rendered = `${state.shownKey}:${state.renders}`;
    updateOverlay();
  }

  let frameRequested = false;
  function repaintSoon(rewindow) {
    repaintSoon.rewindow = repaintSoon.rewindow || rewindow;
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      const again = repaintSoon.rewindow;
      repaintSoon.rewindow = false;
      paint(again);
    });
  }

  const fmt = (v) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1));

  function updateOverlay() {
    const st = state.study || {};
    const se = state.series || {};
    const entry = state.stack[state.index];
    overlays.tl.textContent = [name(st.patient_name), st.patient_id ? `ID ${st.patient_id}` : "",
      [date(st.patient_birth_date), st.patient_sex].filter(Boolean).join(" ")].filter(Boolean).join("\n");
    overlays.tr.textContent = [st.study_description, date(st.study_date), st.accession_number ? `Acc ${st.accession_number}` : ""].filter(Boolean).join("\n");
    const lines = [`${se.modality || ""} Se ${se.series_number ?? "?"}${se.series_description ? ` · ${se.series_description}` : ""}`];
    if (entry) {
      const n = state.stack.length;
      lines.push(`Im ${state.index + 1}/${n}${entry.inst.instance_number != null ? ` · Instance ${entry.inst.instance_number}` : ""}`);
      if (entry.frames > 1) lines.push(`Frame ${entry.frame + 1}/${entry.frames}`);
    }
    overlays.bl.textContent = lines.join("\n");
    const frame = state.current;
    const br = [];
    if (frame && frame.kind === "grey") br.push(`W ${fmt(state.width)} L ${fmt(state.center)}`);
    if (frame) br.push(`Zoom ${Math.round(state.zoom * 100)}%`);
    const inverted = frame && frame.kind === "grey" ? Boolean(state.display && state.display.invert) !== state.userInvert
      : Boolean(frame) && state.userInvert;
    if (inverted) br.push("Inverted");
    if (frame) br.push(`${frame.columns}×${frame.rows}`);
    overlays.br.textContent = br.join("\n");
    for (const o of Object.values(overlays)) o.classList.toggle("hidden", !frame);
  }

  // --- interaction ----------------------------------------------------------------------------

  function step(delta) {
    if (!state.stack.length) return;
    const n = state.stack.length;
    let next = state.index + delta;
    next = Math.max(0, Math.min(n - 1, next));
    if (next !== state.index) show(next);
  }

  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    canvas.focus({ preventScroll: true });
    const pan = event.shiftKey || event.button === 1 || event.button === 2;
    drag = { mode: pan ? "pan" : "wl", x: event.clientX, y: event.clientY, id: event.pointerId };
    canvas.setPointerCapture(event.pointerId);
    stage.classList.toggle("panning", pan);
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
    if (drag.mode === "pan") {
      state.panX += dx;
      state.panY += dy;
      repaintSoon(false);
    } else if (state.current && state.current.kind === "grey") {
      const range = Math.max(1e-6, state.current.max - state.current.min);
      const sensitivity = Math.max(range / 700, 0.01);
      state.width = Math.max(1, state.width + dx * sensitivity);
      state.center = state.center + dy * sensitivity;
      presetSelect.value = "custom";
      repaintSoon(true);
    }
  });
  const endDrag = (event) => {
    if (drag && event.pointerId === drag.id) {
      drag = null;
      stage.classList.remove("panning");
    }
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  canvas.addEventListener("dblclick", () => reset());

  let wheelAccumulated = 0;
  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    if (event.ctrlKey || event.metaKey) {
      zoomBy(Math.exp(-event.deltaY * 0.002));
      return;
    }
    const unit = event.deltaMode === 1 ? 40 : event.deltaMode === 2 ? 400 : 1;
    wheelAccumulated += event.deltaY * unit;
    const threshold = 50;
    while (Math.abs(wheelAccumulated) >= threshold) {
      const dir = Math.sign(wheelAccumulated);
      wheelAccumulated -= dir * threshold;
      step(dir);
    }
  }, { passive: false });

  function zoomBy(factor) {
    state.zoom = Math.max(0.1, Math.min(20, state.zoom * factor));
    repaintSoon(false);
  }

  function reset() {
    state.zoom = 1; state.panX = 0; state.panY = 0; state.userInvert = false;
    invertButton.setAttribute("aria-pressed", "false");
    if (state.defaults) { state.center = state.defaults.center; state.width = state.defaults.width; presetSelect.value = "0"; }
    repaintSoon(true);
  }

  function toggleInvert() {
    state.userInvert = !state.userInvert;
    invertButton.setAttribute("aria-pressed", String(state.userInvert));
    repaintSoon(true);
  }

  let playTimer = null;
  function togglePlay(force) {
    state.playing = force !== undefined ? force : !state.playing;
    playButton.setAttribute("aria-pressed", String(state.playing));
    playButton.textContent = state.playing ? "Pause" : "Play";
    clearTimeout(playTimer);
    if (state.playing) tick();
  }
  async function tick() {
    if (!state.playing || state.stack.length < 2) return;
    const entry = state.stack[state.index];
    const info = state.info.get(entry.sop);
    const ms = (entry.frames > 1 && info && info.display.frame_time_ms) ? info.display.frame_time_ms : 100;
    const started = performance.now();
    await show((state.index + 1) % state.stack.length);
    playTimer = setTimeout(tick, Math.max(0, ms - (performance.now() - started)));
  }

  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (t && t.tagName === "BUTTON" && (event.key === " " || event.key === "Enter")) return;
    if (t && t.tagName === "A" && event.key === "Enter") return;
    const handled = {
      ArrowUp: () => step(-1), ArrowLeft: () => step(-1), ArrowDown: () => step(1), ArrowRight: () => step(1),
      PageUp: () => step(-10), PageDown: () => step(10), Home: () => show(0), End: () => show(state.stack.length - 1),
      " ": () => togglePlay(), i: () => toggleInvert(), I: () => toggleInvert(), r: () => reset(), R: () => reset(),
      "+": () => zoomBy(1.25), "=": () => zoomBy(1.25), "-": () => zoomBy(0.8),
    }[event.key];
    if (handled && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      handled();
    }
  });
  slider.addEventListener("input", () => show(Number(slider.value)));
  presetSelect.addEventListener("change", () => {
    const p = state.presets[Number(presetSelect.value)];
    if (!p) return;
    state.center = p.center; state.width = Math.max(1, p.width);
    repaintSoon(true);
  });
  seriesSelect.addEventListener("change", () => { location.href = `/viewer/${encodeURIComponent(seriesSelect.value)}`; });
  invertButton.addEventListener("click", toggleInvert);
  document.getElementById("zoom-in").addEventListener("click", () => zoomBy(1.25));
  document.getElementById("zoom-out").addEventListener("click", () => zoomBy(0.8));
  document.getElementById("reset-button").addEventListener("click", reset);
  playButton.addEventListener("click", () => togglePlay());
  new ResizeObserver(() => { if (state.current) repaintSoon(false); }).observe(stage);

  // --- start -----------------------------------------------------------------------------------

  (async () => {
    try {
      const data = await loadSeries();
      const back = document.getElementById("back-link");
      back.href = `/study/${encodeURIComponent(data.study.study_instance_uid)}`;
      if (document.referrer && new URL(document.referrer).origin === location.origin && new URL(document.referrer).pathname.startsWith("/study/")) {
        back.href = document.referrer;
      }
      document.title = `${name(data.study.patient_name) || "Viewer"} · ${data.series.series_description || data.series.modality || "series"} · pacslink`;
      if (!state.stack.length) say(data.receiving ? "Waiting for the first image to arrive…" : "This series has no images on this computer.");
      else show(0);
      if (data.receiving) pollTimer = setTimeout(poll, 700);
      canvas.focus({ preventScroll: true });
    } catch (err) {
      if (err.status === 404) {
        let running = [];
        try { running = (await api("/api/retrieves")).filter((job) => !job.done); } catch (_) { /* keep [] */ }
        if (!running.length) {
          say("This series is not on this computer. Retrieve it from its study page first (Search, then the study).");
          return;
        }
        say("Waiting for the first image of this series to arrive…");
        pollTimer = setTimeout(poll, 700);
        state.receiving = true;
      } else {
        say(err.message, true);
      }
    }
  })();
})();
