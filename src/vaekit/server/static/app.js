// vaekit explore: the page. It asks the server (the JSON API of vaekit.server.app) and draws with the
// modality's view (/view.js, which calls vaekit.registerView). Live requests (hover, sliders, scrubbing) go
// through one channel with at most one request in flight: while one is out, a newer one replaces the waiting
// one, so dragging never sends more than the server can answer and the last position always wins.
"use strict";

const vaekit = (window.vaekit = {
  view: null,
  registerView(view) {
    this.view = view;
  },
});

(function () {
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  const $ = (id) => document.getElementById(id);
  const state = {
    info: null,
    map: null,
    z: null, // the current code (what the sliders show)
    y: null, // a conditional model's label for decoding
    example: null, // the selected example of the map, while z is its code
    shown: null, // {x, title}: what the decoded panel shows when the pointer leaves the map
    hovering: false,
    hover: null, // plane point under the pointer
    a: null, b: null, // interpolation ends: codes
    path: null, // plane coordinates of the path between them
    inFlight: 0,
  };
  vaekit.state = state;

  // requests -------------------------------------------------------------------------------------------------
  function message(text) {
    $("message").textContent = text || "";
  }

  async function api(path, body) {
    const t0 = performance.now();
    const init = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    state.inFlight += 1;
    try {
      const response = await fetch(path, init);
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
      const model = /dur=([0-9.]+)/.exec(response.headers.get("Server-Timing") || "");
      $("status").textContent = `${path} ${(performance.now() - t0).toFixed(1)} ms` +
        (model ? ` (model ${Number(model[1]).toFixed(1)} ms)` : "");
      message("");
      return answer;
    } finally {
      state.inFlight -= 1;
    }
  }

  // One request in flight at a time, the others wait their turn. A live request (hover, slider, scrubbing)
  // replaces any live request still waiting, so a drag sends no more than the server answers and its last
  // position wins; an action (select, sample, a new path) is never dropped.
  function requestQueue() {
    const waiting = [];
    let busy = false;
    async function pump() {
      if (busy || !waiting.length) return;
      const item = waiting.shift();
      busy = true;
      try {
        item.resolve(await api(item.path, item.body));
      } catch (err) {
        item.reject(err);
      } finally {
        busy = false;
        pump();
      }
    }
    return {
      live(path, body, done) {
        for (let i = waiting.length - 1; i >= 0; i--) if (waiting[i].live) waiting.splice(i, 1);
        waiting.push({ path, body, live: true, resolve: done, reject: (err) => message(String(err.message || err)) });
        pump();
      },
      send(path, body) {
        return new Promise((resolve, reject) => {
          waiting.push({ path, body, live: false, resolve, reject });
          pump();
        });
      },
    };
  }
  const queue = requestQueue();
  const live = queue.live;

  function withLabel(body) {
    if (state.info.n_classes > 0) body.y = state.y;
    return body;
  }

  // drawing examples -----------------------------------------------------------------------------------------
  function draw(el, x, size, reference) {
    const context = state.info.context;
    vaekit.view.draw(el, x, { context, reference: reference || null, size, info: state.info });
  }

  function showDecoded(x, title) {
    const reference = state.example ? state.example.x : null;
    draw($("decoded"), x, "large", reference);
    $("decoded-title").textContent = title;
  }

  function showInput(example) {
    const figure = $("input-figure");
    if (!example) {
      figure.hidden = true;
      return;
    }
    figure.hidden = false;
    const label = example.label === null ? "" : `, label ${example.label}`;
    const source = state.info.source;
    const where = `${source.split ? source.split + " " : ""}row ${example.row} of ${source.name}`;
    $("input-title").textContent = `input: ${where}${label}`;
    draw($("input"), example.x, "large", null);
    const score = $("score");
    if (example.score === undefined) {
      score.textContent = "";
      score.className = "";
    } else {
      const a = state.info.anomaly;
      score.textContent = `anomaly score (${a.score}) ${example.score.toPrecision(4)}, threshold ` +
        `${a.threshold.toPrecision(4)}: ${example.flagged ? "flagged" : "normal"}`;
      score.className = example.flagged ? "flagged" : "";
    }
  }

  // the current point ---------------------------------------------------------------------------------------
  function setCurrent(z, x, title, example) {
    state.z = z.slice();
    state.example = example || null;
    showInput(state.example);
    state.shown = { x, title };
    if (!state.hovering) showDecoded(x, title);
    updateSliders();
    drawOverlay();
  }

  function decodeCurrent(title) {
    const z = state.z.slice();
    live("/decode", withLabel({ z: [z] }), (answer) => {
      state.shown = { x: answer.x[0], title };
      if (!state.hovering) showDecoded(answer.x[0], title);
    });
  }

  function planeToZ(u, v) {
    const p = state.info.plane;
    return p.center.map((c, j) => c + u * p.axes[0][j] + v * p.axes[1][j]);
  }

  function zToPlane(z) {
    const p = state.info.plane;
    let u = 0;
    let v = 0;
    for (let j = 0; j < z.length; j++) {
      u += (z[j] - p.center[j]) * p.axes[0][j];
      v += (z[j] - p.center[j]) * p.axes[1][j];
    }
    return [u, v];
  }

  async function selectExample(index) {
    const e = await queue.send("/encode", { index });
    if (state.info.n_classes > 0 && e.y !== null) {
      state.y = e.y;
      $("label").value = String(e.y);
    }
    setCurrent(e.z, e.reconstruction, "reconstruction: decoded at E[z|x]", e);
  }

  function selectFree(u, v) {
    const z = planeToZ(u, v);
    state.example = null;
    showInput(null);
    state.z = z;
    updateSliders();
    drawOverlay();
    decodeCurrent(`decoded at (${u.toFixed(2)}, ${v.toFixed(2)})`);
  }

  // the map -------------------------------------------------------------------------------------------------
  const map = { canvas: null, base: null, size: 0, dpr: 1, lo: [0, 0], hi: [1, 1], colors: [] };

  function percentile(sorted, q) {
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
  }

  function layoutMap() {
    const coords = state.map.coords;
    for (let k = 0; k < 2; k++) {
      const s = coords.map((c) => c[k]).sort((a, b) => a - b);
      let lo = percentile(s, 0.005);
      let hi = percentile(s, 0.995);
      if (!(hi - lo > 1e-6)) {
        lo -= 1;
        hi += 1;
      }
      const pad = 0.08 * (hi - lo);
      map.lo[k] = lo - pad;
      map.hi[k] = hi + pad;
    }
  }

  function toScreen(u, v) {
    const s = map.size;
    return [((u - map.lo[0]) / (map.hi[0] - map.lo[0])) * s, ((map.hi[1] - v) / (map.hi[1] - map.lo[1])) * s];
  }

  function toPlane(px, py) {
    const s = map.size;
    return [map.lo[0] + (px / s) * (map.hi[0] - map.lo[0]), map.hi[1] - (py / s) * (map.hi[1] - map.lo[1])];
  }

  function labelColors() {
    const labels = state.map.labels;
    const legend = $("legend");
    legend.replaceChildren();
    if (!labels) return state.map.coords.map(() => "#3b6fb6");
    const classes = [...new Set(labels)].sort((a, b) => a - b);
    const names = state.map.label_names;
    if (classes.length <= 20) {
      const index = new Map(classes.map((c, i) => [c, i]));
      const color = (c) => {
        const i = index.get(c);
        if (names && names.length === 2) return ["#7b93b8", "#d62728"][i];
        return classes.length <= 10 ? TAB10[i] : `hsl(${(i * 360) / classes.length}, 65%, 48%)`;
      };
      for (const c of classes) {
        const item = document.createElement("span");
        item.style.setProperty("--swatch", color(c));
        item.textContent = names ? names[c] : `label ${c}`;
        legend.append(item);
      }
      return labels.map(color);
    }
    const lo = classes[0];
    const hi = classes[classes.length - 1];
    legend.textContent = `label from ${lo} (blue) to ${hi} (red)`;
    return labels.map((c) => `hsl(${240 - (240 * (c - lo)) / (hi - lo || 1)}, 70%, 45%)`);
  }

  function drawBase() {
    const canvas = map.canvas;
    const css = canvas.getBoundingClientRect().width || 440;
    map.dpr = window.devicePixelRatio || 1;
    map.size = css;
    canvas.width = Math.round(css * map.dpr);
    canvas.height = Math.round(css * map.dpr);
    const base = document.createElement("canvas");
    base.width = canvas.width;
    base.height = canvas.height;
    const ctx = base.getContext("2d");
    ctx.scale(map.dpr, map.dpr);
    ctx.fillStyle = "#fbfcfe";
    ctx.fillRect(0, 0, css, css);
    // the prior's unit circle (for a 2-D latent) or the origin's cross, for orientation
    ctx.strokeStyle = "#e3e7ee";
    ctx.lineWidth = 1;
    const [ox, oy] = toScreen(...zToPlane(state.info.plane.center.map(() => 0)));
    ctx.beginPath();
    ctx.moveTo(ox, 0);
    ctx.lineTo(ox, css);
    ctx.moveTo(0, oy);
    ctx.lineTo(css, oy);
    ctx.stroke();
    const n = state.map.coords.length;
    const r = n > 3000 ? 1.6 : n > 800 ? 2.2 : 3;
    ctx.globalAlpha = n > 3000 ? 0.6 : 0.75;
    state.map.coords.forEach((c, i) => {
      const [x, y] = toScreen(c[0], c[1]);
      ctx.fillStyle = map.colors[i];
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#667085";
    ctx.font = "11px system-ui, sans-serif";
    const p = state.info.plane;
    const name = (k) => (p.names[k] && p.names[k].startsWith("PC")
      ? `${p.names[k]} (${Math.round(100 * p.explained[k])}% of variance)` : p.names[k]);
    ctx.fillText(name(0), 6, css - 6);
    ctx.save();
    ctx.translate(12, css - 8);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(name(1), 20, 0);
    ctx.restore();
    map.base = base;
  }

  function marker(ctx, z, text, color) {
    const [x, y] = toScreen(...zToPlane(z));
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.arc(x, y, 6, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.6;
    ctx.stroke();
    if (text) {
      ctx.font = "bold 12px system-ui, sans-serif";
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#fff";
      ctx.strokeText(text, x + 7, y - 7);
      ctx.fillStyle = color;
      ctx.fillText(text, x + 7, y - 7);
    }
  }

  function drawOverlay() {
    if (!map.base) return;
    const ctx = map.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(map.base, 0, 0);
    ctx.scale(map.dpr, map.dpr);
    if (state.path) {
      ctx.strokeStyle = "#111827";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      state.path.forEach((c, i) => {
        const [x, y] = toScreen(c[0], c[1]);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (state.a) marker(ctx, state.a, "A", "#111827");
    if (state.b) marker(ctx, state.b, "B", "#111827");
    if (state.z) marker(ctx, state.z, "", "#d62728");
    if (state.hovering && state.hover) {
      const [x, y] = toScreen(state.hover[0], state.hover[1]);
      ctx.strokeStyle = "rgba(17, 24, 39, 0.55)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x - 8, y);
      ctx.lineTo(x + 8, y);
      ctx.moveTo(x, y - 8);
      ctx.lineTo(x, y + 8);
      ctx.stroke();
    }
  }

  function nearestExample(px, py, radius) {
    let best = -1;
    let bestD = radius * radius;
    state.map.coords.forEach((c, i) => {
      const [x, y] = toScreen(c[0], c[1]);
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d <= bestD) {
        best = i;
        bestD = d;
      }
    });
    return best;
  }

  function pointer(event) {
    const rect = map.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  function setUpMap() {
    map.canvas = $("map");
    map.colors = labelColors();
    layoutMap();
    drawBase();
    const source = state.info.source;
    const note = `posterior means of ${state.map.coords.length} ${source.split ? source.split + " " : ""}examples ` +
      `of ${source.name}`;
    $("map-note").textContent = note;
    map.canvas.addEventListener("mousemove", (event) => {
      const [u, v] = toPlane(...pointer(event));
      state.hovering = true;
      state.hover = [u, v];
      drawOverlay();
      live("/decode", withLabel({ z: [planeToZ(u, v)] }), (answer) => {
        if (state.hovering) showDecoded(answer.x[0], `under the pointer (${u.toFixed(2)}, ${v.toFixed(2)})`);
      });
    });
    map.canvas.addEventListener("mouseleave", () => {
      state.hovering = false;
      drawOverlay();
      if (state.shown) showDecoded(state.shown.x, state.shown.title);
    });
    map.canvas.addEventListener("click", (event) => {
      const [px, py] = pointer(event);
      const index = nearestExample(px, py, 6);
      state.hovering = false;
      if (index >= 0) selectExample(index).catch((err) => message(err.message));
      else selectFree(...toPlane(px, py));
    });
    window.addEventListener("resize", () => {
      drawBase();
      drawOverlay();
    });
  }

  // for tests, and for people driving the page from the console: plane coordinates of a code, and the screen
  // position of example i of the map
  vaekit.zToPlane = zToPlane;
  vaekit.screenOf = function (i) {
    const rect = map.canvas.getBoundingClientRect();
    const [x, y] = toScreen(state.map.coords[i][0], state.map.coords[i][1]);
    return [rect.left + x, rect.top + y];
  };

  // sliders -------------------------------------------------------------------------------------------------
  const sliders = [];

  function setUpSliders() {
    const box = $("sliders");
    for (const d of state.info.dims) {
      const row = document.createElement("div");
      row.className = "slider" + (d.active ? "" : " inactive");
      row.title = d.active
        ? (state.info.dim_statistic === "KL"
          ? `z${d.dim}: mean KL ${d.kl.toFixed(3)} nats on the map's examples`
          : `z${d.dim}: variance ${d.kl.toFixed(3)} of the posterior means on the map's examples (the prior is a ` +
            "mixture: no KL per dimension)")
        : `z${d.dim} is inactive: its posterior mean hardly moves with the input (variance < 0.01), so the model ` +
          "does not use it";
      const label = document.createElement("label");
      label.htmlFor = `z${d.dim}`;
      label.textContent = `z${d.dim}`;
      const kl = document.createElement("small");
      kl.textContent = `${state.info.dim_statistic === "KL" ? "KL" : "var"} ${d.kl === null ? "?" : d.kl.toFixed(2)}`;
      label.append(kl);
      const input = document.createElement("input");
      input.type = "range";
      input.id = `z${d.dim}`;
      input.step = "0.01";
      input.min = "-4";
      input.max = "4";
      input.value = "0";
      const out = document.createElement("output");
      input.addEventListener("input", () => {
        if (!state.z) return;
        state.z[d.dim] = Number(input.value);
        out.textContent = Number(input.value).toFixed(2);
        drawOverlay();
        const from = state.example ? `, moved from row ${state.example.row}` : "";
        decodeCurrent(`decoded: z${d.dim} = ${Number(input.value).toFixed(2)}${from}`);
      });
      row.append(label, input, out);
      box.append(row);
      sliders.push({ dim: d.dim, input, out });
    }
  }

  function updateSliders() {
    for (const s of sliders) {
      const v = state.z[s.dim];
      s.input.min = String(Math.min(-4, Math.floor(v) - 1));
      s.input.max = String(Math.max(4, Math.ceil(v) + 1));
      s.input.value = String(v);
      s.out.textContent = v.toFixed(2);
    }
  }

  // interpolation and sampling -------------------------------------------------------------------------------
  async function updatePath() {
    const ready = state.a && state.b;
    $("t").disabled = !ready;
    if (!ready) return;
    const method = $("method").value;
    const answer = await queue.send("/interpolate", withLabel({ z0: state.a, z1: state.b, steps: 9, method }));
    state.path = answer.coords;
    drawOverlay();
    const strip = $("strip");
    strip.replaceChildren();
    answer.x.forEach((x, i) => {
      const cell = document.createElement("div");
      cell.title = `t = ${answer.t[i].toFixed(3)}`;
      draw(cell, x, "small", null);
      cell.addEventListener("click", () => {
        $("t").value = String(answer.t[i]);
        scrub();
      });
      strip.append(cell);
    });
  }

  function scrub() {
    const t = Number($("t").value);
    const method = $("method").value;
    $("t-value").textContent = `t = ${t.toFixed(2)}`;
    live("/interpolate", withLabel({ z0: state.a, z1: state.b, t: [t], method }), (answer) => {
      setCurrent(answer.z[0], answer.x[0], `${method} from A to B, t = ${t.toFixed(2)}`);
    });
  }

  function setUpTools() {
    const end = (which) => () => {
      if (!state.z) return;
      state[which] = state.z.slice();
      drawOverlay();
      updatePath().catch((err) => message(err.message));
    };
    $("set-a").addEventListener("click", end("a"));
    $("set-b").addEventListener("click", end("b"));
    $("method").addEventListener("change", () => {
      updatePath().then(() => scrub()).catch((err) => message(err.message));
    });
    $("t").addEventListener("input", scrub);
    $("temperature").addEventListener("input", () => {
      $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
    });
    $("draw").addEventListener("click", async () => {
      try {
        const temperature = Number($("temperature").value);
        const answer = await queue.send("/sample", withLabel({ n: 1, temperature }));
        setCurrent(answer.z[0], answer.x[0], `sample, T = ${temperature.toFixed(2)}`);
      } catch (err) {
        message(err.message);
      }
    });
    if (state.info.n_classes > 0) {
      $("condition").hidden = false;
      const select = $("label");
      for (let c = 0; c < state.info.n_classes; c++) {
        const option = document.createElement("option");
        option.value = String(c);
        option.textContent = String(c);
        select.append(option);
      }
      state.y = 0;
      select.addEventListener("change", () => {
        state.y = Number(select.value);
        if (state.z) decodeCurrent(`decoded with label ${state.y}`);
        updatePath().catch((err) => message(err.message));
      });
    }
  }

  // start -----------------------------------------------------------------------------------------------------
  async function start() {
    if (!vaekit.view) throw new Error("the modality's view did not load (/view.js)");
    const [info, mapData] = await Promise.all([api("/info"), api("/map")]);
    state.info = info;
    state.map = mapData;
    const dims = `${info.latent_dim} latent dimension${info.latent_dim === 1 ? "" : "s"}`;
    $("run").textContent = `${info.run}: ${info.modality}, ${dims}` +
      (info.n_classes ? `, conditional on ${info.n_classes} labels` : "") +
      (info.anomaly ? ", anomaly detector" : "");
    setUpSliders();
    setUpTools();
    setUpMap();
    await selectExample(0);
    document.body.dataset.ready = "1";
  }

  document.addEventListener("DOMContentLoaded", () => {
    start().catch((err) => message(`the page could not start: ${err.message || err}`));
  });
})();
