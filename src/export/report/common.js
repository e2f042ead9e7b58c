// densi report pages: what the one-model page (report.js) and the two-model page (pair.js) share.
// Included before each page's own script; defines `densiCommon`.
"use strict";
const densiCommon = (function () {
  // A carriage return is written as a reference: the HTML parser would turn a literal CR LF into LF.
  const esc = (s) => String(s).replace(/[&<>"'\r]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "\r": "&#13;" })[c]);
  const bits = (x) => (x === null || x === undefined ? "–" : x.toFixed(3));
  const prob = (x) => (x === null || x === undefined ? "–" : x.toPrecision(4));
  const fixed = (x, d) => (x === null || x === undefined || !isFinite(x) ? "–" : x.toFixed(d));
  // Quoted, with line breaks and tabs visible (a token's other bytes are shown as they are).
  const quote = (s) => '"' + String(s).replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t") + '"';

  // The "fitted" scale: the range of `values` (null: not scored); a metric whose fixed range starts at
  // 0 or above starts at 0 (dark means "near zero bits"), a signed one stays centred on 0. The fixed
  // range when there is no value.
  function fitRange(fixedRange, values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!isFinite(lo)) return fixedRange;
    if (fixedRange[0] >= 0) lo = 0;
    else { const w = Math.max(-lo, hi); lo = -w; hi = w; }
    if (hi - lo < 1e-6) hi = lo + 1;
    return [lo, hi];
  }
  // Index into a palette of `n` colours of value v on range r (clamped).
  function colourIndex(v, r, n) {
    const t = Math.min(1, Math.max(0, (v - r[0]) / (r[1] - r[0])));
    return Math.round(t * (n - 1));
  }
  // The legend's gradient bar from r[0] to r[1] `unit` (unit with its leading space, or "").
  function ramp(colours, r, unit) {
    const stops = [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1].map((t) => colours[Math.round(t * (colours.length - 1))]).join(",");
    return `<span class="ramp"><span>${r[0].toFixed(1)}</span><span class="bar" style="background:linear-gradient(to right,${stops})"></span><span>${r[1].toFixed(1)}${esc(unit)}</span></span>`;
  }
  // One radio button per metric in `el`, the first checked.
  function metricRadios(el, metrics) {
    metrics.forEach((m, i) => {
      const label = document.createElement("label");
      label.innerHTML = `<input type="radio" name="metric" value="${i}"${i === 0 ? " checked" : ""}> ${esc(m.name)}`;
      el.appendChild(label);
    });
  }
  return { esc, bits, prob, fixed, quote, fitRange, colourIndex, ramp, metricRadios };
})();
