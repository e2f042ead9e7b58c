//! Issue 11's token-level columns end to end on the default model: `excess_bits`, `z` and
//! `boundary_bits` after the original csv columns (and in json), `--units nats` names, the per-text
//! `fast_detectgpt` and `end_boundary_bits`, and the `fast-detectgpt` part of `score`'s summary
//! line, each recomputed here from the exported columns by its documented formula.

use crate::common::*;

const TEXT: &str = "I was a mat in France.\nIt was happy";

#[test]
fn csv_has_excess_z_and_boundary_after_the_original_columns() {
    let Some(model) = default_model() else { return };
    let out = ok(&["export", "-f", "csv", "--backend", "cpu", "--text", TEXT, "--model", s(&model)]);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let head: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(head[..16].last().map(String::as_str), Some("scored"), "the original columns come first: {head:?}");
    assert_eq!(&head[16..], ["excess_bits", "z", "boundary_bits"], "{head:?}");
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let (s, h, v) = (col("surprisal_bits"), col("entropy_bits"), col("varentropy_bits2"));
    let mut rows = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        let x = |i: usize| rec[i].parse::<f64>().unwrap();
        // excess = s − H and z = (s − H) / √V, from the printed (shortest round-trip) values.
        assert!((x(col("excess_bits")) - (x(s) - x(h))).abs() < 1e-12, "{rec:?}");
        assert!((x(col("z")) - (x(s) - x(h)) / x(v).sqrt()).abs() < 1e-9, "{rec:?}");
        let b = x(col("boundary_bits"));
        assert!(b >= 0.0 && b.is_finite(), "B ≤ 1: {rec:?}");
        rows += 1;
    }
    assert!(rows > 5);
}

#[test]
fn json_summary_has_fast_detectgpt_and_units_follow_the_naming_rule() {
    let Some(model) = default_model() else { return };
    let doc = json(&ok(&["export", "-f", "json", "--backend", "cpu", "--text", TEXT, "--model", s(&model)]));
    let t = &doc["texts"][0];
    let tokens = t["tokens"].as_array().unwrap();
    let scored: Vec<&serde_json::Value> = tokens.iter().filter(|t| t["scored"] == true).collect();
    let num: f64 = scored.iter().map(|t| f(&t["entropy_bits"]) - f(&t["surprisal_bits"])).sum();
    let var: f64 = scored.iter().map(|t| f(&t["varentropy_bits2"])).sum();
    let d = f(&t["summary"]["fast_detectgpt"]);
    assert!((d - num / var.sqrt()).abs() < 1e-9, "fast_detectgpt {d} vs Σ(−s + H)/√ΣV {}", num / var.sqrt());
    for tok in &scored {
        assert!((f(&tok["excess_bits"]) - (f(&tok["surprisal_bits"]) - f(&tok["entropy_bits"]))).abs() < 1e-12);
        assert!(tok["z"].is_number() && tok["boundary_bits"].is_number());
    }
    let end = f(&t["end_boundary_bits"]);
    assert!(end > 0.0 && end.is_finite(), "after `happy` a word may end or go on: {end}");

    let nats = json(&ok(&[
        "export",
        "-f",
        "json",
        "--units",
        "nats",
        "--backend",
        "cpu",
        "--text",
        TEXT,
        "--model",
        s(&model),
    ]));
    let tn = &nats["texts"][0];
    let ln2 = std::f64::consts::LN_2;
    let (a, b) = (&tn["tokens"][3], &tokens[3]);
    assert!((f(&a["excess_nats"]) - f(&b["excess_bits"]) * ln2).abs() < 1e-9);
    assert!((f(&a["boundary_nats"]) - f(&b["boundary_bits"]) * ln2).abs() < 1e-9);
    assert_eq!(f(&a["z"]), f(&b["z"]), "z is unit-free");
    assert_eq!(f(&tn["summary"]["fast_detectgpt"]), d, "the score is unit-free");
    assert!((f(&tn["end_boundary_nats"]) - end * ln2).abs() < 1e-9);

    let score = ok(&["score", "--backend", "cpu", "--text", TEXT, "--model", s(&model)]);
    let line = score.lines().find(|l| l.starts_with("summary:")).unwrap();
    assert!(line.ends_with(&format!(", fast-detectgpt {d:.2}")), "{line}");
}
