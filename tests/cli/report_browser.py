#!/usr/bin/env python3
"""Checks a `densi report` page in a real headless Chromium, driven over the DevTools protocol by
Selenium and chromedriver (Debian: chromium, chromium-driver, python3-selenium). Run by
tests/cli/report.rs; exits 0 when every check passes, else prints what failed and exits 1.

Checks, for each text of the page:
- every token of the export is one rendered element, and their text concatenated is the input,
  byte for byte;
- hovering a token (and focusing one from the keyboard) shows a tooltip whose id, surprisal,
  probability, entropy, varentropy, rank and top-k alternatives are the JSON export's values (the
  page shows 3 decimals and 4 significant digits);
- switching the metric recolours the tokens, with the colour the embedded scale gives each value;
and for the page: no network request was made (only the page's own file:// URL was loaded); a
screenshot is not blank. Prints the measurements as one JSON line (`MEASURED {...}`).

With --pair, the page is `densi report --model A --model B` and the export its two-model JSON
export: each text has a row under A and a row under B whose text is the input; hovering a token in
either row shows both models' surprisal, probability, entropy and rank, delta_bits, KL both ways,
cross-entropy and both top-k lists as the export has them, and highlights the token in both rows;
the per-text summary (perplexities, mean KL both ways, cross-entropy, top-1 agreement, Binoculars)
is the export's; every colouring gives each row the colour of its own value on the embedded scale
(per-model metrics differ between the rows, delta and KL are the same in both).
"""
import argparse
import json
import os
import pathlib
import struct
import sys
import tempfile
import time
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

FAILURES = []


def check(ok, what):
    if not ok:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)
    return ok


def close(a, b, abs_tol=0.0, rel_tol=0.0):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(abs_tol, rel_tol * max(abs(a), abs(b)))


def png_pixels(png):
    """Decodes an 8-bit RGB or RGBA PNG (what Chromium writes) into rows of bytes (stdlib only)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), f"unexpected PNG type {depth}/{colour}"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i : i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return rows


def start(args):
    opts = Options()
    opts.binary_location = args.chromium
    profile = tempfile.mkdtemp(prefix="densi-chromium-")
    for a in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={args.width},{args.height}",
        "--force-device-scale-factor=1",
    ]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(args.chromedriver), options=opts)


def fitted_range(fixed, values):
    """The "fitted to the texts" range (README, report): the values' range; a metric whose fixed range
    starts at 0 or above starts at 0, a signed one is centred on 0."""
    vs = [v for v in values if v is not None]
    if not vs:
        return fixed
    lo, hi = min(vs), max(vs)
    if fixed[0] >= 0:
        lo = 0.0
    else:
        w = max(-lo, hi)
        lo, hi = -w, w
    if hi - lo < 1e-6:
        hi = lo + 1
    return [lo, hi]


def colour_of(scale, values, metric, v, rng=None):
    """The colour the page must give value v: the scale's own entry (fixed range, or `rng`)."""
    lo, hi = rng or scale["metrics"][metric]["range"]
    t = min(1.0, max(0.0, (v - lo) / (hi - lo)))
    return scale["colours"][int(t * (len(scale["colours"]) - 1) + 0.5)]


