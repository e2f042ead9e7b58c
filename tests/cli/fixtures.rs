//! End-to-end tests of every command and export format on the tiny fixture models
//! (tests/fixtures, made by make_fixtures.py): the outputs parse, have the documented columns,
//! agree with each other and with the library's own results, and with transformers' golden values.

use crate::common::*;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use densi::backend::BackendChoice;
use densi::backend::BackendOptions;
use densi::metrics::TextScore;
use densi::score::ScoreOptions;

const TOKEN_COLUMNS: [&str; 19] = [
    "text_id",
    "token_index",
    "token_id",
    "token",
    "byte_start",
    "byte_end",
    "char_start",
    "char_end",
    "surprisal_bits",
    "probability",
    "entropy_bits",
    "varentropy_bits2",
    "rank",
    "top1_token",
    "top1_probability",
    "scored",
    // issue 11, after the original columns
    "excess_bits",
    "z",
    "boundary_bits",
];

const WORD_COLUMNS: [&str; 17] = [
    "text_id",
    "word_index",
    "word",
    "byte_start",
    "byte_end",
    "char_start",
    "char_end",
    "token_start",
    "token_end",
    "tokens",
    "surprisal_bits",
    "surprisal_bits_uncorrected",
    "bow_bits",
    "eow_bits",
    "probability",
    "entropy_bits",
    "scored",
];

/// The models every format test runs on: safetensors directories and a quantized GGUF.
fn models() -> Vec<PathBuf> {
    ["llama", "gpt2", "qwen2", "gguf/tiny-llama-Q4_1.gguf"].iter().filter_map(|m| fixture(m)).collect()
}

fn text_file(name: &str) -> Option<PathBuf> {
    fixture(&format!("texts/{name}.txt"))
}

/// The library's own result for a text, on the CPU with one thread (the CLI runs with `--threads 1`
/// too, so both sum in the same order and agree exactly).
fn library_score(model: &Path, id: &str, text: &str, bos: &str) -> TextScore {
    let m = Arc::new(densi::model::Model::load(model).unwrap());
    let backend = BackendOptions { choice: BackendChoice::Cpu, threads: Some(1), ..Default::default() };
    let opts = ScoreOptions { bos: bos.parse().unwrap(), ..Default::default() };
    let mut scorer = densi::backend::scorer(&m, &backend, opts).unwrap();
    scorer.score(id, text).unwrap()
}

fn cli(model: &Path, args: &[&str]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--model", s(model), "--backend", "cpu", "--threads", "1"]);
    ok(&all)
}

fn read_csv(data: &str, delim: u8) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut r = csv::ReaderBuilder::new().delimiter(delim).from_reader(data.as_bytes());
    let headers = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r.records().map(|r| r.unwrap()).collect();
    (headers, rows)
}

fn num(field: &str) -> f64 {
    if field.is_empty() { f64::NAN } else { field.parse().unwrap_or_else(|_| panic!("not a number: {field:?}")) }
}

