//! The README's main job, end to end, on the default model (SmolLM2-135M-Instruct Q4_1): the three
//! example prompts of docs/examples/, checked against reference values from Hugging Face
//! transformers (float32 forward, float64 log-softmax, `<|endoftext|>` prepended) in
//! tests/fixtures/smollm2/wei_*.json, made by hf_reference.py (see /work/shared/reference/README.md,
//! copied with the fixtures). That README states that independent float32 implementations agree with
//! these files within about 2e-3 bits per token, which is the tolerance used here.
//!
//! Skipped loudly when the model is absent; with DENSI_REQUIRE_MODEL=1 (CI) its absence fails.

use crate::common::*;

/// Tolerance in bits against the transformers reference (see the module doc).
const TOL_BITS: f64 = 2e-3;

/// (example file, reference name)
const EXAMPLES: [(&str, &str); 3] =
    [("favorite_color.txt", "wei_color"), ("jason_wei.txt", "wei_models"), ("math_question.txt", "wei_math")];

fn reference(name: &str) -> Option<serde_json::Value> {
    let p = fixture(&format!("smollm2/{name}.json"))?;
    Some(json(&std::fs::read_to_string(p).unwrap()))
}

#[test]
fn examples_are_the_reference_texts_byte_for_byte() {
    for (file, name) in EXAMPLES {
        let Some(p) = fixture(&format!("smollm2/{name}.txt")) else { return };
        let ours = std::fs::read(root().join("docs/examples").join(file)).unwrap();
        assert_eq!(ours, std::fs::read(p).unwrap(), "docs/examples/{file}");
    }
}

#[test]
fn export_of_the_examples_matches_transformers() {
    let Some(model) = default_model() else { return };
    let files: Vec<String> = EXAMPLES.iter().map(|(f, _)| format!("docs/examples/{f}")).collect();
    let mut args: Vec<&str> = vec!["export", "-f", "csv", "--backend", "cpu", "--model", s(&model)];
    args.extend(files.iter().map(String::as_str));
    let out = ok(&args);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    for ((_, name), file) in EXAMPLES.iter().zip(&files) {
        let Some(reference) = reference(name) else { return };
        let want = reference["tokens"].as_array().unwrap();
        let got: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == file).collect();
        assert_eq!(got.len(), want.len(), "{file}: token count");
        for (g, w) in got.iter().zip(want) {
            let at = format!("{file} token {} {:?}", &g[1], &g[3]);
            assert_eq!(g[2].parse::<u64>().unwrap(), w["id"].as_u64().unwrap(), "{at}: id");
            assert_eq!(g[4].parse::<u64>().unwrap(), w["start"].as_u64().unwrap(), "{at}: byte_start");
            assert_eq!(g[5].parse::<u64>().unwrap(), w["end"].as_u64().unwrap(), "{at}: byte_end");
            assert_eq!(g[6].parse::<u64>().unwrap(), w["char_start"].as_u64().unwrap(), "{at}: char_start");
            let ds = (g[8].parse::<f64>().unwrap() - f(&w["surprisal_bits"])).abs();
            let de = (g[10].parse::<f64>().unwrap() - f(&w["entropy_bits"])).abs();
            assert!(ds < TOL_BITS, "{at}: surprisal {} vs transformers {}", &g[8], w["surprisal_bits"]);
            assert!(de < TOL_BITS, "{at}: entropy {} vs transformers {}", &g[10], w["entropy_bits"]);
        }
    }
}

