//! `--model A --model B` end to end on the tiny fixtures (tiny-llama F32 against its Q4_0
//! quantization; tiny-qwen2 for a different vocabulary): the export columns, csv against json
//! against the library, compare's summary, and the errors.

use crate::common::*;

use std::sync::Arc;

use densi::metrics::BosPolicy;
use densi::model::Model;
use densi::pair::PairScorer;
use densi::score::ScoreOptions;

const PAIR_TOKEN_COLUMNS: [&str; 18] = [
    "text_id",
    "token_index",
    "token_id",
    "token",
    "byte_start",
    "byte_end",
    "char_start",
    "char_end",
    "surprisal_bits_a",
    "surprisal_bits_b",
    "delta_bits",
    "entropy_bits_a",
    "entropy_bits_b",
    "rank_a",
    "rank_b",
    "kl_ab_bits",
    "kl_ba_bits",
    "cross_entropy_ab_bits",
];

const A: &str = "tests/fixtures/gguf/tiny-llama-F32.gguf";
const B: &str = "tests/fixtures/gguf/tiny-llama-Q4_0.gguf";
const OTHER_VOCAB: &str = "tests/fixtures/gguf/tiny-qwen2-F32.gguf";
const TEXT: &str = "tests/fixtures/texts/english.txt";