#[test]
fn json_export_equals_the_library_and_the_golden_values() {
    let Some(text_path) = text_file("english") else { return };
    let text = std::fs::read_to_string(&text_path).unwrap();
    for model in models() {
        let doc = json(&cli(&model, &["export", s(&text_path), "-f", "json"]));
        let lib = library_score(&model, s(&text_path), &text, "auto");
        let p = &doc["provenance"];
        assert_eq!(p["densi_version"], format!("densi {}", env!("CARGO_PKG_VERSION")));
        assert_eq!(p["backend"], "cpu");
        assert_eq!(p["units"], "bits");
        assert_eq!(p["window"], lib.settings.window);
        assert_eq!(p["stride"], lib.settings.stride);
        assert_eq!(p["model_sha256"].as_str().unwrap().len(), 64);
        let m = densi::model::Model::load(&model).unwrap();
        assert_eq!(p["parameters"], m.config.parameter_count());
        assert_eq!(p["architecture"], m.config.architecture.name());
        let date = p["date"].as_str().unwrap();
        assert!(date.len() == 20 && date.ends_with('Z') && &date[10..11] == "T", "{date}");

        let t = &doc["texts"][0];
        assert_eq!(t["text"], text.as_str());
        let toks = t["tokens"].as_array().unwrap();
        assert_eq!(toks.len(), lib.tokens.len());
        for (j, l) in toks.iter().zip(&lib.tokens) {
            assert_eq!(j["id"], l.id);
            assert_eq!(j["token"], l.token.as_str());
            assert_eq!(
                (j["byte_start"].as_u64().unwrap() as usize, j["byte_end"].as_u64().unwrap() as usize),
                (l.byte_start, l.byte_end)
            );
            assert!(same(f(&j["surprisal_bits"]), l.surprisal_bits), "{model:?} token {}", l.index);
            assert!(same(f(&j["entropy_bits"]), l.entropy_bits));
            assert!(same(f(&j["varentropy_bits2"]), l.varentropy_bits2));
            assert!(same(f(&j["probability"]), l.probability));
            assert_eq!(j["rank"], l.rank);
            assert_eq!(j["top"].as_array().unwrap().len(), l.top.len());
        }
        assert!(same(f(&t["summary"]["total_bits"]), lib.summary.total_bits));

        // Against transformers (the fixture's golden file, make_fixtures.py): same tokens, surprisal
        // within 1e-4 nats, the tolerance make_fixtures.py states for its golden values.
        let golden_dir = if model.is_dir() { model.join("golden") } else { model.with_extension("").join("golden") };
        let golden = json(&std::fs::read_to_string(golden_dir.join("english.json")).unwrap());
        let g = golden["tokens"].as_array().unwrap();
        assert_eq!(g.len(), toks.len(), "{model:?}");
        for (j, g) in toks.iter().zip(g) {
            assert_eq!(j["id"], g["id"]);
            let d = (f(&j["surprisal_bits"]) - f(&g["surprisal_bits"])).abs();
            assert!(
                d < 1e-4 / std::f64::consts::LN_2,
                "{model:?} token {}: densi {} vs transformers {}",
                j["index"],
                j["surprisal_bits"],
                g["surprisal_bits"]
            );
        }
    }
}

#[test]
fn csv_and_tsv_parse_back_and_equal_the_json() {
    let (Some(a), Some(b)) = (text_file("code"), text_file("whitespace")) else { return };
    for model in models() {
        let doc = json(&cli(&model, &["export", s(&a), s(&b), "-f", "json"]));
        for (fmt, delim) in [("csv", b','), ("tsv", b'\t')] {
            let out = cli(&model, &["export", s(&a), s(&b), "-f", fmt]);
            let (headers, rows) = read_csv(&out, delim);
            assert_eq!(headers, TOKEN_COLUMNS, "{fmt} columns");
            let json_tokens: Vec<(&str, &serde_json::Value)> = doc["texts"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|t| t["tokens"].as_array().unwrap().iter().map(move |k| (t["id"].as_str().unwrap(), k)))
                .collect();
            assert_eq!(rows.len(), json_tokens.len());
            for (row, (id, k)) in rows.iter().zip(&json_tokens) {
                assert_eq!(&row[0], *id);
                assert_eq!(row[1].parse::<u64>().unwrap(), k["index"].as_u64().unwrap());
                assert_eq!(row[2].parse::<u64>().unwrap(), k["id"].as_u64().unwrap());
                assert_eq!(&row[3], k["token"].as_str().unwrap(), "token text survives quoting");
                for (col, key) in [(4, "byte_start"), (5, "byte_end"), (6, "char_start"), (7, "char_end")] {
                    assert_eq!(row[col].parse::<u64>().unwrap(), k[key].as_u64().unwrap());
                }
                for (col, key) in
                    [(8, "surprisal_bits"), (9, "probability"), (10, "entropy_bits"), (11, "varentropy_bits2")]
                        .into_iter()
                        .chain([(16, "excess_bits"), (17, "z"), (18, "boundary_bits")])
                {
                    assert!(same(num(&row[col]), f(&k[key])), "{fmt} {key}: {} vs {}", &row[col], k[key]);
                }
                assert_eq!(row[12].parse::<u64>().ok(), k["rank"].as_u64());
                assert_eq!(&row[13], k["top"][0]["token"].as_str().unwrap_or(""));
                assert!(same(num(&row[14]), f(&k["top"][0]["probability"])));
                assert_eq!(&row[15], if k["scored"].as_bool().unwrap() { "true" } else { "false" });
            }
        }
    }
}