def css_rgb(hex_colour):
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def check_tooltip(driver, text_n, i, tok):
    tip = driver.find_element(By.ID, "tip")
    where = f"text {text_n} token {i} {tok['token']!r}"
    if not check(tip.is_displayed(), f"{where}: no tooltip shown"):
        return
    field = lambda k: tip.find_element(By.CSS_SELECTOR, f'[data-k="{k}"]').text
    check(int(field("id")) == tok["id"], f"{where}: id {field('id')} != {tok['id']}")
    if not tok["scored"]:
        check("no" in field("scored"), f"{where}: unscored token not marked")
        return
    for k, key in [("surprisal", "surprisal_bits"), ("entropy", "entropy_bits"), ("varentropy", "varentropy_bits2")]:
        check(close(float(field(k)), tok[key], abs_tol=6e-4), f"{where}: {k} {field(k)} != {tok[key]}")
    check(close(float(field("probability")), tok["probability"], rel_tol=1e-3, abs_tol=1e-12),
          f"{where}: probability {field('probability')} != {tok['probability']}")
    check(int(field("rank")) == tok["rank"], f"{where}: rank {field('rank')} != {tok['rank']}")
    alts = tip.find_elements(By.CSS_SELECTOR, '[data-k="top"] li')
    check(len(alts) == len(tok["top"]), f"{where}: {len(alts)} alternatives shown, export has {len(tok['top'])}")
    for li, alt in zip(alts, tok["top"]):
        check(int(li.get_attribute("data-id")) == alt["id"], f"{where}: alternative id {li.get_attribute('data-id')} != {alt['id']}")
        p = float(li.find_element(By.CSS_SELECTOR, '[data-k="alt-p"]').text)
        check(close(p, alt["probability"], rel_tol=1e-3, abs_tol=1e-12), f"{where}: alternative p {p} != {alt['probability']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", required=True)
    ap.add_argument("--export", help="the JSON export of the same inputs (densi export --format json)")
    ap.add_argument("--input", action="append", default=[], help="the input files, in order")
    ap.add_argument("--screenshot")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    ap.add_argument("--width", type=int, default=1500)
    ap.add_argument("--height", type=int, default=1100)
    ap.add_argument("--pair", action="store_true", help="a two-model page (--model A --model B)")
    ap.add_argument("--measure-only", action="store_true", help="only load the page and time it")
    args = ap.parse_args()

    page = pathlib.Path(args.page).resolve()
    url = page.as_uri()
    driver = start(args)
    measured = {"page_bytes": page.stat().st_size}
    try:
        # The start page's own requests (chrome://new-tab-page) are not the report's: drop them.
        driver.get("about:blank")
        driver.get_log("performance")
        t0 = time.perf_counter()
        driver.get(url)
        for _ in range(600):
            if driver.execute_script("return document.documentElement.dataset.ready === '1'"):
                break
            time.sleep(0.05)
        measured["load_to_ready_wall_ms"] = round((time.perf_counter() - t0) * 1000)
        measured["ready_ms_since_navigation"] = round(driver.execute_script(
            "const m = performance.getEntriesByName('densi-ready'); return m.length ? m[0].startTime : -1"))
        check(driver.execute_script("return document.documentElement.dataset.ready === '1'"), "the page never got ready")
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        check(not errors, f"console errors: {errors}")
        data = driver.execute_script("return JSON.parse(document.getElementById('densi-data').textContent)")
        # Time a metric switch (recolouring every token, redrawing the plots).
        t1 = driver.execute_script(
            "const t = performance.now(); document.querySelector('input[name=metric][value=\"1\"]').click();"
            "const d = performance.now() - t; document.querySelector('input[name=metric][value=\"0\"]').click(); return d")
        measured["metric_switch_ms"] = round(t1, 1)
        measured["tokens"] = sum(len(t["tokens"]["id"]) for t in data["texts"])
        if not args.measure_only:
            (run_pair_checks if args.pair else run_checks)(driver, args, data)
        # No network: the only request is the page itself.
        requests = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                requests.append(msg["params"]["request"]["url"])
        check(all(r == url for r in requests), f"requests other than the page: {[r for r in requests if r != url]}")
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        check(resources == [], f"resources loaded: {resources}")
        if args.screenshot:
            shot = driver.get_screenshot_as_png()
            pathlib.Path(args.screenshot).write_bytes(shot)
            rows = png_pixels(shot)
            colours, background, total = {}, rows[2][2], 0
            for row in rows[::4]:
                for px in row[::4]:
                    colours[px] = colours.get(px, 0) + 1
                    total += 1
            other = 1 - colours.get(background, 0) / total
            measured["screenshot_colours"] = len(colours)
            check(len(colours) > 64 and other > 0.1, f"blank screenshot: {len(colours)} colours, {other:.0%} not background")
    finally:
        driver.quit()
    print("MEASURED " + json.dumps(measured), flush=True)
    if FAILURES:
        print(f"{len(FAILURES)} checks failed", flush=True)
        sys.exit(1)
    print("all browser checks passed", flush=True)


