//! The export writers on a hand-made scored text whose tokens are as awkward as real ones get
//! (quotes, the delimiters, line breaks, leading spaces, a token that is half of a UTF-8
//! character, an unscored first token): csv and tsv read back with the `csv` crate field for field,
//! json and jsonl parse and agree with them. No model needed: the numbers are made up here; what is
//! tested is that they come back unchanged. Last, `densi export --level word` end to end with the
//! default model on text with decomposed accents and emoji sequences.

use densi::export::{ExportOptions, Format, Level, Provenance, Units, export_to_vec};
use densi::metrics::{Alternative, BosPolicy, ScoreSettings, Summary, TextScore, TokenScore, display_bytes};

/// Text: `He said "a,b"\t\n 水!` tokenized as below; '水' (E6 B0 B4) is split over two tokens.
fn text_score() -> TextScore {
    let text = "He said \"a,b\"\t\n \u{6C34}!";
    let pieces: Vec<&[u8]> = vec![b"He", b" said", b" \"", b"a", b",", b"b\"", b"\t\n", b" \xE6\xB0", b"\xB4", b"!"];
    let mut tokens = Vec::new();
    let mut pos = 0;
    for (i, p) in pieces.iter().enumerate() {
        let (s, e) = (pos, pos + p.len());
        pos = e;
        let scored = i > 0;
        let x = i as f64;
        tokens.push(TokenScore {
            index: i,
            id: 100 + i as u32,
            token: display_bytes(p),
            bytes: p.to_vec(),
            byte_start: s,
            byte_end: e,
            char_start: 0,
            char_end: 0,
            scored,
            surprisal_bits: if scored { 0.1 + x * 1.7 } else { f64::NAN },
            probability: if scored { (-(0.1 + x * 1.7f64)).exp2() } else { f64::NAN },
            entropy_bits: if scored { 3.0 + x / 3.0 } else { f64::NAN },
            varentropy_bits2: if scored { 1.0 / (1.0 + x) } else { f64::NAN },
            rank: if scored { 1 + i as u32 * 7 } else { 0 },
            top: if scored {
                vec![Alternative { id: 7, token: "\",\n".into(), probability: 0.25 }]
            } else {
                Vec::new()
            },
            window: 0,
            context_len: i + 1,
            boundary_bits: if scored { 0.05 * x } else { f64::NAN },
            excess_bits: f64::NAN,
            z: f64::NAN,
        });
        let t = tokens.last_mut().unwrap();
        (t.excess_bits, t.z) = densi::metrics::excess_and_z(t.surprisal_bits, t.entropy_bits, t.varentropy_bits2);
    }
    assert_eq!(pos, text.len());
    // Code point offsets, as the scorer computes them.
    let offs =
        densi::metrics::char_offsets(text, &tokens.iter().map(|t| (t.byte_start, t.byte_end)).collect::<Vec<_>>());
    for (t, (cs, ce)) in tokens.iter_mut().zip(offs) {
        t.char_start = cs;
        t.char_end = ce;
    }
    let summary = Summary::of(&tokens, text);
    TextScore {
        id: "odd, \"id\"".into(),
        text: text.into(),
        tokens,
        summary,
        end_boundary_bits: None,
        settings: ScoreSettings {
            bos_policy: BosPolicy::None,
            bos_token: None,
            window: 2048,
            stride: 1024,
            windows: 1,
            top_k: 1,
            backend: "cpu".into(),
            device: "cpu, 1 threads".into(),
        },
    }
}

fn provenance(units: Units, level: Level) -> Provenance {
    Provenance {
        densi_version: "densi test".into(),
        model_path: "none".into(),
        model_format: "none".into(),
        model_sha256: "0".repeat(64),
        architecture: "llama".into(),
        parameters: 0,
        weight_dtype: "F32".into(),
        tokenizer: "none".into(),
        backend: "cpu".into(),
        device: "cpu".into(),
        bos_policy: BosPolicy::None,
        bos_token: None,
        bos_token_text: None,
        window: 2048,
        stride: 1024,
        top_k: 1,
        units: units.name().into(),
        level: level.name().into(),
        word_probability: densi::export::WordProbability::Corrected,
        date: densi::export::utc_now_iso8601(),
    }
}

fn export(t: &TextScore, format: Format, units: Units, level: Level) -> String {
    let bytes =
        export_to_vec(std::slice::from_ref(t), ExportOptions { format, units, level }, provenance(units, level))
            .unwrap();
    String::from_utf8(bytes).unwrap()
}

