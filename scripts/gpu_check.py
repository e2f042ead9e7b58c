#!/usr/bin/env python3
# The Python half of scripts/gpu-check.sh (run by it; see there for the whole procedure).
#
#   gpu_check.py --out DIR --gguf MODEL.gguf --lengths 128,512 [--device cuda] [--repeats 5]
#
# Reads what the shell half wrote to DIR (bench-{resident,f32}-{f32,f16}.txt: `densi bench` output per
# --weights and --dtype; parity-cpu.csv and parity-gpu-{resident,f32}-{f32,f16}.csv: `densi export
# --format csv` of the three example prompts; info.txt: `densi info`; steps.tsv: seconds per step), then:
#  1. PyTorch baseline: the same GGUF loaded into transformers (dequantized to float32; the `gguf`
#     package must be importable), attn_implementation "eager" and "sdpa", float32, on --device; per
#     length one synthetic sequence (torch.randint, seed 0), 1 warm-up + --repeats timed runs (median),
#     each run = forward + log-softmax + target log-probability + entropy + top-5 (what one densi
#     `score_window` computes), synchronized before the clock stops.
#  2. Parity: transformers float32 surprisal/entropy (float64 log-softmax) on the token ids densi's CPU
#     export lists, with the first token's context `densi info` reports for `--bos auto` (info.txt),
#     against densi CPU and each GPU setting: max |Δ| in bits over the scored tokens.
#  3. One table, DIR/table.md (and DIR/results.json): per engine, setting and length tokens/s, GFLOP/s,
#     peak RSS and GPU buffer bytes; the per-kernel share at each length; the parity numbers; the
#     seconds each step took.
import argparse, csv, json, math, os, re, statistics, sys, time

# densi's GPU settings, in the order the shell half runs them: (--weights, --dtype).
SETTINGS = [("resident", "f32"), ("resident", "f16"), ("f32", "f32"), ("f32", "f16")]


def parse_bench(path):
    """`densi bench` text → {"device", "rows": {tokens: {column: value}}, "kernels": {tokens: [(name, ms, pct)]}, "error"}.

    The row columns are read by the header's names (two or more spaces apart), so a column added or
    left out (`of peak` with --peak-gflops, `GPU bufs` on the GPU) moves nothing."""
    out = {"device": None, "rows": {}, "kernels": {}, "error": None}
    if not os.path.exists(path):
        out["error"] = "not run"
        return out
    text = open(path).read()
    m = re.search(r"^backend:\s*(.*)$", text, re.M)
    out["device"] = m.group(1).strip() if m else None
    header = None
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] == "tokens":
            header = cells
        elif header and cells and cells[0].isdigit() and len(cells) == len(header):
            row = dict(zip(header, cells))
            out["rows"][int(row["tokens"])] = {
                "seconds": float(row["seconds"]),
                "tokens_per_s": float(row["tokens/s"]),
                "gflops": float(row["GFLOP/s"]),
                "peak_rss": row.get("peak RSS"),
                "gpu_bufs": row.get("GPU bufs"),
            }
    for block in re.finditer(r"^kernels at (\d+) tokens.*?:\n((?:  .*\n?)*)", text, re.M):
        rows = []
        for line in block.group(2).splitlines():
            k = re.match(r"\s+(.*?)\s+([\d.]+) ms\s+([\d.]+)%", line)
            if k:
                rows.append((k.group(1), float(k.group(2)), float(k.group(3))))
        out["kernels"][int(block.group(1))] = rows
    if not out["rows"]:
        out["error"] = text.strip().splitlines()[-1] if text.strip() else "no output"
    return out


def read_export(path):
    """densi export csv → {text_id: [(token_id, surprisal_bits, entropy_bits, scored)]}."""
    texts = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            texts.setdefault(row["text_id"], []).append(
                (int(row["token_id"]), float(row["surprisal_bits"] or "nan"), float(row["entropy_bits"] or "nan"), row["scored"] == "true")
            )
    return texts


def load_model(gguf_path, attn, device):
    import torch
    from transformers import AutoModelForCausalLM
    d, f = os.path.split(os.path.abspath(gguf_path))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation=attn)
    return model.to(device).eval()


