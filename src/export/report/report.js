// densi report: draws the page from the embedded JSON (see src/export/report.rs for its fields).
// Every value, colour, range and rule comes from that JSON; this script only lays it out.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("densi-data").textContent);
  const S = D.scale;
  const state = { metric: 0, unit: "token", scale: "fixed" };
  const RANK = S.metrics.length - 1; // Metric::ALL ends with the rank buckets
  const tip = document.getElementById("tip");
  const panes = [];

  const { esc, bits, prob, fixed, quote } = densiCommon;
  const signed = (x, d) => {
    if (x === null || x === undefined || !isFinite(x)) return "";
    const s = (x >= 0 ? "+" : "") + x.toFixed(d);
    return /^[+-]?[0.]+$/.test(s) ? "±" + s.replace(/^[+-]/, "") : s;
  };
  const unitName = (m) => (S.metrics[m].unit ? " " + S.metrics[m].unit : "");
  const fmtValue = (m, v) => (v === null ? "–" : m === RANK ? S.rank_buckets[Math.round(v)] : v.toFixed(2) + unitName(m));

  // ---- values and the colour scale ----
  function values(text, m) {
    return state.unit === "word" ? text.words.values[m] : text.tokens.values[m];
  }
  function range(m) {
    const fixedRange = S.metrics[m].range;
    if (state.scale === "fixed" || m === RANK) return fixedRange;
    return densiCommon.fitRange(fixedRange, D.texts.flatMap((t) => values(t, m)));
  }
  const colourIndex = (v, r) => densiCommon.colourIndex(v, r, S.colours.length);

  // ---- controls and legend ----
  const metricSwitch = document.getElementById("metric-switch");
  densiCommon.metricRadios(metricSwitch, S.metrics);
  document.getElementById("controls").addEventListener("change", (e) => {
    const el = e.target;
    if (el.name === "metric") state.metric = +el.value;
    if (el.name === "unit") state.unit = el.value;
    if (el.name === "scale") state.scale = el.value;
    hideTip();
    paint();
  });

  function legend() {
    const m = state.metric, r = range(m), L = document.getElementById("legend");
    let html;
    if (m === RANK) {
      html = S.rank_buckets.map((b, i) => {
        const c = colourIndex(i, r);
        return `<span class="swatch" style="background:${S.colours[c]};color:${S.ink[c]}">${esc(b)}</span>`;
      }).join("") + " <span>rank of the token among the model's predictions (GLTR's buckets)</span>";
    } else {
      html = densiCommon.ramp(S.colours, r, unitName(m)) +
        `<span>${esc(S.metrics[m].name)}${state.unit === "word" ? " per word" : " per token"}, ${state.scale} scale</span>`;
    }
    html += ` <span class="think-key" title="${esc(S.think_rule)}">think point</span> <span>${esc(S.think_rule)}</span>`;
    html += ` <span class="swatch t unscored">n/a</span> <span>not scored</span>`;
    L.innerHTML = html;
  }

  // ---- the texts ----
  const container = document.getElementById("texts");
  container.style.setProperty("--columns", Math.min(D.texts.length, 4));
  D.texts.forEach((text, n) => {
    const col = document.createElement("section");
    col.className = "column";
    col.setAttribute("aria-label", "text " + (n + 1) + ": " + text.id);
    const row = text.row;
    const dense = row.densest_token, sent = row.densest_sentence;
    col.innerHTML =
      `<h2 title="${esc(text.id)}">${esc(text.header)}</h2>` +
      `<dl class="summary">` +
      `<dt>tokens</dt><dd>${row.tokens} (${row.scored_tokens} scored), ${text.chars} characters</dd>` +
      `<dt>total</dt><dd>${fixed(row.total_bits, 2)} bits</dd>` +
      `<dt>bits/token</dt><dd>${fixed(row.mean_bits_per_token, 3)}</dd>` +
      `<dt>bits/char</dt><dd>${fixed(row.bits_per_char, 3)}</dd>` +
      `<dt>perplexity</dt><dd>${fixed(row.perplexity, 2)}</dd>` +
      `<dt>densest token</dt><dd>${dense ? esc(quote(dense.token)) + " (" + fixed(dense.surprisal_bits, 2) + " bits)" : "–"}</dd>` +
      `<dt>densest sentence</dt><dd>${sent ? esc(quote(sent.text)) + " (" + fixed(sent.mean_bits_per_token, 2) + " bits/token)" : "–"}</dd>` +
      `</dl>` +
      `<div class="text" dir="auto" role="group" aria-label="the text, token by token"></div>` +
      `<h3>Along the text</h3><div class="plot-wrap"><canvas class="plot" aria-label="the metric of each token along the text" role="img"></canvas><div class="marker" hidden></div></div>` +
      `<h3>Histogram</h3><canvas class="hist" role="img"></canvas><div class="axis"><span class="lo"></span><span class="mid"></span><span class="hi"></span></div>`;
    container.appendChild(col);
    const pane = {
      text, col, el: col.querySelector(".text"), plot: col.querySelector(".plot"), hist: col.querySelector(".hist"),
      marker: col.querySelector(".marker"), spans: null, active: null,
    };
    renderTokens(pane);
    panes.push(pane);
  });

  function renderTokens(pane) {
    // One string, one parse: fast even for long texts (8k tokens).
    const tk = pane.text.tokens, parts = new Array(tk.piece.length);
    for (let i = 0; i < tk.piece.length; i++) {
      let cls = "t";
      if (!tk.piece[i]) cls += " cont";
      if (tk.think[i]) cls += " think";
      parts[i] = `<span class="${cls}" data-i="${i}" tabindex="${i === 0 ? 0 : -1}">${esc(tk.piece[i])}</span>`;
    }
    pane.el.innerHTML = parts.join("");
    pane.spans = pane.el.children;
  }

  function paintPane(pane) {
    const m = state.metric, r = range(m), tk = pane.text.tokens;
    const word = state.unit === "word";
    const vals = values(pane.text, m);
    for (let i = 0; i < pane.spans.length; i++) {
      const v = word ? vals[tk.word[i]] : vals[i];
      const s = pane.spans[i].style;
      if (v === null || v === undefined) {
        pane.spans[i].classList.add("unscored");
        s.background = ""; s.color = "";
      } else {
        pane.spans[i].classList.remove("unscored");
        const c = colourIndex(v, r);
        s.background = S.colours[c]; s.color = S.ink[c];
      }
    }
    drawPlot(pane, vals, r);
    drawHist(pane, vals, r);
  }

  function sizeCanvas(cv) {
    const dpr = window.devicePixelRatio || 1, w = cv.clientWidth || 300, h = cv.clientHeight || 80;
    cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    return [g, w, h];
  }

  function drawPlot(pane, vals, r) {
    const [g, w, h] = sizeCanvas(pane.plot), n = vals.length, bw = w / Math.max(n, 1);
    for (let i = 0; i < n; i++) {
      const v = vals[i];
      if (v === null) continue;
      const t = Math.min(1, Math.max(0, (v - r[0]) / (r[1] - r[0])));
      const y = Math.max(1, t * (h - 2));
      g.fillStyle = S.colours[colourIndex(v, r)];
      g.fillRect(i * bw, h - 1 - y, Math.max(bw - (bw > 3 ? 1 : 0), 0.5), y);
    }
  }

  function drawHist(pane, vals, r) {
    const m = state.metric, bins = m === RANK ? S.rank_buckets.length : 20, counts = new Array(bins).fill(0);
    for (const v of vals) {
      if (v === null) continue;
      const b = m === RANK ? Math.round(v) : Math.floor(((v - r[0]) / (r[1] - r[0])) * bins);
      counts[Math.min(bins - 1, Math.max(0, b))]++;
    }
    const [g, w, h] = sizeCanvas(pane.hist), top = Math.max(1, ...counts), bw = w / bins;
    counts.forEach((c, b) => {
      const y = (c / top) * (h - 4);
      g.fillStyle = S.colours[Math.round(((b + 0.5) / bins) * (S.colours.length - 1))];
      g.fillRect(b * bw + 1, h - y, bw - 2, y);
    });
    const unit = state.unit === "word" ? "words" : "tokens";
    pane.hist.setAttribute("aria-label", `histogram of ${S.metrics[m].name} over ${vals.length} ${unit}; tallest bar ${top}`);
    const axis = pane.col.querySelector(".axis");
    axis.querySelector(".lo").textContent = m === RANK ? S.rank_buckets[0] : r[0].toFixed(1);
    axis.querySelector(".mid").textContent = `${S.metrics[m].name} (tallest bar: ${top} ${unit})`;
    axis.querySelector(".hi").textContent = m === RANK ? S.rank_buckets[bins - 1] : r[1].toFixed(1) + unitName(m);
  }

  function paint() {
    legend();
    for (const p of panes) paintPane(p);
    // Metrics that need the words: all are defined for words (entropy, varentropy, rank: before the word's first token).
  }

  // ---- tooltip and linking ----
  function tipHtml(pane, i) {
    const tk = pane.text.tokens;
    let html = "";
    if (state.unit === "word") {
      const w = tk.word[i], ws = pane.text.words;
      html += `<div class="head">word ${esc(quote(ws.text[w]))} (tokens ${ws.first[w]}–${ws.last[w]})</div><table>` +
        S.metrics.map((m, k) => `<tr><th>${esc(m.name)}</th><td data-k="word-${k}">${esc(fmtValue(k, ws.values[k][w]))}</td></tr>`).join("") +
        `</table><div class="head" style="margin-top:.4rem">this token</div>`;
    }
    html += `<div class="head"><code>${esc(quote(tk.token[i]))}</code> · token ${i}${tk.think[i] ? " · think point" : ""}</div><table>` +
      `<tr><th>id</th><td data-k="id">${tk.id[i]}</td></tr>` +
      `<tr><th>bytes</th><td data-k="bytes" class="mono">${esc(tk.bytes[i])}</td></tr>`;
    if (!tk.scored[i]) {
      html += `<tr><th>scored</th><td data-k="scored">no (no context before it)</td></tr></table>`;
      return html;
    }
    html +=
      `<tr><th>surprisal</th><td><span data-k="surprisal">${bits(tk.surprisal[i])}</span> bits</td></tr>` +
      `<tr><th>probability</th><td data-k="probability">${prob(tk.probability[i])}</td></tr>` +
      `<tr><th>entropy before</th><td><span data-k="entropy">${bits(tk.entropy[i])}</span> bits</td></tr>` +
      `<tr><th>varentropy</th><td><span data-k="varentropy">${bits(tk.varentropy[i])}</span> bits²</td></tr>` +
      `<tr><th>rank</th><td><span data-k="rank">${tk.rank[i]}</span> (bucket ${esc(S.rank_buckets[tk.values[RANK][i]])})</td></tr>` +
      `</table>`;
    const top = tk.top[i];
    if (top.length) {
      const best = top[0][2] || 1;
      html += `<div class="head" style="margin-top:.4rem">the model's top ${top.length}</div><ol data-k="top">` +
        top.map(([id, tok, p]) =>
          `<li data-id="${id}"><code>${esc(quote(tok))}</code><span class="pbar" style="width:${((p / best) * 100).toFixed(1)}%"></span><span class="num" data-k="alt-p">${prob(p)}</span></li>`).join("") +
        `</ol>`;
    }
    return html;
  }

  let tipAt = null; // [pane, token] the tooltip is showing

  function showTip(pane, i) {
    tip.innerHTML = tipHtml(pane, i);
    tip.hidden = false;
    tipAt = [pane, i];
    placeTip();
    for (const p of panes) highlight(p, p === pane ? i : null);
    pane.spans[i].setAttribute("aria-describedby", "tip");
  }

  // Next to its token, below it, or above when there is no room below.
  function placeTip() {
    const span = tipAt[0].spans[tipAt[1]];
    const r = span.getBoundingClientRect(), tw = tip.offsetWidth, th = tip.offsetHeight;
    let x = Math.min(r.left, window.innerWidth - tw - 8), y = r.bottom + 6;
    if (y + th > window.innerHeight - 4) y = Math.max(4, r.top - th - 6);
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = y + "px";
  }

  function hideTip() {
    tip.hidden = true;
    tipAt = null;
    for (const p of panes) highlight(p, null);
  }

  function highlight(pane, i) {
    if (pane.active !== null && pane.spans[pane.active]) {
      pane.spans[pane.active].classList.remove("hl");
      pane.spans[pane.active].removeAttribute("aria-describedby");
    }
    pane.active = i;
    if (i === null) { pane.marker.hidden = true; return; }
    pane.spans[i].classList.add("hl");
    const unit = state.unit === "word" ? pane.text.tokens.word[i] : i;
    const n = state.unit === "word" ? pane.text.words.text.length : pane.spans.length;
    pane.marker.hidden = false;
    pane.marker.style.left = ((unit + 0.5) / n) * pane.plot.clientWidth + "px";
  }

  const paneOf = (el) => panes.find((p) => p.el === el || p.plot === el);
  for (const pane of panes) {
    pane.el.addEventListener("mouseover", (e) => {
      const t = e.target.closest(".t");
      if (t) showTip(pane, +t.dataset.i);
    });
    pane.el.addEventListener("mouseleave", hideTip);
    pane.el.addEventListener("focusin", (e) => {
      const t = e.target.closest(".t");
      if (t) showTip(pane, +t.dataset.i);
    });
    pane.el.addEventListener("focusout", hideTip);
    pane.el.addEventListener("keydown", (e) => {
      const t = e.target.closest(".t");
      if (!t) return;
      const i = +t.dataset.i, last = pane.spans.length - 1;
      const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: last }[e.key];
      if (e.key === "Escape") { hideTip(); return; }
      if (next === undefined) return;
      e.preventDefault();
      const j = Math.min(last, Math.max(0, next));
      t.tabIndex = -1;
      pane.spans[j].tabIndex = 0;
      pane.spans[j].focus();
    });
    pane.plot.addEventListener("mousemove", (e) => {
      const p = paneOf(e.currentTarget), rect = p.plot.getBoundingClientRect();
      const word = state.unit === "word", n = word ? p.text.words.text.length : p.spans.length;
      const u = Math.min(n - 1, Math.max(0, Math.floor(((e.clientX - rect.left) / rect.width) * n)));
      const i = word ? p.text.words.first[u] : u;
      p.spans[i].scrollIntoView({ block: "nearest", inline: "nearest" });
      showTip(p, i);
    });
    pane.plot.addEventListener("mouseleave", hideTip);
    // Side by side, the texts scroll together (by the fraction scrolled).
    pane.el.addEventListener("scroll", () => {
      if (pane.syncing) { pane.syncing = false; return; }
      const el = pane.el, f = el.scrollTop / Math.max(1, el.scrollHeight - el.clientHeight);
      for (const q of panes) {
        if (q === pane) continue;
        const target = f * (q.el.scrollHeight - q.el.clientHeight);
        if (Math.abs(q.el.scrollTop - target) > 1) { q.syncing = true; q.el.scrollTop = target; }
      }
    });
  }
  // The tooltip follows its token when the page or a text scrolls.
  document.addEventListener("scroll", () => { if (tipAt) placeTip(); }, { passive: true, capture: true });
  window.addEventListener("resize", () => paint());

  // ---- the comparison table (two texts or more) and the provenance ----
  if (D.texts.length > 1) {
    const rows = D.texts.map((t) => t.row);
    const num = (label, v, d, decimals) => [label, rows.map((r, i) => fixed(v(r), decimals) + (i ? ` <span class="diff">(${signed(d(r), decimals)})</span>` : ""))];
    const tokq = (t) => (t ? esc(quote(t.token)) : "–");
    const b = (x) => (x === null || x === undefined ? "–" : fixed(x, 2) + " bits");
    const table = [
      ["tokens", rows.map((r, i) => r.tokens + (i ? ` <span class="diff">(${(r.diff_from_first.tokens >= 0 ? "+" : "") + r.diff_from_first.tokens})</span>` : ""))],
      num("total bits", (r) => r.total_bits, (r) => r.diff_from_first.total_bits, 2),
      num("mean bits/token", (r) => r.mean_bits_per_token, (r) => r.diff_from_first.mean_bits_per_token, 2),
      num("bits/char", (r) => r.bits_per_char, (r) => r.diff_from_first.bits_per_char, 3),
      num("perplexity", (r) => r.perplexity, (r) => r.diff_from_first.perplexity, 2),
      ["last word", rows.map((r) => (r.last_word ? esc(quote(r.last_word.word)) : "–"))],
      ["  surprisal", rows.map((r) => b(r.last_word && r.last_word.surprisal_bits))],
      ["  entropy before it", rows.map((r) => b(r.last_word && r.last_word.entropy_bits))],
      ["densest token", rows.map((r) => tokq(r.densest_token))],
      ["  surprisal", rows.map((r) => b(r.densest_token && r.densest_token.surprisal_bits))],
      ["highest entropy before", rows.map((r) => tokq(r.most_uncertain))],
      ["  entropy before it", rows.map((r) => b(r.most_uncertain && r.most_uncertain.entropy_bits))],
      ["densest sentence", rows.map((r) => (r.densest_sentence ? esc(quote(r.densest_sentence.text)) : "–"))],
      ["  bits/token", rows.map((r) => (r.densest_sentence ? `${fixed(r.densest_sentence.mean_bits_per_token, 2)} (${r.densest_sentence.tokens} tokens)` : "–"))],
    ];
    const head = `<tr><th scope="col"></th>${D.texts.map((t) => `<th scope="col" title="${esc(t.id)}">${esc(t.header)}</th>`).join("")}</tr>`;
    document.getElementById("compare-table").innerHTML =
      `<caption class="lede">differences from the first text in parentheses; surprisal and entropy in bits (log base 2)</caption>` + head +
      table.map(([label, cells]) => `<tr><th scope="row">${esc(label).replace(/^ +/, (s) => "&nbsp;".repeat(s.length * 2))}</th>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
    document.getElementById("comparison").hidden = false;
  }
  const P = D.provenance;
  const prov = [
    ["densi", P.densi_version], ["date (UTC)", P.date], ["model", P.model_path], ["model sha256", P.model_sha256],
    ["format", P.model_format], ["architecture", P.architecture], ["parameters", P.parameters.toLocaleString("en")],
    ["weights", P.weight_dtype], ["tokenizer", P.tokenizer], ["backend", P.backend + " (" + P.device + ")"],
    ["first token's context", typeof P.bos_policy === "string" ? P.bos_policy : JSON.stringify(P.bos_policy)],
    ["BOS token", P.bos_token === null ? "none" : P.bos_token + " " + quote(P.bos_token_text)],
    ["window / stride", P.window + " / " + P.stride + " tokens"], ["top-k kept", P.top_k], ["units", "bits"],
  ];
  document.getElementById("provenance-list").innerHTML = prov.map(([k, v]) => `<dt>${esc(k)}</dt><dd class="${k.includes("sha") ? "mono" : ""}">${esc(v)}</dd>`).join("");

  paint();
  performance.mark("densi-ready");
  document.documentElement.dataset.ready = "1";
})();