def run_checks(driver, args, data):
    export = json.loads(pathlib.Path(args.export).read_text(encoding="utf-8"))
    texts = export["texts"]
    check(len(texts) == len(data["texts"]) == len(args.input), f"{len(texts)} texts exported, {len(data['texts'])} in the page, {len(args.input)} inputs")
    columns = driver.find_elements(By.CSS_SELECTOR, "#texts .column")
    check(len(columns) == len(texts), f"{len(columns)} columns for {len(texts)} texts")
    for n, (col, text, path) in enumerate(zip(columns, texts, args.input)):
        pane = col.find_element(By.CSS_SELECTOR, ".text")
        count, rendered, content = driver.execute_script(
            "const s = arguments[0].querySelectorAll('.t');"
            "return [s.length, Array.from(s).filter(e => e.getClientRects().length > 0).length, arguments[0].textContent]",
            pane)
        check(count == len(text["tokens"]), f"text {n}: {count} token elements, export has {len(text['tokens'])}")
        check(rendered == count, f"text {n}: {count - rendered} token elements not rendered")
        want = pathlib.Path(path).read_bytes()
        check(content.encode("utf-8") == want, f"text {n}: the page's text differs from {path}")
        spans = pane.find_elements(By.CSS_SELECTOR, ".t")
        toks = text["tokens"]
        densest = max((t for t in toks if t["scored"]), key=lambda t: t["surprisal_bits"])["index"]
        for i in sorted({0, 1, densest, len(toks) - 1} & set(range(len(toks)))):
            ActionChains(driver).move_to_element(spans[i]).perform()
            check_tooltip(driver, n, i, toks[i])
        # Keyboard: focus a token, then move with the arrow key.
        driver.execute_script("arguments[0].focus()", spans[0])
        check_tooltip(driver, n, 0, toks[0])
        if len(spans) > 1:
            spans[0].send_keys(Keys.ARROW_RIGHT)
            check(driver.switch_to.active_element == spans[1], f"text {n}: the right arrow did not move focus")
            check_tooltip(driver, n, 1, toks[1])
        ActionChains(driver).move_by_offset(0, 0).perform()

    # The metric switch recolours: each token gets the scale's colour for its new value.
    scale, before = data["scale"], None
    for metric in range(len(scale["metrics"])):
        driver.find_element(By.CSS_SELECTOR, f'input[name="metric"][value="{metric}"]').click()
        colours = driver.execute_script(
            "return Array.from(document.querySelectorAll('#texts .text')).map(p => Array.from(p.children).map(s => getComputedStyle(s).backgroundColor))")
        wrong = 0
        for t, cols in zip(data["texts"], colours):
            for v, c in zip(t["tokens"]["values"][metric], cols):
                if v is not None and css_rgb(colour_of(scale, t["tokens"]["values"], metric, v)) != c:
                    wrong += 1
        check(wrong == 0, f"metric {metric}: {wrong} tokens not coloured by their value")
        if before is not None:
            check(colours != before, f"metric {metric}: switching did not recolour")
        before = colours
    driver.find_element(By.CSS_SELECTOR, 'input[name="metric"][value="0"]').click()
    # Words: each token takes its word's colour.
    driver.find_element(By.CSS_SELECTOR, 'input[name="unit"][value="word"]').click()
    colours = driver.execute_script(
        "return Array.from(document.querySelector('#texts .text').children).map(s => getComputedStyle(s).backgroundColor)")
    t = data["texts"][0]
    wrong = sum(1 for i, c in enumerate(colours)
                if (v := t["words"]["values"][0][t["tokens"]["word"][i]]) is not None and css_rgb(colour_of(scale, None, 0, v)) != c)
    check(wrong == 0, f"word mode: {wrong} tokens not coloured by their word")
    driver.find_element(By.CSS_SELECTOR, 'input[name="unit"][value="token"]').click()
    # The fitted scale: surprisal on the range of the texts' own values.
    driver.find_element(By.CSS_SELECTOR, 'input[name="scale"][value="fitted"]').click()
    rng = fitted_range(scale["metrics"][0]["range"], [v for t in data["texts"] for v in t["tokens"]["values"][0]])
    colours = driver.execute_script(
        "return Array.from(document.querySelectorAll('#texts .text')).map(p => Array.from(p.children).map(s => getComputedStyle(s).backgroundColor))")
    wrong = sum(1 for t, cols in zip(data["texts"], colours) for v, c in zip(t["tokens"]["values"][0], cols)
                if v is not None and css_rgb(colour_of(scale, None, 0, v, rng)) != c)
    check(wrong == 0, f"fitted scale {rng}: {wrong} tokens not coloured by their value")
    driver.find_element(By.CSS_SELECTOR, 'input[name="scale"][value="fixed"]').click()
    # For the screenshot: hover the densest token of the first text.
    toks = texts[0]["tokens"]
    densest = max((t for t in toks if t["scored"]), key=lambda t: t["surprisal_bits"])["index"]
    span = columns[0].find_elements(By.CSS_SELECTOR, ".text .t")[densest]
    driver.execute_script("window.scrollTo(0, 0)")
    ActionChains(driver).move_to_element(span).perform()