def first_context_id(info_path):
    """The token densi's `--bos auto` puts before the first token, as `densi info` reports it
    (`bos (auto)    <|endoftext|> (id 0, ...)`); None when it prepends nothing."""
    m = re.search(r"^bos \(auto\)\s+.*?\(id (\d+)", open(info_path).read(), re.M)
    return int(m.group(1)) if m else None


def torch_bench(model, lengths, repeats, device, vocab):
    import torch
    out = {}
    gen = torch.Generator().manual_seed(0)
    for n in lengths:
        ids = torch.randint(0, vocab, (1, n), generator=gen).to(device)

        def run():
            with torch.no_grad():
                logits = model(ids).logits[0, :-1].float()
                lp = torch.log_softmax(logits, -1)
                target = lp.gather(1, ids[0, 1:, None])[:, 0]
                entropy = -(lp.exp() * lp).sum(-1)
                top = lp.topk(5, -1)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return target, entropy, top

        run()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        s = statistics.median(times)
        out[n] = {"seconds": s, "tokens_per_s": n / s}
        print(f"  torch {n:>5} tokens: {s * 1e3:9.2f} ms  {n / s:10.0f} tokens/s", file=sys.stderr, flush=True)
    return out


def hf_stats(model, ids, device):
    """(surprisal_bits, entropy_bits) of ids[1:] given ids[:i], float64 log-softmax of float32 logits."""
    import torch
    with torch.no_grad():
        logits = model(torch.tensor([ids], device=device)).logits[0, :-1].double()
    lp = torch.log_softmax(logits, -1)
    tgt = torch.tensor(ids[1:], device=device)
    s = (-lp.gather(1, tgt[:, None])[:, 0] / math.log(2)).tolist()
    h = (-(lp.exp() * lp).sum(-1) / math.log(2)).tolist()
    return s, h


def parity_against(ref, path):
    """Max |Δ| of one densi export against the transformers reference, over its scored tokens."""
    if not os.path.exists(path):
        return None
    ds, dh, n = 0.0, 0.0, 0
    for tid, rows in read_export(path).items():
        if tid not in ref or len(rows) != len(ref[tid][2]) or [r[0] for r in rows] != ref[tid][2]:
            return {"error": f"{tid}: other token ids than the CPU export"}
        rs, rh, _ = ref[tid]
        for (tok, s, h, scored), s_ref, h_ref in zip(rows, rs, rh):
            if scored:
                ds, dh, n = max(ds, abs(s - s_ref)), max(dh, abs(h - h_ref)), n + 1
    return {"tokens": n, "max_abs_surprisal_bits": ds, "max_abs_entropy_bits": dh}


