#!/usr/bin/env python3
# The Python half of scripts/gpu-check.sh (run by it; see there for the whole procedure).
#
#   gpu_check.py --out DIR --gguf MODEL.gguf --lengths 128,512 [--device cuda] [--repeats 5]
#
# Reads what the shell half wrote to DIR (bench-f32.txt, bench-f16.txt: `densi bench` output;
# parity-{cpu,gpu-f32,gpu-f16}.csv: `densi export --format csv` of the three example prompts), then:
#  1. PyTorch baseline: the same GGUF loaded into transformers (dequantized to float32; the `gguf`
#     package must be importable), attn_implementation "eager" and "sdpa", float32, on --device; per
#     length one synthetic sequence (torch.randint, seed 0), 1 warm-up + --repeats timed runs (median),
#     each run = forward + log-softmax + target log-probability + entropy + top-5 (what one densi
#     `score_window` computes), synchronized before the clock stops.
#  2. Parity: transformers float32 surprisal/entropy (float64 log-softmax) on the token ids densi's CPU
#     export lists (the model's BOS, tokenizer.ggml.bos_token_id, prepended as densi's `--bos auto` does),
#     against densi CPU, GPU f32 and GPU f16: max |Δ| in bits.
#  3. One table, DIR/table.md (and DIR/results.json): tokens/s per length for densi GPU f32, f16 and
#     PyTorch eager, sdpa; the per-kernel share at each length; the parity numbers.
import argparse, csv, json, math, os, re, statistics, sys, time


def parse_bench(path):
    """`densi bench` text → {"device": str, "rows": {tokens: tokens_per_s}, "kernels": {tokens: [(name, ms, pct)]}}."""
    out = {"device": None, "rows": {}, "kernels": {}, "error": None}
    if not os.path.exists(path):
        out["error"] = "not run"
        return out
    text = open(path).read()
    m = re.search(r"^backend:\s*(.*)$", text, re.M)
    out["device"] = m.group(1).strip() if m else None
    for m in re.finditer(r"^\s*(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text, re.M):
        out["rows"][int(m.group(1))] = {"seconds": float(m.group(2)), "tokens_per_s": float(m.group(4)), "gflops": float(m.group(5))}
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


def bos_id(gguf_path):
    from gguf import GGUFReader
    field = GGUFReader(gguf_path).fields.get("tokenizer.ggml.bos_token_id")
    return int(field.parts[field.data[0]][0]) if field is not None else None


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--lengths", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeats", type=int, default=5)
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
    res["densi"] = {dt: parse_bench(os.path.join(a.out, f"bench-{dt}.txt")) for dt in ("f32", "f16")}

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

    # Parity on the example prompts.
    parity = {}
    cpu_csv = os.path.join(a.out, "parity-cpu.csv")
    if os.path.exists(cpu_csv):
        bos = bos_id(a.gguf)
        ref = {}
        for tid, rows in read_export(cpu_csv).items():
            ids = ([bos] if bos is not None else []) + [r[0] for r in rows]
            s, h = hf_stats(parity_model, ids, device)
            ref[tid] = (s[-len(rows):], h[-len(rows):])
        for name in ("cpu", "gpu-f32", "gpu-f16"):
            path = os.path.join(a.out, f"parity-{name}.csv")
            if not os.path.exists(path):
                parity[name] = None
                continue
            ds, dh, n = 0.0, 0.0, 0
            for tid, rows in read_export(path).items():
                rs, rh = ref[tid]
                for (tok, s, h, scored), s_ref, h_ref in zip(rows, rs, rh):
                    if scored:
                        ds, dh, n = max(ds, abs(s - s_ref)), max(dh, abs(h - h_ref)), n + 1
            parity[name] = {"tokens": n, "max_abs_surprisal_bits": ds, "max_abs_entropy_bits": dh}
    res["parity_vs_transformers"] = parity
    json.dump(res, open(os.path.join(a.out, "results.json"), "w"), indent=1)
    open(os.path.join(a.out, "table.md"), "w").write(table(res))
    print(table(res))


def table(res):
    L = []
    d32, d16 = res["densi"]["f32"], res["densi"]["f16"]
    L.append(f"densi GPU: {d32['device'] or d32['error']}; PyTorch {res['torch']}, transformers {res['transformers']} "
             f"on {res.get('torch_device_name', res['torch_device'])}")
    L.append("")
    L.append("| tokens | densi f32 tok/s | densi f16 tok/s | torch eager f32 tok/s | torch sdpa f32 tok/s | densi f32 / eager |")
    L.append("|---:|---:|---:|---:|---:|---:|")
    for n in res["lengths"]:
        a = d32["rows"].get(n, {}).get("tokens_per_s")
        b = d16["rows"].get(n, {}).get("tokens_per_s")
        e = res["pytorch"].get("eager", {}).get(n, {}).get("tokens_per_s")
        s = res["pytorch"].get("sdpa", {}).get(n, {}).get("tokens_per_s")
        f = lambda v: f"{v:,.0f}" if v else "—"
        ratio = f"{a / e:.2f}×" if a and e else "—"
        L.append(f"| {n} | {f(a)} | {f(b)} | {f(e)} | {f(s)} | {ratio} |")
    for dt, d in (("f32", d32), ("f16", d16)):
        for n, rows in sorted(d["kernels"].items()):
            total = sum(r[1] for r in rows)
            L.append("")
            L.append(f"densi {dt} kernels at {n} tokens (timestamps, {total:.3f} ms): " +
                     ", ".join(f"{name} {pct:.1f}%" for name, _, pct in rows))
    L.append("")
    L.append("| parity vs transformers float32 (example prompts) | tokens | max abs Δ surprisal (bits) | max abs Δ entropy (bits) |")
    L.append("|---|---:|---:|---:|")
    for name, p in res["parity_vs_transformers"].items():
        if p:
            L.append(f"| densi {name} | {p['tokens']} | {p['max_abs_surprisal_bits']:.2e} | {p['max_abs_entropy_bits']:.2e} |")
        else:
            L.append(f"| densi {name} | not run | | |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