#[test]
fn word_level_sums_equal_token_sums() {
    let (Some(a), Some(b), Some(c)) = (text_file("english"), text_file("code"), text_file("cjk")) else { return };
    for model in models() {
        let tokens = cli(&model, &["export", s(&a), s(&b), s(&c), "-f", "csv"]);
        let words = cli(&model, &["export", s(&a), s(&b), s(&c), "-f", "csv", "--level", "word"]);
        let (_, trows) = read_csv(&tokens, b',');
        let (wh, wrows) = read_csv(&words, b',');
        assert_eq!(wh, WORD_COLUMNS);
        for id in [s(&a), s(&b), s(&c)] {
            let text = std::fs::read_to_string(id).unwrap();
            let tr: Vec<_> = trows.iter().filter(|r| &r[0] == id).collect();
            let wr: Vec<_> = wrows.iter().filter(|r| &r[0] == id).collect();
            assert!(!wr.is_empty());
            // Words tile the tokens in order, each word's text is its byte range of the text.
            let mut next_token = 0;
            for w in &wr {
                let (t0, t1): (usize, usize) = (w[7].parse().unwrap(), w[8].parse().unwrap());
                assert_eq!(t0, next_token);
                assert_eq!(w[9].parse::<usize>().unwrap(), t1 - t0);
                next_token = t1;
                let (b0, b1): (usize, usize) = (w[3].parse().unwrap(), w[4].parse().unwrap());
                assert_eq!(&w[2], &text[b0..b1]);
                assert_eq!(w[2].trim(), &w[2], "a word has no surrounding whitespace");
                let sum: f64 = tr[t0..t1].iter().map(|r| num(&r[8])).sum();
                let ws = num(&w[11]);
                assert!((ws - sum).abs() <= 1e-9 * sum.abs().max(1.0), "word {:?}: {ws} vs Σ tokens {sum}", &w[2]);
                // Corrected = uncorrected − bow + eow (the last word of a text that ends in whitespace
                // leaves that whitespace's tokens out: README, "Word surprisal").
                let (corrected, bow, eow) = (num(&w[10]), num(&w[12]), num(&w[13]));
                if t1 < tr.len() || !text.ends_with(char::is_whitespace) {
                    assert!((corrected - (ws - bow + eow)).abs() <= 1e-9 * ws.abs().max(1.0), "word {:?}", &w[2]);
                }
                assert!(bow >= 0.0 && eow >= 0.0, "word {:?}: bow {bow}, eow {eow}", &w[2]);
                assert!(same(num(&w[14]), (-corrected).exp2()), "probability = 2^−surprisal_bits");
                // Entropy of a word = entropy before its first token.
                assert!(same(num(&w[15]), num(&tr[t0][10])));
            }
            assert_eq!(next_token, tr.len(), "every token is in a word");
            let total_t: f64 = tr.iter().map(|r| num(&r[8])).sum();
            let total_w: f64 = wr.iter().map(|r| num(&r[11])).sum();
            assert!((total_t - total_w).abs() < 1e-9 * total_t, "{total_t} vs {total_w}");
        }
    }
}