def read_steps(path):
    if not os.path.exists(path):
        return []
    return [(name, int(s)) for name, s in (line.rstrip("\n").split("\t") for line in open(path) if line.strip())]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--lengths", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps-start", type=float, help="epoch seconds this step began (for steps.tsv)")
    ap.add_argument("--total-start", type=float, help="epoch seconds the whole check began")
    a = ap.parse_args()
    lengths = [int(x) for x in a.lengths.split(",") if x]
    import torch
    import transformers

    device = a.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check.py: CUDA is not available; the PyTorch baseline runs on the CPU", file=sys.stderr)
        device = "cpu"
    res = {"lengths": lengths, "torch_device": device, "torch": torch.__version__, "transformers": transformers.__version__}
    if device.startswith("cuda"):
        res["torch_device_name"] = torch.cuda.get_device_name(0)
    res["densi"] = {f"{w} {dt}": parse_bench(os.path.join(a.out, f"bench-{w}-{dt}.txt")) for w, dt in SETTINGS}

    res["pytorch"] = {}
    parity_model = None
    for attn in ("eager", "sdpa"):
        t0 = time.time()
        model = load_model(a.gguf, attn, device)
        print(f"gpu_check.py: transformers {attn} loaded in {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
        res["pytorch"][attn] = torch_bench(model, lengths, a.repeats, device, model.config.vocab_size)
        if attn == "eager":
            parity_model = model
        else:
            del model

    # Parity on the example prompts, against transformers float32 on densi's own token ids.
    parity = {}
    cpu_csv = os.path.join(a.out, "parity-cpu.csv")
    if os.path.exists(cpu_csv):
        first = first_context_id(os.path.join(a.out, "info.txt"))
        ref = {}
        for tid, rows in read_export(cpu_csv).items():
            tokens = [r[0] for r in rows]
            if first is None:  # no context: the first token is not scored
                s, h = hf_stats(parity_model, tokens, device)
                s, h = [math.nan] + s, [math.nan] + h
            else:
                s, h = hf_stats(parity_model, [first] + tokens, device)
            ref[tid] = (s, h, tokens)
        parity["cpu"] = parity_against(ref, cpu_csv)
        for w, dt in SETTINGS:
            parity[f"gpu {w} {dt}"] = parity_against(ref, os.path.join(a.out, f"parity-gpu-{w}-{dt}.csv"))
    res["parity_vs_transformers"] = parity
    steps = read_steps(os.path.join(a.out, "steps.tsv"))
    if a.steps_start:
        steps.append(("pytorch+parity", round(time.time() - a.steps_start)))
    if a.total_start:
        steps.append(("total", round(time.time() - a.total_start)))
    res["steps_seconds"] = steps
    devices = os.path.join(a.out, "devices.txt")
    res["devices"] = open(devices).read() if os.path.exists(devices) else None
    json.dump(res, open(os.path.join(a.out, "results.json"), "w"), indent=1)
    open(os.path.join(a.out, "table.md"), "w").write(table(res))
    print(table(res))


def table(res):
    L = []
    device = next((d["device"] for d in res["densi"].values() if d["device"]), None)
    L.append(f"densi GPU: {device or 'no adapter ran'}; PyTorch {res['torch']}, transformers {res['transformers']} "
             f"on {res.get('torch_device_name', res['torch_device'])}")
    L.append("")
    L.append("| engine | weights | dtype | tokens | tokens/s | ÷ torch sdpa | GFLOP/s | peak RSS | GPU bufs |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    f = lambda v: f"{v:,.0f}" if v else "—"
    sdpa = res["pytorch"].get("sdpa", {})
    for n in res["lengths"]:
        ref = sdpa.get(n, {}).get("tokens_per_s")
        for key, d in res["densi"].items():
            w, dt = key.split()
            r = d["rows"].get(n)
            if r is None:
                L.append(f"| densi gpu | {w} | {dt} | {n} | {d['error'] or 'no row'} | | | | |")
                continue
            ratio = f"{r['tokens_per_s'] / ref:.2f}×" if ref else "—"
            L.append(f"| densi gpu | {w} | {dt} | {n} | {f(r['tokens_per_s'])} | {ratio} | {r['gflops']:.1f} | "
                     f"{r['peak_rss'] or '—'} | {r['gpu_bufs'] or '—'} |")
        for attn in ("eager", "sdpa"):
            t = res["pytorch"].get(attn, {}).get(n, {}).get("tokens_per_s")
            ratio = f"{t / ref:.2f}×" if t and ref else "—"
            L.append(f"| torch {attn} | float32 | f32 | {n} | {f(t)} | {ratio} | | | |")
    for key, d in res["densi"].items():
        for n, rows in sorted(d["kernels"].items()):
            total = sum(r[1] for r in rows)
            L.append("")
            L.append(f"densi {key} kernels at {n} tokens (timestamps, {total:.3f} ms): " +
                     ", ".join(f"{name} {pct:.1f}%" for name, _, pct in rows))
    L.append("")
    L.append("| parity vs transformers float32 (example prompts) | tokens | max abs Δ surprisal (bits) | max abs Δ entropy (bits) |")
    L.append("|---|---:|---:|---:|")
    for name, p in res["parity_vs_transformers"].items():
        if p and "error" in p:
            L.append(f"| densi {name} | {p['error']} | | |")
        elif p:
            L.append(f"| densi {name} | {p['tokens']} | {p['max_abs_surprisal_bits']:.2e} | {p['max_abs_entropy_bits']:.2e} |")
        else:
            L.append(f"| densi {name} | not run | | |")
    if res.get("steps_seconds"):
        L.append("")
        L.append("seconds per step: " + ", ".join(f"{name} {s}" for name, s in res["steps_seconds"]))
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