def check_pair_tooltip(driver, where, tok):
    tip = driver.find_element(By.ID, "tip")
    if not check(tip.is_displayed(), f"{where}: no tooltip shown"):
        return
    field = lambda k: tip.find_element(By.CSS_SELECTOR, f'[data-k="{k}"]').text
    check(int(field("id")) == tok["token_id"], f"{where}: id {field('id')} != {tok['token_id']}")
    if not tok["scored"]:
        check("not scored" in field("scored"), f"{where}: unscored token not marked")
        return
    for side in "ab":
        for k, key in [("surprisal", "surprisal_bits"), ("entropy", "entropy_bits")]:
            got, want = float(field(f"{k}-{side}")), tok[f"{key}_{side}"]
            check(close(got, want, abs_tol=6e-4), f"{where}: {k} {side.upper()} {got} != {want}")
        p, want = float(field(f"probability-{side}")), 2.0 ** -tok[f"surprisal_bits_{side}"]
        check(close(p, want, rel_tol=1e-3, abs_tol=1e-12), f"{where}: probability {side.upper()} {p} != {want}")
        check(int(field(f"rank-{side}")) == tok[f"rank_{side}"], f"{where}: rank {side.upper()} {field(f'rank-{side}')} != {tok[f'rank_{side}']}")
        alts = tip.find_elements(By.CSS_SELECTOR, f'[data-k="top-{side}"] li')
        top = tok[f"top_{side}"]
        check(len(alts) == len(top), f"{where}: {len(alts)} alternatives of {side.upper()} shown, export has {len(top)}")
        for li, alt in zip(alts, top):
            check(int(li.get_attribute("data-id")) == alt["id"], f"{where}: {side.upper()} alternative id {li.get_attribute('data-id')} != {alt['id']}")
            p = float(li.find_element(By.CSS_SELECTOR, '[data-k="alt-p"]').text)
            check(close(p, alt["probability"], rel_tol=1e-3, abs_tol=1e-12), f"{where}: {side.upper()} alternative p {p} != {alt['probability']}")
    for k, key in [("delta", "delta_bits"), ("kl_ab", "kl_ab_bits"), ("kl_ba", "kl_ba_bits"), ("cross_entropy_ab", "cross_entropy_ab_bits")]:
        got = float(field(k))
        check(close(got, tok[key], abs_tol=6e-4), f"{where}: {k} {got} != {tok[key]}")
    check(field("top1") == ("differs" if tok["top1_differs"] else "agrees"), f"{where}: top-1 {field('top1')} != {tok['top1_differs']}")