#[test]
fn nats_are_bits_times_ln2() {
    let Some(a) = text_file("english") else { return };
    let Some(model) = models().into_iter().next() else { return };
    let bits = json(&cli(&model, &["export", s(&a), "-f", "json"]));
    let nats = json(&cli(&model, &["export", s(&a), "-f", "json", "--units", "nats"]));
    assert_eq!(nats["provenance"]["units"], "nats");
    let ln2 = std::f64::consts::LN_2;
    for (b, n) in
        bits["texts"][0]["tokens"].as_array().unwrap().iter().zip(nats["texts"][0]["tokens"].as_array().unwrap())
    {
        assert!((f(&n["surprisal_nats"]) - f(&b["surprisal_bits"]) * ln2).abs() < 1e-12);
        assert!((f(&n["entropy_nats"]) - f(&b["entropy_bits"]) * ln2).abs() < 1e-12);
        assert!((f(&n["varentropy_nats2"]) - f(&b["varentropy_bits2"]) * ln2 * ln2).abs() < 1e-12);
        assert_eq!(n["probability"], b["probability"]);
        assert!(n.get("surprisal_bits").is_none());
    }
    let csv = cli(&model, &["export", s(&a), "-f", "csv", "--units", "nats"]);
    let (h, _) = read_csv(&csv, b',');
    assert_eq!(&h[8], "surprisal_nats");
    assert_eq!(&h[10], "entropy_nats");
    assert_eq!(&h[11], "varentropy_nats2");
}

#[test]
fn jsonl_batches_stream_one_line_per_text_and_match_json() {
    let Some(model) = models().into_iter().next() else { return };
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch.jsonl");
    std::fs::write(&batch, "{\"id\":\"a\",\"text\":\"The old lighthouse\"}\n\n{\"id\":7,\"text\":\"keeper \\\"climbed\\\"\\nstairs\"}\n{\"text\":\"no id\"}\n").unwrap();
    let out = dir.path().join("out.jsonl");
    let stdout = cli(&model, &["export", "--jsonl", s(&batch), "-f", "jsonl", "-o", s(&out)]);
    assert_eq!(stdout, "");
    assert!(!dir.path().join("out.jsonl.partial").exists());
    let body = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = body.lines().map(json).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[1]["id"], "7");
    assert_eq!(lines[1]["text"], "keeper \"climbed\"\nstairs");
    assert_eq!(lines[2]["id"], format!("{}:4", batch.display()));
    for l in &lines {
        assert_eq!(l["provenance"]["model_sha256"].as_str().unwrap().len(), 64);
    }
    // The same texts through the json format give the same numbers.
    let doc = json(&cli(&model, &["export", "--jsonl", s(&batch), "-f", "json"]));
    for (l, t) in lines.iter().zip(doc["texts"].as_array().unwrap()) {
        assert_eq!(l["tokens"], t["tokens"]);
        assert_eq!(l["summary"], t["summary"]);
    }
    // Refuses to overwrite, replaces with --force.
    let o = run(&["export", "--jsonl", s(&batch), "-f", "jsonl", "-o", s(&out), "--model", s(&model)]);
    assert_error(&o, 1, &["already exists"]);
    cli(&model, &["export", "--jsonl", s(&batch), "-f", "jsonl", "-o", s(&out), "--force"]);
}

#[test]
fn stdin_text_and_files_in_command_line_order() {
    let Some(model) = models().into_iter().next() else { return };
    let Some(a) = text_file("digits") else { return };
    let mut args = vec!["export", "--text", "first", "-", s(&a), "--text", "last", "-f", "json"];
    args.extend(["--model", s(&model), "--backend", "cpu"]);
    let o = run_with_stdin(&args, Some("from stdin".as_bytes()));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let doc = json(&o.stdout);
    let ids: Vec<&str> = doc["texts"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["text1", "-", s(&a), "text2"]);
    assert_eq!(doc["texts"][1]["text"], "from stdin");
}

