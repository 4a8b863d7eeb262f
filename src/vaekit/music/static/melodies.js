// vaekit explore: melodies. An example is a row of tokens, one per sixteenth note (see vaekit.music.tokens:
// 0 note-off, 1 hold, 2.. note-on of MIDI pitch 21..). It is drawn as a piano roll (the input it came from, where
// there is one, as grey outlines behind); the large view adds a play button (synthesised here with the Web Audio
// API: nothing is fetched) and a .mid download of the notes shown.
"use strict";
(function () {
  const SIZE = { large: [520, 150], small: [112, 44] };
  const audio = (vaekit.audio = { context: null, voices: [], notes: 0 });

  function notesOf(tokens, c) {
    const notes = [];
    let current = null;
    tokens.forEach((t, step) => {
      if (t === c.hold) return;
      if (current) notes.push({ pitch: current.pitch, start: current.start, end: step });
      current = t >= c.first_pitch_token ? { pitch: t - c.first_pitch_token + c.min_pitch, start: step } : null;
    });
    if (current) notes.push({ pitch: current.pitch, start: current.start, end: tokens.length });
    return notes;
  }

  function roll(canvas, notes, reference, steps, c, small) {
    const [w, h] = [canvas.width, canvas.height];
    const ctx = canvas.getContext("2d");
    const all = notes.concat(reference || []);
    let lo = all.length ? Math.min(...all.map((n) => n.pitch)) - 2 : 58;
    let hi = all.length ? Math.max(...all.map((n) => n.pitch)) + 2 : 74;
    if (hi - lo < 14) {
      const mid = (hi + lo) / 2;
      lo = Math.floor(mid - 7);
      hi = lo + 14;
    }
    const left = small ? 0 : 30;
    const x = (step) => left + ((w - left) * step) / steps;
    const row = h / (hi - lo + 1);
    const y = (pitch) => h - (pitch - lo + 1) * row;
    ctx.fillStyle = "#fbfcfe";
    ctx.fillRect(0, 0, w, h);
    for (let p = lo; p <= hi; p++) {
      if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) {
        ctx.fillStyle = "#eef1f6";
        ctx.fillRect(left, y(p), w - left, row);
      }
      if (!small && p % 12 === 0) {
        ctx.fillStyle = "#667085";
        ctx.font = "10px system-ui, sans-serif";
        ctx.fillText(`C${p / 12 - 1}`, 2, y(p) + row - 1);
      }
    }
    for (let s = 0; s <= steps; s += c.steps_per_quarter) {
      ctx.fillStyle = s % c.steps_per_bar === 0 ? "#98a2b3" : "#dde2ea";
      ctx.fillRect(Math.round(x(s)), 0, 1, h);
    }
    ctx.strokeStyle = "#98a2b3";
    ctx.lineWidth = 1;
    for (const n of reference || []) {
      ctx.strokeRect(x(n.start) + 0.5, y(n.pitch) + 0.5, x(n.end) - x(n.start) - 1, row - 1);
    }
    // each note filled, its onset darker, so repeated notes of one pitch stay apart
    for (const n of notes) {
      const [x0, x1] = [x(n.start) + 1, x(n.end) - 1];
      ctx.fillStyle = "#2f6fde";
      ctx.fillRect(x0, y(n.pitch), Math.max(1, x1 - x0), row);
      ctx.fillStyle = "#12398a";
      ctx.fillRect(x0, y(n.pitch), small ? 1 : 2, row);
    }
  }

  function stop() {
    for (const v of audio.voices) {
      try {
        v.stop();
      } catch (err) {
        // already stopped
      }
    }
    audio.voices = [];
  }

  function play(notes, c) {
    if (!audio.context) audio.context = new AudioContext();
    const ac = audio.context;
    if (ac.state === "suspended") ac.resume();
    stop();
    const step = 60 / c.bpm / c.steps_per_quarter;
    const t0 = ac.currentTime + 0.05;
    for (const n of notes) {
      const osc = ac.createOscillator();
      const gain = ac.createGain();
      osc.type = "triangle";
      osc.frequency.value = 440 * 2 ** ((n.pitch - 69) / 12);
      const start = t0 + n.start * step;
      const end = t0 + n.end * step;
      gain.gain.setValueAtTime(0, start);
      gain.gain.linearRampToValueAtTime(0.25, start + 0.01);
      gain.gain.setValueAtTime(0.25, Math.max(start + 0.01, end - 0.04));
      gain.gain.linearRampToValueAtTime(0, end);
      osc.connect(gain).connect(ac.destination);
      osc.start(start);
      osc.stop(end + 0.02);
      audio.voices.push(osc);
    }
    audio.notes = notes.length;
    return notes.length ? t0 + Math.max(...notes.map((n) => n.end)) * step : t0;
  }

  // A standard MIDI file (format 0, 480 ticks per quarter note) of the notes, at the context's tempo.
  function midi(notes, c) {
    const ticks = 480 / c.steps_per_quarter;
    const vlq = (n) => {
      const out = [n & 0x7f];
      while ((n >>= 7)) out.unshift((n & 0x7f) | 0x80);
      return out;
    };
    const tempo = Math.round(60e6 / c.bpm);
    const events = [];
    for (const n of notes) {
      events.push([n.start * ticks, 1, n.pitch]);
      events.push([n.end * ticks, 0, n.pitch]);
    }
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // at equal times note-offs first
    const track = [0, 0xff, 0x51, 3, (tempo >> 16) & 255, (tempo >> 8) & 255, tempo & 255];
    track.push(0, 0xff, 0x58, 4, 4, 2, 24, 8, 0, 0xc0, 0);
    let now = 0;
    for (const [tick, on, pitch] of events) {
      track.push(...vlq(tick - now), on ? 0x90 : 0x80, pitch, on ? 90 : 0);
      now = tick;
    }
    track.push(0, 0xff, 0x2f, 0);
    const len = track.length;
    const header = [0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, 480 >> 8, 480 & 255];
    const chunk = [0x4d, 0x54, 0x72, 0x6b, (len >>> 24) & 255, (len >> 16) & 255, (len >> 8) & 255, len & 255];
    return new Uint8Array(header.concat(chunk, track));
  }

  function controls(el, notes, c) {
    const bar = document.createElement("div");
    bar.style.cssText = "display:flex;gap:8px;align-items:center;margin-top:4px";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "play";
    button.textContent = "▶ play";
    button.addEventListener("click", () => {
      const end = play(notes, c);
      button.textContent = "▶ playing…";
      const ms = Math.max(0, (end - audio.context.currentTime) * 1000);
      setTimeout(() => (button.textContent = "▶ play"), ms);
    });
    const link = document.createElement("a");
    link.className = "midi";
    link.textContent = "⬇ .mid";
    link.download = "vaekit-melody.mid";
    link.href = "#";
    link.addEventListener("click", () => {
      const url = URL.createObjectURL(new Blob([midi(notes, c)], { type: "audio/midi" }));
      link.href = url;
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
    const count = document.createElement("span");
    count.style.cssText = "color:#667085;font-size:12px";
    count.textContent = `${notes.length} notes`;
    bar.append(button, link, count);
    return bar;
  }

  vaekit.registerView({
    draw(el, x, opts) {
      const c = opts.context;
      const small = opts.size === "small";
      const [w, h] = SIZE[small ? "small" : "large"];
      const notes = notesOf(x, c);
      const reference = opts.reference ? notesOf(opts.reference, c) : null;
      const canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      roll(canvas, notes, reference, x.length, c, small);
      if (small) el.replaceChildren(canvas);
      else el.replaceChildren(canvas, controls(el, notes, c));
    },
  });
})();