def run_pair_checks(driver, args, data):
    export = json.loads(pathlib.Path(args.export).read_text(encoding="utf-8"))
    texts = export["texts"]
    check(len(texts) == len(data["texts"]) == len(args.input), f"{len(texts)} texts exported, {len(data['texts'])} in the page, {len(args.input)} inputs")
    columns = driver.find_elements(By.CSS_SELECTOR, "#texts .column")
    check(len(columns) == len(texts), f"{len(columns)} columns for {len(texts)} texts")
    for n, (col, text, path) in enumerate(zip(columns, texts, args.input)):
        toks = text["tokens"]
        # The summary, as the export has it (3-4 decimals shown).
        s = text["summary"]
        cell = lambda k: float(col.find_element(By.CSS_SELECTOR, f'[data-k="summary"] [data-k="{k}"]').text)
        for k, decimals in [("perplexity_a", 3), ("perplexity_b", 3), ("mean_kl_ab_bits", 4), ("mean_kl_ba_bits", 4),
                            ("mean_cross_entropy_ab_bits", 4), ("binoculars", 4)]:
            check(close(cell(k), s[k], abs_tol=0.6 * 10 ** -decimals), f"text {n}: summary {k} {cell(k)} != {s[k]}")
        check(close(cell("top1_agreement"), 100 * (1 - s["top1_disagreement"]), abs_tol=0.06), f"text {n}: top-1 agreement {cell('top1_agreement')} != {s}")
        check(int(cell("scored_tokens")) == s["scored_tokens"], f"text {n}: scored tokens")
        want = pathlib.Path(path).read_bytes()
        rows = {}
        for side in "ab":
            row = col.find_element(By.CSS_SELECTOR, f".text.row-{side}")
            count, rendered, content = driver.execute_script(
                "const s = arguments[0].querySelectorAll('.t');"
                "return [s.length, Array.from(s).filter(e => e.getClientRects().length > 0).length, arguments[0].textContent]",
                row)
            check(count == len(toks), f"text {n} row {side.upper()}: {count} token elements, export has {len(toks)}")
            check(rendered == count, f"text {n} row {side.upper()}: {count - rendered} token elements not rendered")
            check(content.encode("utf-8") == want, f"text {n} row {side.upper()}: the page's text differs from {path}")
            rows[side] = row.find_elements(By.CSS_SELECTOR, ".t")
        largest_kl = max((t for t in toks if t["scored"]), key=lambda t: t["kl_ab_bits"])["token_index"]
        for side in "ab":
            for i in sorted({0, 1, largest_kl, len(toks) - 1} & set(range(len(toks)))):
                span = rows[side][i]
                # A span of only a line break has no area of its own to hover: focus it instead.
                hoverable = driver.execute_script(
                    "const r = arguments[0].getBoundingClientRect(); arguments[0].scrollIntoView({block: 'center'});"
                    "const q = arguments[0].getBoundingClientRect();"
                    "return r.width > 1 && document.elementFromPoint(q.left + q.width / 2, q.top + q.height / 2) === arguments[0]", span)
                if hoverable:
                    ActionChains(driver).move_to_element(span).perform()
                else:
                    driver.execute_script("arguments[0].focus()", span)
                where = f"text {n} row {side.upper()} token {i} {toks[i]['token']!r}"
                check_pair_tooltip(driver, where, toks[i])
                both = [("hl" in rows[x][i].get_attribute("class").split()) for x in "ab"]
                check(all(both), f"{where}: not highlighted in both rows ({both})")
        # Keyboard: focus a token of row B, then move with the arrow key.
        driver.execute_script("arguments[0].focus()", rows["b"][0])
        check_pair_tooltip(driver, f"text {n} row B focused token 0", toks[0])
        if len(toks) > 1:
            rows["b"][0].send_keys(Keys.ARROW_RIGHT)
            check(driver.switch_to.active_element == rows["b"][1], f"text {n}: the right arrow did not move focus")
            check_pair_tooltip(driver, f"text {n} row B token 1 by keyboard", toks[1])
        ActionChains(driver).move_by_offset(0, 0).perform()

    # Every colouring: each row's token gets the scale's colour for that row's own value.
    scale = {"colours": data["colours"], "metrics": data["metrics"]}
    before = None
    for metric, info in enumerate(data["metrics"]):
        driver.find_element(By.CSS_SELECTOR, f'input[name="metric"][value="{metric}"]').click()
        colours = driver.execute_script(
            "return Array.from(document.querySelectorAll('#texts .column')).map(c => ['a', 'b'].map(s =>"
            " Array.from(c.querySelector('.row-' + s).children).map(e => getComputedStyle(e).backgroundColor)))")
        wrong, coloured = 0, 0
        for t, (ca, cb) in zip(data["texts"], colours):
            for side, cols in (("a", ca), ("b", cb)):
                for v, c in zip(t["tokens"][side]["values"][metric], cols):
                    if v is not None:
                        coloured += 1
                        wrong += css_rgb(colour_of(scale, None, metric, v)) != c
        check(coloured > 0 and wrong == 0, f"colouring {info['name']}: {wrong} of {coloured} tokens not coloured by their value")
        same_rows = all(ca == cb for ca, cb in colours)
        if info["per_model"]:
            check(not same_rows, f"colouring {info['name']}: rows A and B coloured alike (the models differ)")
        else:
            check(same_rows, f"colouring {info['name']}: one value per position, but the rows differ")
        if before is not None:
            check(colours != before, f"colouring {info['name']}: switching did not recolour")
        before = colours
        # The fitted scale over both rows (a signed colouring such as delta stays centred on 0).
        driver.find_element(By.CSS_SELECTOR, 'input[name="scale"][value="fitted"]').click()
        rng = fitted_range(info["range"], [v for t in data["texts"] for side in "ab" for v in t["tokens"][side]["values"][metric]])
        fitted = driver.execute_script(
            "return Array.from(document.querySelectorAll('#texts .column')).map(c => ['a', 'b'].map(s =>"
            " Array.from(c.querySelector('.row-' + s).children).map(e => getComputedStyle(e).backgroundColor)))")
        wrong = sum(css_rgb(colour_of(scale, None, metric, v, rng)) != c
                    for t, (ca, cb) in zip(data["texts"], fitted) for side, cols in (("a", ca), ("b", cb))
                    for v, c in zip(t["tokens"][side]["values"][metric], cols) if v is not None)
        check(wrong == 0, f"colouring {info['name']}, fitted scale {rng}: {wrong} tokens not coloured by their value")
        driver.find_element(By.CSS_SELECTOR, 'input[name="scale"][value="fixed"]').click()
    driver.find_element(By.CSS_SELECTOR, 'input[name="metric"][value="0"]').click()
    # For the screenshot: hover the position of largest KL in row B of the first text.
    toks = texts[0]["tokens"]
    i = max((t for t in toks if t["scored"]), key=lambda t: t["kl_ab_bits"])["token_index"]
    driver.execute_script("window.scrollTo(0, 0)")
    ActionChains(driver).move_to_element(columns[0].find_elements(By.CSS_SELECTOR, ".row-b .t")[i]).perform()


if __name__ == "__main__":
    main()