#[test]
fn score_prints_a_row_per_token_and_a_summary() {
    let Some(model) = models().into_iter().next() else { return };
    let Some(a) = text_file("english") else { return };
    let text = std::fs::read_to_string(&a).unwrap();
    let lib = library_score(&model, s(&a), &text, "auto");
    let out = cli(&model, &["score", s(&a)]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], s(&a));
    // Header (2 lines), one line per token, the summary.
    assert_eq!(lines.len(), 3 + lib.tokens.len() + 1, "{out}");
    let summary = lines.last().unwrap();
    assert!(
        summary.starts_with(&format!("summary: {} tokens, {:.2} bits, ", lib.tokens.len(), lib.summary.total_bits)),
        "{summary}"
    );
    // Each row: index, token, surprisal, entropy, rank (as printed, rounded to 2 decimals).
    for (line, t) in lines[3..3 + lib.tokens.len()].iter().zip(&lib.tokens) {
        assert!(line.trim_start().starts_with(&format!("{} ", t.index)), "{line}");
        let want = format!("{:>9.2}  {:>8.2}  {:>6}", t.surprisal_bits, t.entropy_bits, t.rank);
        assert!(line.contains(&want), "`{want}` not in `{line}`");
    }
    // --bos none: the first token is not scored, and says so.
    let out = cli(&model, &["score", "--text", "Ships far out", "--bos", "none"]);
    assert!(out.contains("(no context: not scored)"), "{out}");
}

#[test]
fn bos_none_exports_an_unscored_first_token() {
    let Some(model) = models().into_iter().next() else { return };
    let doc = json(&cli(&model, &["export", "--text", "Ships far out at sea", "-f", "json", "--bos", "none"]));
    let t0 = &doc["texts"][0]["tokens"][0];
    assert_eq!(t0["scored"], false);
    assert!(t0["surprisal_bits"].is_null() && t0["rank"].is_null());
    assert_eq!(doc["provenance"]["bos_policy"], "none");
    let csv = cli(&model, &["export", "--text", "Ships far out at sea", "-f", "csv", "--bos", "none"]);
    let (_, rows) = read_csv(&csv, b',');
    assert_eq!(&rows[0][8], "");
    assert_eq!(&rows[0][15], "false");
    assert_eq!(&rows[1][15], "true");
    let lib = library_score(&model, "text1", "Ships far out at sea", "none");
    assert!(same(f(&doc["texts"][0]["summary"]["total_bits"]), lib.summary.total_bits));
}

#[test]
fn compare_json_has_each_text_and_its_difference_from_the_first() {
    let Some(model) = models().into_iter().next() else { return };
    let (Some(a), Some(b)) = (text_file("english"), text_file("code")) else { return };
    let doc = json(&cli(&model, &["compare", s(&a), s(&b), "--format", "json"]));
    let texts = doc["texts"].as_array().unwrap();
    assert_eq!(texts.len(), 2);
    let lib_a = library_score(&model, s(&a), &std::fs::read_to_string(&a).unwrap(), "auto");
    let lib_b = library_score(&model, s(&b), &std::fs::read_to_string(&b).unwrap(), "auto");
    assert!(same(f(&texts[0]["total_bits"]), lib_a.summary.total_bits));
    assert!(same(f(&texts[1]["total_bits"]), lib_b.summary.total_bits));
    assert_eq!(f(&texts[0]["diff_from_first"]["total_bits"]), 0.0);
    assert!(same(f(&texts[1]["diff_from_first"]["total_bits"]), lib_b.summary.total_bits - lib_a.summary.total_bits));
    assert_eq!(texts[1]["diff_from_first"]["tokens"], lib_b.tokens.len() as i64 - lib_a.tokens.len() as i64);
    // The densest token is the one with the highest surprisal.
    let max = lib_b.tokens.iter().filter(|t| t.scored).map(|t| t.surprisal_bits).fold(f64::MIN, f64::max);
    assert!(same(f(&texts[1]["densest_token"]["surprisal_bits"]), max));
    assert!(texts[1]["densest_sentence"]["text"].as_str().is_some_and(|s| !s.is_empty()));

    let table = cli(&model, &["compare", s(&a), s(&b)]);
    for label in
        ["tokens", "total bits", "mean bits/token", "bits/char", "perplexity", "densest token", "densest sentence"]
    {
        assert!(table.lines().any(|l| l.starts_with(label)), "no `{label}` row:\n{table}");
    }
    assert!(table.contains(&format!("{:.2}", lib_a.summary.total_bits)));
}