#[test]
fn export_csv_has_the_issue_columns_and_agrees_with_json_and_the_library() {
    let csv = ok(&["export", "--model", A, "--model", B, "--bos", "0", "-f", "csv", TEXT]);
    assert_eq!(csv.lines().next().unwrap().split(',').collect::<Vec<_>>(), PAIR_TOKEN_COLUMNS);
    // The rows from tsv: no token of this text holds a tab, so a plain split reads it.
    let tsv = ok(&["export", "--model", A, "--model", B, "--bos", "0", "-f", "tsv", TEXT]);
    let mut lines = tsv.lines();
    assert_eq!(lines.next().unwrap().split('\t').collect::<Vec<_>>(), PAIR_TOKEN_COLUMNS);
    let rows: Vec<Vec<String>> = lines.map(|l| l.split('\t').map(str::to_string).collect()).collect();
    assert_eq!(rows.len() + 1, csv.lines().count());

    let doc = json(&ok(&["export", "--model", A, "--model", B, "--bos", "0", "-f", "json", TEXT]));
    let prov = &doc["provenance"];
    assert!(prov["model_a"]["path"].as_str().unwrap().ends_with("tiny-llama-F32.gguf"));
    assert!(prov["model_b"]["path"].as_str().unwrap().ends_with("tiny-llama-Q4_0.gguf"));
    assert_eq!(prov["model_a"]["sha256"].as_str().unwrap().len(), 64);
    assert!(prov["model_b"]["weight_dtype"].as_str().unwrap().contains("Q4_0"), "{}", prov["model_b"]);
    let tokens = doc["texts"][0]["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), rows.len());

    let text = std::fs::read_to_string(root().join(TEXT)).unwrap();
    let (a, b) = (Arc::new(Model::load(&root().join(A)).unwrap()), Arc::new(Model::load(&root().join(B)).unwrap()));
    let options = ScoreOptions { bos: BosPolicy::Id(0), ..Default::default() };
    let lib = PairScorer::new(a, b, options, None).unwrap().score("x", &text, &mut |_, _| {}).unwrap();
    for ((row, tok), want) in rows.iter().zip(tokens).zip(&lib.tokens) {
        // The same names in json as in the csv header, the same values in all three.
        for (k, name) in PAIR_TOKEN_COLUMNS.iter().enumerate().skip(1) {
            if *name == "token" {
                continue; // csv-quoted
            }
            let v = &tok[*name];
            let field = &row[k];
            if v.is_f64() {
                assert!(same(field.parse().unwrap(), f(v)), "{name}: {field} vs {v}");
            } else {
                assert_eq!(field, &v.to_string(), "{name}");
            }
        }
        assert!(same(f(&tok["kl_ab_bits"]), want.kl_ab_bits));
        assert!(same(f(&tok["cross_entropy_ab_bits"]), want.cross_entropy_ab_bits));
        assert!(same(f(&tok["delta_bits"]), want.surprisal_bits_b - want.surprisal_bits_a));
    }
}

#[test]
fn an_unscored_first_token_has_empty_fields() {
    let csv = ok(&["export", "--model", A, "--model", B, "--bos", "none", "-f", "csv", "--text", "The old lighthouse"]);
    let first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert!(first[8..].iter().all(|f| f.is_empty()), "{first:?}");
    let second: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
    assert!(second[8..].iter().all(|f| !f.is_empty()), "{second:?}");
    let doc = json(&ok(&[
        "export",
        "--model",
        A,
        "--model",
        B,
        "--bos",
        "none",
        "-f",
        "jsonl",
        "--text",
        "The old lighthouse",
    ]));
    let t0 = &doc["tokens"][0];
    assert!(t0["rank_a"].is_null() && t0["kl_ab_bits"].is_null() && t0["scored"] == false, "{t0}");
    assert!(doc["provenance"]["model_a"]["bos_token"].is_null());
}

#[test]
fn compare_shows_the_summary_and_the_ten_largest_kl_positions() {
    let out = ok(&["compare", "--model", A, "--model", B, "--bos", "0", TEXT]);
    for needle in ["perplexity A", "perplexity B", "mean KL(A‖B)", "mean KL(B‖A)", "top-1 agreement", "binoculars"]
    {
        assert!(out.contains(needle), "`{needle}` missing:\n{out}");
    }
    let listed = out.lines().filter(|l| l.contains('[') && l.contains(']') && l.contains(" bits  ")).count();
    assert_eq!(listed, 10, "{out}");

    let doc = json(&ok(&["compare", "--model", A, "--model", B, "--bos", "0", "-f", "json", TEXT]));
    let t = &doc["texts"][0];
    let kl: Vec<f64> = t["largest_kl"].as_array().unwrap().iter().map(|p| f(&p["kl_ab_bits"])).collect();
    assert_eq!(kl.len(), 10);
    assert!(kl.windows(2).all(|w| w[0] >= w[1]), "largest first: {kl:?}");
    assert!(f(&t["summary"]["mean_kl_ab_bits"]) > 0.0 && f(&t["summary"]["perplexity_b"]) > 1.0);
}

#[test]
fn score_prints_both_models_per_token() {
    let out = ok(&["score", "--model", A, "--model", B, "--bos", "0", "--text", "The old lighthouse keeper"]);
    assert!(out.contains("KL(A‖B)") && out.contains("summary:") && out.contains("binoculars"), "{out}");
}

#[test]
fn different_vocabularies_need_level_word() {
    let o = run(&["export", "--model", A, "--model", OTHER_VOCAB, "-f", "csv", TEXT]);
    assert_error(&o, 1, &["--level word", "tiny-qwen2-F32.gguf", "cannot be compared token by token"]);
    let o = run(&["compare", "--model", A, "--model", OTHER_VOCAB, TEXT]);
    assert_error(&o, 1, &["--level word"]);

    let csv = ok(&["export", "--model", A, "--model", OTHER_VOCAB, "--bos", "0", "-f", "csv", "--level", "word", TEXT]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "text_id,word_index,word,byte_start,byte_end,char_start,char_end,tokens_a,tokens_b,surprisal_bits_a,surprisal_bits_b,delta_bits,scored"
    );
    assert!(lines.count() > 20);
    let doc = json(&ok(&[
        "export",
        "--model",
        A,
        "--model",
        OTHER_VOCAB,
        "--bos",
        "0",
        "-f",
        "json",
        "--level",
        "word",
        TEXT,
    ]));
    assert!(doc["provenance"]["note"].as_str().unwrap().contains("no KL"), "{}", doc["provenance"]);
}

#[test]
fn more_than_two_models_and_two_models_elsewhere_are_usage_errors() {
    let o = run(&["score", "--model", A, "--model", B, "--model", A, TEXT]);
    assert_error(&o, 2, &["3 --model", "at most two"]);
    let o = run(&["info", "--model", A, "--model", B]);
    assert_error(&o, 2, &["one --model"]);
    let o = run(&["export", "--model", A, "--model", B, "-f", "csv", "--units", "nats", TEXT]);
    assert_error(&o, 2, &["bits"]);
}

/// `score` and `compare` at word level, any two vocabularies: the same words and numbers as
/// `export --level word` (which the engine tests check against the library).
#[test]
fn score_and_compare_by_word_match_the_word_export() {
    let run_with = |command: &str, extra: &[&str]| {
        let base = [command, "--model", A, "--model", OTHER_VOCAB, "--bos", "0", "--level", "word", TEXT];
        ok(&[&base[..], extra].concat())
    };
    let doc = json(&run_with("export", &["-f", "json"]));
    let words = doc["texts"][0]["words"].as_array().unwrap();
    let scored: Vec<&serde_json::Value> = words.iter().filter(|w| w["scored"].as_bool().unwrap()).collect();
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let total_a: f64 = scored.iter().map(|w| f(&w["surprisal_bits_a"])).sum();
    let total_b: f64 = scored.iter().map(|w| f(&w["surprisal_bits_b"])).sum();
    let max_delta =
        scored.iter().map(|w| f(&w["delta_bits"])).fold(0.0f64, |m, d| if d.abs() > m.abs() { d } else { m });

    let c = json(&run_with("compare", &["-f", "json"]));
    let t = &c["texts"][0];
    assert_eq!(t["summary"]["words"].as_u64().unwrap() as usize, words.len());
    assert_eq!(t["summary"]["scored_words"].as_u64().unwrap() as usize, scored.len());
    assert!((f(&t["summary"]["total_bits_a"]) - total_a).abs() < 1e-9 * total_a.abs().max(1.0));
    assert!((f(&t["summary"]["total_bits_b"]) - total_b).abs() < 1e-9 * total_b.abs().max(1.0));
    let largest = t["largest_delta"].as_array().unwrap();
    assert_eq!(largest.len(), 10);
    assert_eq!(f(&largest[0]["delta_bits"]), max_delta);
    assert!(largest.windows(2).all(|w| f(&w[0]["delta_bits"]).abs() >= f(&w[1]["delta_bits"]).abs()));
    assert!(c["provenance"]["note"].as_str().unwrap().contains("no KL") && c["provenance"]["level"] == "word", "{c}");

    let table = run_with("compare", &[]);
    assert!(table.contains("largest |delta|") && table.contains(&format!("{:.2}", total_a)), "{table}");

    // score: one row per paired word, the same delta to two decimals, and the summary.
    let out = run_with("score", &[]);
    let rows: Vec<&str> = out.lines().skip(2).take_while(|l| !l.starts_with("summary:")).collect();
    assert_eq!(rows.len(), words.len(), "{out}");
    let first_scored = scored[0];
    let i = first_scored["word_index"].as_u64().unwrap() as usize;
    assert!(rows[i].contains(&format!("{:+.2}", f(&first_scored["delta_bits"]))), "{}", rows[i]);
    assert!(out.contains("summary:") && out.contains("no KL"), "{out}");
}

/// One model: `score --level word` lists the words of `export --level word`; `compare --level word`
/// needs two models.
#[test]
fn one_model_word_level() {
    let doc = json(&ok(&["export", "--model", A, "--bos", "0", "-f", "json", "--level", "word", TEXT]));
    let words = doc["texts"][0]["words"].as_array().unwrap();
    let out = ok(&["score", "--model", A, "--bos", "0", "--level", "word", TEXT]);
    let rows: Vec<&str> = out.lines().skip(3).take_while(|l| !l.starts_with("summary:")).collect();
    assert_eq!(rows.len(), words.len(), "{out}");
    for (row, w) in rows.iter().zip(words) {
        if let Some(s) = w["surprisal_bits"].as_f64() {
            assert!(row.contains(&format!("{s:.2}")), "{row} vs {w}");
        }
    }
    let o = run(&["compare", "--model", A, "--level", "word", TEXT, TEXT]);
    assert_error(&o, 2, &["--level word", "two models"]);
}

/// `--backend gpu` with two models runs the GPU pair (no CPU warning) and agrees with the CPU pair
/// within the GPU tests' 1e-3 bits. Without a GPU adapter: a loud skip, or a failure under
/// DENSI_REQUIRE_GPU=1.
#[test]
fn gpu_backend_runs_the_pair_on_the_gpu() {
    let mut args = vec!["export", "--model", A, "--model", B, "--bos", "0", "-f", "json", "--backend", "gpu"];
    // The adapter the GPU tests use (`DENSI_TEST_ADAPTER=N`), else densi's own choice.
    let device = std::env::var("DENSI_TEST_ADAPTER").ok();
    if let Some(d) = device.as_deref() {
        args.extend(["--device", d]);
    }
    args.push(TEXT);
    let gpu = run(&args);
    if gpu.code != 0 && std::env::var("DENSI_REQUIRE_GPU").as_deref() != Ok("1") {
        eprintln!("\n*** SKIPPED gpu_backend_runs_the_pair_on_the_gpu: no GPU here ({}) ***\n", gpu.stderr.trim());
        return;
    }
    assert_eq!(gpu.code, 0, "densi --backend gpu failed:\n{}", gpu.stderr);
    assert!(!gpu.stderr.contains("warning"), "{}", gpu.stderr);
    let gpu = json(&gpu.stdout);
    assert_eq!(gpu["provenance"]["backend"], "gpu", "{}", gpu["provenance"]);
    let cpu = json(&ok(&["export", "--model", A, "--model", B, "--bos", "0", "-f", "json", "--backend", "cpu", TEXT]));
    assert_eq!(cpu["provenance"]["backend"], "cpu");
    let (g, c) = (gpu["texts"][0]["tokens"].as_array().unwrap(), cpu["texts"][0]["tokens"].as_array().unwrap());
    assert_eq!(g.len(), c.len());
    let mut worst = 0f64;
    for (x, y) in g.iter().zip(c) {
        assert_eq!((&x["token_id"], &x["rank_a"]), (&y["token_id"], &y["rank_a"]), "token {}", x["token_index"]);
        for key in ["surprisal_bits_a", "surprisal_bits_b", "entropy_bits_a", "kl_ab_bits", "cross_entropy_ab_bits"] {
            if x[key].is_null() && y[key].is_null() {
                continue;
            }
            let d = (f(&x[key]) - f(&y[key])).abs();
            worst = worst.max(d);
            assert!(d <= 1e-3, "token {}: {key} {} vs {}", x["token_index"], x[key], y[key]);
        }
    }
    eprintln!("GPU vs CPU pair through the CLI: max |Δ| {worst:.2e} bits over {} tokens", g.len());
}