fn num(s: &str) -> f64 {
    if s.is_empty() { f64::NAN } else { s.parse().unwrap() }
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

#[test]
fn csv_and_tsv_read_back_field_for_field() {
    let t = text_score();
    for (format, delim) in [(Format::Csv, b','), (Format::Tsv, b'\t')] {
        let out = export(&t, format, Units::Bits, Level::Token);
        let mut r = csv::ReaderBuilder::new().delimiter(delim).from_reader(out.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), t.tokens.len(), "{out}");
        for (row, tok) in rows.iter().zip(&t.tokens) {
            // The 16 original columns, then issue 11's excess_bits, z, boundary_bits.
            assert_eq!(row.len(), 19);
            assert!(same(num(&row[16]), tok.excess_bits));
            assert!(same(num(&row[17]), tok.z));
            assert!(same(num(&row[18]), tok.boundary_bits));
            assert_eq!(&row[0], "odd, \"id\"");
            assert_eq!(&row[3], tok.token, "token text");
            assert_eq!(row[4].parse::<usize>().unwrap(), tok.byte_start);
            assert_eq!(row[7].parse::<usize>().unwrap(), tok.char_end);
            // Floats are written so that they read back exactly (Rust's parser is correctly rounded).
            assert!(same(num(&row[8]), tok.surprisal_bits));
            assert!(same(num(&row[9]), tok.probability));
            assert!(same(num(&row[10]), tok.entropy_bits));
            assert!(same(num(&row[11]), tok.varentropy_bits2));
            assert_eq!(&row[12], if tok.scored { tok.rank.to_string() } else { String::new() });
            assert_eq!(&row[13], tok.top.first().map_or("", |a| a.token.as_str()));
            assert_eq!(&row[15], tok.scored.to_string());
        }
    }
    // The halves of '水' are written as escaped bytes.
    assert_eq!(t.tokens[7].token, "\\x20\\xE6\\xB0"); // every byte of such a token, the space too
    assert_eq!(t.tokens[8].token, "\\xB4");
    // Both halves cover the whole character in code points.
    assert_eq!(
        (t.tokens[7].char_start, t.tokens[7].char_end, t.tokens[8].char_start, t.tokens[8].char_end),
        (15, 17, 16, 17)
    );
}

#[test]
fn json_and_jsonl_agree_with_csv() {
    let t = text_score();
    let doc: serde_json::Value = serde_json::from_str(&export(&t, Format::Json, Units::Bits, Level::Token)).unwrap();
    assert_eq!(doc["provenance"]["units"], "bits");
    let jt = &doc["texts"][0];
    assert_eq!(jt["id"], t.id.as_str());
    assert_eq!(jt["text"], t.text.as_str());
    let toks = jt["tokens"].as_array().unwrap();
    assert!(toks[0]["surprisal_bits"].is_null() && toks[0]["rank"].is_null(), "unscored metrics are null");
    for (j, tok) in toks.iter().zip(&t.tokens).skip(1) {
        assert_eq!(j["token"], tok.token.as_str());
        // serde_json's default float parser is not correctly rounded: within 4 ulps.
        let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs());
        assert!(close(j["surprisal_bits"].as_f64().unwrap(), tok.surprisal_bits));
        assert_eq!(j["top"][0]["token"], "\",\n");
    }
    let jsonl = export(&t, Format::Jsonl, Units::Bits, Level::Token);
    assert_eq!(jsonl.lines().count(), 1);
    let line: serde_json::Value = serde_json::from_str(jsonl.trim_end()).unwrap();
    assert_eq!(line["provenance"]["level"], "token");
    assert_eq!(line["tokens"], jt["tokens"]);
    assert_eq!(line["summary"], jt["summary"]);
}

