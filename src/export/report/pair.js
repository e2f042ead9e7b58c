// densi report, two models: draws the page from the embedded JSON (see src/pair/report.rs for its
// fields). Every value, colour, range and name comes from that JSON; this script only lays it out.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("densi-data").textContent);
  const state = { metric: 0, scale: "fixed" };
  const tip = document.getElementById("tip");
  const rows = []; // { text, side: "a" | "b", el, spans, active }

  const { esc, bits, prob, fixed, quote } = densiCommon;

  // ---- the colour scale ----
  function range(m) {
    const r = D.metrics[m].range;
    if (state.scale === "fixed") return r;
    return densiCommon.fitRange(r, D.texts.flatMap((t) => [...t.tokens.a.values[m], ...t.tokens.b.values[m]]));
  }
  const colourIndex = (v, r) => densiCommon.colourIndex(v, r, D.colours.length);

  // ---- controls and legend ----
  const metricSwitch = document.getElementById("metric-switch");
  densiCommon.metricRadios(metricSwitch, D.metrics);
  document.getElementById("controls").addEventListener("change", (e) => {
    if (e.target.name === "metric") state.metric = +e.target.value;
    if (e.target.name === "scale") state.scale = e.target.value;
    hideTip();
    paint();
  });
  function legend() {
    const m = D.metrics[state.metric], r = range(state.metric);
    document.getElementById("legend").innerHTML =
      densiCommon.ramp(D.colours, r, " " + m.unit) +
      `<span>${esc(m.name)} per token, ${state.scale} scale; ${m.per_model ? "each row its own model's value" : "one value per position, the same in both rows"}</span>` +
      ` <span class="swatch t unscored">n/a</span> <span>not scored</span>`;
  }

  // ---- the texts: a summary, then row A and row B ----
  const container = document.getElementById("texts");
  const P = D.provenance;
  D.texts.forEach((text, n) => {
    const col = document.createElement("section");
    col.className = "column pair";
    col.setAttribute("aria-label", "text " + (n + 1) + ": " + text.id);
    const s = text.summary;
    col.innerHTML =
      `<h2>${esc(text.id)}</h2>` +
      `<dl class="summary" data-k="summary">` +
      `<dt>tokens</dt><dd><span data-k="tokens">${s.tokens}</span> (<span data-k="scored_tokens">${s.scored_tokens}</span> scored)</dd>` +
      `<dt>perplexity</dt><dd>A <span data-k="perplexity_a">${fixed(s.perplexity_a, 3)}</span>, B <span data-k="perplexity_b">${fixed(s.perplexity_b, 3)}</span></dd>` +
      `<dt>mean KL</dt><dd>A‖B <span data-k="mean_kl_ab_bits">${fixed(s.mean_kl_ab_bits, 4)}</span> bits, B‖A <span data-k="mean_kl_ba_bits">${fixed(s.mean_kl_ba_bits, 4)}</span> bits</dd>` +
      `<dt>mean cross-entropy A→B</dt><dd><span data-k="mean_cross_entropy_ab_bits">${fixed(s.mean_cross_entropy_ab_bits, 4)}</span> bits</dd>` +
      `<dt>top-1 agreement</dt><dd><span data-k="top1_agreement">${fixed(100 * (1 - s.top1_disagreement), 1)}</span>% of positions</dd>` +
      `<dt>Binoculars</dt><dd><span data-k="binoculars">${fixed(s.binoculars, 4)}</span> (A observer, B performer: mean surprisal under B / mean cross-entropy A→B)</dd>` +
      `</dl>` +
      `<p class="row-label"><b>A</b> ${esc(P.model_a.path)}</p><div class="text row-a" dir="auto" role="group" aria-label="the text under model A"></div>` +
      `<p class="row-label"><b>B</b> ${esc(P.model_b.path)}</p><div class="text row-b" dir="auto" role="group" aria-label="the text under model B"></div>`;
    container.appendChild(col);
    for (const side of ["a", "b"]) {
      const row = { text, side, el: col.querySelector(".row-" + side), spans: null, active: null };
      renderTokens(row);
      rows.push(row);
    }
  });

  function renderTokens(row) {
    const tk = row.text.tokens, parts = new Array(tk.piece.length);
    for (let i = 0; i < tk.piece.length; i++) {
      parts[i] = `<span class="t${tk.piece[i] ? "" : " cont"}" data-i="${i}" tabindex="${i === 0 ? 0 : -1}">${esc(tk.piece[i])}</span>`;
    }
    row.el.innerHTML = parts.join("");
    row.spans = row.el.children;
  }

  function paint() {
    legend();
    const m = state.metric, r = range(m);
    for (const row of rows) {
      const vals = row.text.tokens[row.side].values[m];
      for (let i = 0; i < row.spans.length; i++) {
        const v = vals[i], el = row.spans[i];
        if (v === null || v === undefined) {
          el.classList.add("unscored");
          el.style.background = ""; el.style.color = "";
        } else {
          el.classList.remove("unscored");
          const c = colourIndex(v, r);
          el.style.background = D.colours[c]; el.style.color = D.ink[c];
        }
      }
    }
  }

  // ---- tooltip: both models side by side ----
  function topList(side, k, top) {
    if (!top.length) return `<div></div>`;
    const best = top[0][2] || 1;
    return `<div><div class="head">${side}'s top ${top.length}</div><ol data-k="${k}">` +
      top.map(([id, tok, p]) =>
        `<li data-id="${id}"><code>${esc(quote(tok))}</code><span class="pbar" style="width:${((p / best) * 100).toFixed(1)}%"></span><span class="num" data-k="alt-p">${prob(p)}</span></li>`).join("") +
      `</ol></div>`;
  }
  function tipHtml(text, i) {
    const tk = text.tokens, a = tk.a, b = tk.b;
    let html = `<div class="head"><code>${esc(quote(tk.token[i]))}</code> · token ${i} · id <span data-k="id">${tk.id[i]}</span></div>`;
    if (!tk.scored[i]) return html + `<div data-k="scored">not scored (no context before it)</div>`;
    const pair = (label, k, va, vb, unit) =>
      `<tr><th>${label}</th><td class="a" data-k="${k}-a">${va}</td><td class="b" data-k="${k}-b">${vb}</td><td>${unit}</td></tr>`;
    html += `<table><tr><th></th><th class="a">A</th><th class="b">B</th><th></th></tr>` +
      pair("surprisal", "surprisal", bits(a.surprisal[i]), bits(b.surprisal[i]), "bits") +
      pair("probability", "probability", prob(a.probability[i]), prob(b.probability[i]), "") +
      pair("entropy before", "entropy", bits(a.entropy[i]), bits(b.entropy[i]), "bits") +
      pair("rank", "rank", a.rank[i], b.rank[i], "") +
      `</table><table>` +
      `<tr><th>delta_bits (B − A)</th><td data-k="delta">${bits(tk.delta[i])}</td></tr>` +
      `<tr><th>KL(A‖B)</th><td data-k="kl_ab">${bits(tk.kl_ab[i])}</td></tr>` +
      `<tr><th>KL(B‖A)</th><td data-k="kl_ba">${bits(tk.kl_ba[i])}</td></tr>` +
      `<tr><th>cross-entropy A→B</th><td data-k="cross_entropy_ab">${bits(tk.cross_entropy_ab[i])}</td></tr>` +
      `<tr><th>top-1</th><td data-k="top1">${tk.top1_differs[i] ? "differs" : "agrees"}</td></tr>` +
      `</table><div class="sides">${topList("A", "top-a", a.top[i])}${topList("B", "top-b", b.top[i])}</div>`;
    return html;
  }

  let tipAt = null; // the row and token the tooltip is showing
  function showTip(row, i) {
    tip.innerHTML = tipHtml(row.text, i);
    tip.hidden = false;
    tipAt = [row, i];
    placeTip();
    // The same position is highlighted in both rows of its text.
    for (const r of rows) highlight(r, r.text === row.text ? i : null);
  }
  function placeTip() {
    const r = tipAt[0].spans[tipAt[1]].getBoundingClientRect(), tw = tip.offsetWidth, th = tip.offsetHeight;
    let x = Math.min(r.left, window.innerWidth - tw - 8), y = r.bottom + 6;
    if (y + th > window.innerHeight - 4) y = Math.max(4, r.top - th - 6);
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = y + "px";
  }
  function hideTip() {
    tip.hidden = true;
    tipAt = null;
    for (const r of rows) highlight(r, null);
  }
  function highlight(row, i) {
    if (row.active !== null && row.spans[row.active]) row.spans[row.active].classList.remove("hl");
    row.active = i;
    if (i !== null) row.spans[i].classList.add("hl");
  }

  for (const row of rows) {
    const at = (e) => e.target.closest(".t");
    row.el.addEventListener("mouseover", (e) => { const t = at(e); if (t) showTip(row, +t.dataset.i); });
    row.el.addEventListener("mouseleave", hideTip);
    row.el.addEventListener("focusin", (e) => { const t = at(e); if (t) showTip(row, +t.dataset.i); });
    row.el.addEventListener("focusout", hideTip);
    row.el.addEventListener("keydown", (e) => {
      const t = at(e);
      if (!t) return;
      const i = +t.dataset.i, last = row.spans.length - 1;
      const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: last }[e.key];
      if (e.key === "Escape") { hideTip(); return; }
      if (next === undefined) return;
      e.preventDefault();
      const j = Math.min(last, Math.max(0, next));
      t.tabIndex = -1;
      row.spans[j].tabIndex = 0;
      row.spans[j].focus();
    });
  }
  document.addEventListener("scroll", () => { if (tipAt) placeTip(); }, { passive: true, capture: true });

  // ---- provenance: both models ----
  const model = (m) => [m.path, m.format, m.architecture, m.parameters.toLocaleString("en") + " parameters", m.weight_dtype, "sha256 " + m.sha256, "tokenizer " + m.tokenizer,
    "BOS " + (m.bos_token === null ? "none" : m.bos_token + " " + quote(m.bos_token_text))].join(" · ");
  const prov = [
    ["densi", P.densi_version], ["date (UTC)", P.date], ["model A (reference, observer)", model(P.model_a)],
    ["model B (performer)", model(P.model_b)], ["backend", P.backend + " (" + P.device + ")"],
    ["window / stride", P.window === null ? "each model's own" : P.window + " / " + P.stride + " tokens"], ["top-k kept", P.top_k], ["units", P.units],
  ];
  document.getElementById("provenance-list").innerHTML = prov.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");

  paint();
  performance.mark("densi-ready");
  document.documentElement.dataset.ready = "1";
})();