#[test]
fn compare_shows_the_motivating_differences() {
    let Some(model) = default_model() else { return };
    let (Some(color), Some(models)) = (reference("wei_color"), reference("wei_models")) else { return };
    let mut args: Vec<String> =
        ["compare", "--format", "json", "--backend", "cpu", "--model", s(&model)].map(String::from).to_vec();
    args.extend(EXAMPLES.iter().map(|(f, _)| format!("docs/examples/{f}")));
    // The last word's surprisal as the plain token sum (each last word here is one token), so that it
    // is the reference's last-token surprisal; the corrected one is checked against its own golden
    // (tests/engine/words_golden.rs).
    args.extend(["--word-probability", "uncorrected"].map(String::from));
    let doc = json(&ok(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(doc["provenance"]["word_probability"], "uncorrected");
    let texts = doc["texts"].as_array().unwrap();
    let last = |i: usize| &texts[i]["last_word"];
    assert_eq!(last(0)["word"], "blue");
    assert_eq!(last(1)["word"], "models");
    assert_eq!(last(2)["word"], "C");
    // The reference's values for the last token of each prompt (` blue`, ` models`).
    let ref_last = |r: &serde_json::Value, key: &str| f(&r["tokens"].as_array().unwrap().last().unwrap()[key]);
    for (i, r) in [(0, &color), (1, &models)] {
        for key in ["surprisal_bits", "entropy_bits"] {
            let (got, want) = (f(&last(i)[key]), ref_last(r, key));
            assert!((got - want).abs() < TOL_BITS, "{}: {key} {got} vs transformers {want}", texts[i]["id"]);
        }
    }
    // What the reference says, and so what densi must show: the model is far less sure before ` blue`
    // (about 7.2 bits) than before ` models` (about 2.0 bits).
    assert!(ref_last(&color, "entropy_bits") > 3.0 * ref_last(&models, "entropy_bits"));
    assert!(f(&last(0)["entropy_bits"]) > 3.0 * f(&last(1)["entropy_bits"]));
    // Totals agree within the per-token tolerance times the number of tokens (5 and 15).
    assert!((f(&texts[0]["total_bits"]) - f(&color["total_bits"])).abs() < TOL_BITS * 5.0);
    assert!((f(&texts[1]["total_bits"]) - f(&models["total_bits"])).abs() < TOL_BITS * 15.0);
    assert_eq!(texts[1]["diff_from_first"]["tokens"], 10);

    // The table for people has the same numbers, rounded.
    let mut args: Vec<String> = ["compare", "--backend", "cpu", "--model", s(&model)].map(String::from).to_vec();
    args.extend(EXAMPLES.iter().map(|(f, _)| format!("docs/examples/{f}")));
    let table = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(table.lines().next().unwrap().contains("favorite_color.txt"), "{table}");
    let entropy_row = table.lines().find(|l| l.starts_with("  entropy before it")).unwrap();
    assert!(entropy_row.contains(&format!("{:.2} bits", f(&last(0)["entropy_bits"]))), "{entropy_row}");
}

/// The sha256 that models/fetch.sh verifies before it installs the model.
fn fetch_sh_sha256() -> String {
    let script = std::fs::read_to_string(root().join("models/fetch.sh")).unwrap();
    // The first SHA256= is the default model's (the script's first case; Gemma's follows).
    let line = script.lines().map(str::trim).find(|l| l.starts_with("SHA256=")).expect("SHA256= in models/fetch.sh");
    line.trim_start_matches("SHA256=").trim_matches('"').to_string()
}

/// Numbers from outside densi in what it reports about the default model: the provenance's sha256 is
/// the one models/fetch.sh verifies, and the parameter count is SmolLM2-135M's 134,515,008 (the
/// checkpoint's total on the Hugging Face hub: 30 layers of 3,540,096 plus 28,311,552 for the tied
/// embedding plus the final norm's 576).
#[test]
fn provenance_pins_the_fetched_model() {
    let Some(model) = default_model() else { return };
    let doc = json(&ok(&["export", "-f", "json", "--backend", "cpu", "--text", "Hello", "--model", s(&model)]));
    let p = &doc["provenance"];
    assert_eq!(p["model_sha256"].as_str().unwrap(), fetch_sh_sha256());
    assert_eq!(p["parameters"], 134_515_008);
    assert_eq!(30 * 3_540_096 + 49_152 * 576 + 576, 134_515_008, "the hand count in the doc comment");
}