#[test]
fn info_describes_the_model() {
    let Some(model) = models().into_iter().next() else { return };
    // Not `ok`: on a machine without a display, Mesa's GL driver may print a note on stderr while adapters are listed.
    let o = run(&["info", "--model", s(&model)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = o.stdout;
    let m = densi::model::Model::load(&model).unwrap();
    let sha = m.sha256().unwrap();
    for want in [
        format!("architecture  {}", m.config.architecture.name()),
        format!("parameters    {} ", m.config.parameter_count()),
        format!("layers        {}", m.config.num_layers),
        format!("vocabulary    {}", m.config.vocab_size),
        format!("sha256        {sha}"),
    ] {
        assert!(out.contains(&want), "`{want}` not in:\n{out}");
    }
    assert!(out.contains("devices:") && out.contains("cpu: "), "{out}");
}

/// `densi info` says what it understood from the file, one line per feature.
#[test]
fn info_lists_the_architecture_features() {
    for (name, want) in [
        (
            "gemma3_tiny",
            &[
                "architecture  gemma3",
                "norm          RMSNorm (x · (1 + w)), before and after attention and MLP, eps 1e-6",
                "activation    GeGLU: gelu_tanh(gate) · up",
                "positions     RoPE (rotate-half, all 32 dims, no scaling), base 1000000 (global layers), 10000 (local layers)",
                "attention     causal; 5 local layers (sliding window 16 keys), 1 global (layers 5); scores × 1/√24 (query_pre_attn_scalar)",
                "q/k norm      RMSNorm over each head of q and k, before RoPE",
                "soft-capping  none",
                "embeddings    token embeddings × √64 = 8",
            ][..],
        ),
        (
            "gemma2_tiny",
            &[
                "architecture  gemma2",
                "positions     RoPE (rotate-half, all 32 dims, no scaling), base 10000\n",
                "attention     causal; 2 local layers (sliding window 16 keys), 2 global (layers 1, 3); scores × 1/√24 (query_pre_attn_scalar)",
                "q/k norm      none",
                "soft-capping  attention scores 5 · tanh(x / 5), final logits 8 · tanh(x / 8)",
            ][..],
        ),
        (
            "gptneox_tiny",
            &[
                "architecture  gptneox",
                "norm          LayerNorm (with bias), eps 1e-5",
                "activation    GELU (exact, erf), ungated",
                "positions     RoPE (rotate-half, first 4 of 16 dims, no scaling), base 10000\n",
                "attention     causal, every layer global; parallel residual (attention and MLP both read the block's input); scores × 1/√16 (head dim)",
            ][..],
        ),
        (
            "phi3_tiny",
            &[
                "architecture  phi3",
                "activation    SwiGLU: silu(gate) · up",
                "positions     RoPE (rotate-half, all 16 dims, no scaling), base 10000\n",
                "attention     causal; every layer local (sliding window 16 keys); scores × 1/√16 (head dim)",
            ][..],
        ),
        (
            "llama",
            &[
                "norm          RMSNorm (x · w), eps 1e-5",
                "activation    SwiGLU: silu(gate) · up",
                "positions     RoPE (rotate-half, all 16 dims, no scaling), base 10000\n",
                "attention     causal, every layer global; scores × 1/√16 (head dim)",
                "q/k norm      none",
                "embeddings    token embeddings as stored",
            ][..],
        ),
    ] {
        let Some(model) = fixture(name) else { continue };
        let o = run(&["info", "--model", s(&model)]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        for w in want {
            assert!(o.stdout.contains(w), "{name}: `{w}` not in:\n{}", o.stdout);
        }
    }
}

/// `--backend gpu` scores every architecture (tests/gpu/arch.rs holds them to the goldens); the same
/// tokens as the CPU.
#[test]
fn gpu_backend_runs_every_architecture() {
    for name in ["qwen3", "gemma_tiny", "gemma2_tiny", "gemma3_tiny", "gptneox_tiny", "phi3_tiny"] {
        let Some(model) = fixture(name) else { return };
        let score = |backend: &str| run(&["score", "--model", s(&model), "--backend", backend, "--text", "a b c"]);
        let o = score("gpu");
        if o.code != 0 && o.stderr.to_lowercase().contains("adapter") {
            // Without any adapter (not even a software one) the GPU cannot be reached.
            eprintln!("SKIPPED the GPU run: no GPU adapter ({})", o.stderr.trim());
            return;
        }
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        let cpu = score("cpu");
        assert_eq!(cpu.code, 0, "{name}: {}", cpu.stderr);
        let tokens = |out: &str| out.lines().count();
        assert_eq!(tokens(&o.stdout), tokens(&cpu.stdout), "{name}:\n{}\n{}", o.stdout, cpu.stdout);
    }
}

#[test]
fn devices_lists_the_cpu() {
    let o = run(&["devices"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = o.stdout;
    assert!(out.lines().any(|l| l.starts_with("cpu: ")), "{out}");
}

#[test]
fn bench_reports_each_length() {
    let Some(model) = models().into_iter().next() else { return };
    let out = cli(&model, &["bench", "--tokens", "8,16", "--repeats", "1"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|r: &Vec<&str>| r.len() == 7 && r[0].parse::<usize>().is_ok())
        .collect();
    assert_eq!(rows.iter().map(|r| r[0]).collect::<Vec<_>>(), ["8", "16"], "{out}");
    for r in rows {
        // seconds, min, tokens/s, GFLOP/s, then peak RSS "<n> MiB"
        assert!(r[1..5].iter().all(|x| x.parse::<f64>().unwrap() > 0.0), "{r:?}");
        assert!(r[5].parse::<u64>().unwrap() > 0 && r[6] == "MiB", "{r:?}");
    }
}

/// `bench --prefix`: for each case, positions scored against positions computed, as the prefix
/// cache's plan implies (a text recomputes from its last shared position: that row's target differs).
#[test]
fn bench_prefix_counts_positions_computed_against_scored() {
    let Some(model) = models().into_iter().next() else { return };
    let out = cli(&model, &["bench", "--prefix", "--tokens", "16", "--repeats", "1"]);
    // "<case words…>  scored  computed  full s  reuse s  speed-up×"
    let rows: Vec<(String, u64, u64)> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            if n < 6 {
                return None;
            }
            let speedup = f.last()?.strip_suffix('×')?.parse::<f64>().ok()?;
            let (full, reuse) = (f[n - 3].parse::<f64>().ok()?, f[n - 2].parse::<f64>().ok()?);
            assert!(speedup > 0.0 && full > 0.0 && reuse > 0.0, "{l}");
            Some((f[..n - 5].join(" "), f[n - 5].parse().ok()?, f[n - 4].parse().ok()?))
        })
        .collect();
    let (len, shared) = (16u64, 16 * 4 / 5);
    let pairs = &rows[0];
    assert!(pairs.0.starts_with("20 minimal pairs of 16 tokens sharing 12"), "{out}");
    // First of each pair in full, the second from its last shared position.
    assert_eq!((pairs.1, pairs.2), (40 * len, 20 * len + 20 * (len - shared + 1)), "{out}");
    let context = &rows[1];
    assert!(context.0.starts_with("20 minimal pairs of 16 after a 12-token context"), "{out}");
    // After the 12-token context each pair shares 2 more tokens: the very first text in full, every
    // pair's first text from the context's last token, every second text from its last shared token.
    let pair_shared = shared + (len - shared) / 2;
    let want = len + 19 * (len - shared + 1) + 20 * (len - pair_shared + 1);
    assert_eq!((context.1, context.2), (40 * len, want), "{out}");
    let edit = &rows[2];
    assert!(edit.0.starts_with("a word appended to"), "{out}");
    // The last token replaced by three: those three and the row before them.
    assert_eq!(edit.2, 4, "{out}");
    assert_eq!(rows.len(), 3, "{out}");
}
