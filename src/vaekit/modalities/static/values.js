// vaekit explore: a row of values (tables, and any kind of data without a view of its own). Each value is a
// bar on its column's range in the data shown on the map (1st to 99th percentile); the input the row came
// from, where there is one, is a black tick on the same bar, with its value beside.
"use strict";
(function () {
  const fmt = (v) => (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toPrecision(4));

  function position(v, lo, hi) {
    const span = hi - lo || 1;
    return Math.min(1.04, Math.max(-0.04, (v - lo) / span));
  }

  function bars(el, x, opts) {
    const { names, low, high } = opts.context;
    const ref = opts.reference;
    const table = document.createElement("div");
    table.className = "values";
    table.style.cssText = "display:grid;grid-template-columns:auto 150px auto;gap:1px 8px;align-items:center;" +
      "font-size:12px;font-variant-numeric:tabular-nums;max-height:420px;overflow-y:auto";
    x.forEach((v, j) => {
      const name = document.createElement("span");
      name.textContent = names[j];
      name.style.cssText = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:9em";
      const track = document.createElement("span");
      track.style.cssText = "position:relative;height:12px;background:#eef1f6;border-radius:2px";
      const bar = document.createElement("span");
      const p = position(v, low[j], high[j]);
      bar.style.cssText = `position:absolute;left:0;top:2px;height:8px;width:${Math.max(0, p) * 100}%;` +
        "background:#2f6fde;border-radius:2px";
      track.append(bar);
      const value = document.createElement("span");
      value.textContent = fmt(v);
      if (ref) {
        const tick = document.createElement("span");
        tick.style.cssText = `position:absolute;left:calc(${position(ref[j], low[j], high[j]) * 100}% - 1px);` +
          "top:0;width:2px;height:12px;background:#111827";
        track.append(tick);
        value.textContent = `${fmt(v)}  (input ${fmt(ref[j])})`;
      }
      table.append(name, track, value);
    });
    el.replaceChildren(table);
  }

  function profile(el, x, opts) {
    const { low, high } = opts.context;
    const canvas = document.createElement("canvas");
    const w = Math.max(40, Math.min(120, 6 * x.length));
    canvas.width = w;
    canvas.height = 40;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#eef1f6";
    ctx.fillRect(0, 0, w, 40);
    ctx.fillStyle = "#2f6fde";
    const step = w / x.length;
    x.forEach((v, j) => {
      const h = Math.max(0, Math.min(1, position(v, low[j], high[j]))) * 38;
      ctx.fillRect(j * step + 0.5, 39 - h, Math.max(1, step - 1), h);
    });
    el.replaceChildren(canvas);
  }

  vaekit.registerView({
    draw(el, x, opts) {
      (opts.size === "small" ? profile : bars)(el, x, opts);
    },
  });
})();