#[test]
fn word_level_rows() {
    let t = text_score();
    let out = export(&t, Format::Csv, Units::Bits, Level::Word);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let words: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    let text: Vec<&str> = words.iter().map(|w| w.get(2).unwrap()).collect();
    // `"a,b"` has one token for `b"`: `b` and `"` merge. `水` spans two tokens.
    assert_eq!(text, ["He", "said", "\"", "a", ",", "b\"", "水", "!"]);
    // "He" is unscored (first token under --bos none): empty metrics.
    assert_eq!(&words[0][16], "false");
    assert_eq!(&words[0][10], "");
    assert_eq!(&words[0][11], "");
    // 水: the whitespace token "\t\n" before it (6) and its two halves (7, 8); surprisal = their sum.
    let w = &words[6];
    assert_eq!((&w[7], &w[8], &w[9]), ("6", "9", "3"));
    let sum: f64 = t.tokens[6..9].iter().map(|t| t.surprisal_bits).sum();
    assert!((num(&w[11]) - sum).abs() < 1e-12);
    // Corrected: "\t\n" starts with whitespace, so bow = −log₂ B before it; "!" follows directly, so no eow.
    assert_eq!((num(&w[12]), num(&w[13])), (t.tokens[6].boundary_bits, 0.0));
    assert!((num(&w[10]) - (sum - t.tokens[6].boundary_bits)).abs() < 1e-12);
    assert_eq!(num(&w[14]), (-num(&w[10])).exp2());
    assert_eq!((&w[5], &w[6]), ("16", "17"), "char offsets of the word itself");
    // Its entropy is the one before its first token.
    assert_eq!(num(&w[15]), t.tokens[6].entropy_bits);
    // Every token is in exactly one word.
    assert_eq!(&words[5][8], "6");
    assert_eq!(&words[7][7], "9");
}

#[test]
fn nats_rename_the_unit_columns() {
    let t = text_score();
    let out = export(&t, Format::Csv, Units::Nats, Level::Token);
    let header = out.lines().next().unwrap();
    assert!(header.contains(",surprisal_nats,probability,entropy_nats,varentropy_nats2,"), "{header}");
    let doc: serde_json::Value = serde_json::from_str(&export(&t, Format::Json, Units::Nats, Level::Word)).unwrap();
    let w = &doc["texts"][0]["words"][1];
    let bits = t.tokens[1].surprisal_bits;
    assert!((w["surprisal_nats_uncorrected"].as_f64().unwrap() - bits * std::f64::consts::LN_2).abs() < 1e-12);
    let in_bits: serde_json::Value = serde_json::from_str(&export(&t, Format::Json, Units::Bits, Level::Word)).unwrap();
    for key in ["surprisal", "bow", "eow"] {
        let (n, b) = (&w[format!("{key}_nats")], &in_bits["texts"][0]["words"][1][format!("{key}_bits")]);
        assert!((n.as_f64().unwrap() - b.as_f64().unwrap() * std::f64::consts::LN_2).abs() < 1e-12, "{key}");
    }
    assert!(doc["texts"][0]["summary"]["total_nats"].is_number());
}

/// The word rule on real tokens (`densi::text`): NFD combining marks stay in their word, an emoji ZWJ
/// sequence is one word, an inner apostrophe stays inside; the words' surprisal adds up to the tokens'.
#[test]
fn word_level_keeps_combining_marks_and_emoji_sequences_whole() {
    use crate::common::{default_model, json, ok, s};
    let Some(model) = default_model() else { return };
    let text = "Zoe\u{308} and nai\u{308}ve cafe\u{301}, 👩\u{200d}👩\u{200d}👧 don't";
    let export = |level: &str| {
        json(&ok(&["export", "-f", "json", "--level", level, "--backend", "cpu", "--model", s(&model), "--text", text]))
    };
    let (words, tokens) = (export("word"), export("token"));
    let words = words["texts"][0]["words"].as_array().unwrap().clone();
    let got: Vec<&str> = words.iter().map(|w| w["word"].as_str().unwrap()).collect();
    assert_eq!(
        got,
        ["Zoe\u{308}", "and", "nai\u{308}ve", "cafe\u{301}", ",", "👩\u{200d}👩\u{200d}👧", "don't"],
        "{text:?}"
    );
    let tokens = tokens["texts"][0]["tokens"].as_array().unwrap().clone();
    assert_eq!(words.last().unwrap()["token_end"].as_u64().unwrap() as usize, tokens.len());
    let total = |v: &[serde_json::Value], key: &str| v.iter().map(|x| x[key].as_f64().unwrap()).sum::<f64>();
    let (sum_words, sum_tokens) = (total(&words, "surprisal_bits_uncorrected"), total(&tokens, "surprisal_bits"));
    assert!((sum_words - sum_tokens).abs() < 1e-9, "{sum_words} vs {sum_tokens}");
    // The corrections telescope over whitespace boundaries: Σ corrected = Σ tokens − first bow + last eow.
    let (first, last) = (&words[0], words.last().unwrap());
    let telescoped = sum_tokens - first["bow_bits"].as_f64().unwrap() + last["eow_bits"].as_f64().unwrap();
    assert!(
        (total(&words, "surprisal_bits") - telescoped).abs() < 1e-9,
        "{} vs {telescoped}",
        total(&words, "surprisal_bits")
    );
}
