//! The word view shows the words of `export --level word`: the same tokens in each word, the same
//! characters. Both are built on `densi::text`; this runs the two real code paths (the app's word
//! view after `w`, the library's JSON exporter) on texts with apostrophes, hyphens, digits, CJK,
//! emoji sequences, NFD combining marks and line breaks, cut into tokens in several ways: every
//! byte, every character, GPT-style (spaces start tokens), pseudo-random cuts, and the default
//! model's real tokenizer.

use super::common::*;
use crate::tui::action::{Action, apply};
use crate::tui::app::App;
use crate::tui::layout::View;
use crate::tui::scale::ColorSupport;
use densi::export::{ExportOptions, Format, Level, Units, export_to_vec};
use densi::metrics::TextScore;

const TEXTS: &[&str] = &[
    "Don't stop: it's rock'n'roll, isn’t it? l’eau 'quoted' o'",
    "A well-known, state-of-the-art e-mail — re-enter (x-ray)",
    "Pi is 3.14159; 1,000,000 and 42nd, x2 2x, 10^9 = 1e9.",
    "水中の月。我爱北京天安门！ 日本語テキスト, 한국어 텍스트",
    "Family 👩\u{200d}👩\u{200d}👧 waves 👋\u{1F3FD} from 🇫🇷! 😀😀 ok👍",
    "nai\u{308}ve cafe\u{301} Zoe\u{308}, e\u{301}te\u{301}",
    "line one\n\nline two\r\n  indented\tline\n",
    "  leading and trailing spaces   ",
];

/// (first token, last token, text without surrounding whitespace) per word of the app's word view.
fn word_view(score: &TextScore) -> Vec<(usize, usize, String)> {
    let mut app: App = app_with(vec![score.clone()], ColorSupport::TrueColor);
    apply(&mut app, Action::ToggleView);
    assert_eq!(app.view, View::Words);
    let p = app.pane();
    p.units.iter().map(|u| (u.first, u.last, score.text[u.bytes.clone()].trim().to_string())).collect()
}

/// The same per word of `export --level word` (JSON).
fn exported_words(score: &TextScore) -> Vec<(usize, usize, String)> {
    let options = ExportOptions { format: Format::Json, units: Units::Bits, level: Level::Word };
    let bytes = export_to_vec(std::slice::from_ref(score), options, provenance()).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    doc["texts"][0]["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let n = |k: &str| w[k].as_u64().unwrap() as usize;
            (n("token_start"), n("token_end") - 1, w["word"].as_str().unwrap().to_string())
        })
        .collect()
}

fn check(how: &str, text: &str, bounds: &[usize]) {
    let score = cut(how, text, bounds);
    let (shown, exported) = (word_view(&score), exported_words(&score));
    assert!(!exported.is_empty());
    assert_eq!(shown, exported, "{how} tokens of {text:?}");
}

/// Cut points strictly inside the text, sorted and distinct.
fn cuts(points: impl IntoIterator<Item = usize>, len: usize) -> Vec<usize> {
    let mut v: Vec<usize> = points.into_iter().filter(|&b| b > 0 && b < len).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn word_view_shows_the_exported_words() {
    for text in TEXTS {
        let len = text.len();
        check("byte", text, &cuts(1..len, len));
        check("char", text, &cuts(text.char_indices().map(|(b, _)| b), len));
        let gpt = text.char_indices().filter(|&(_, c)| c.is_whitespace() || !c.is_alphanumeric()).map(|(b, _)| b);
        check("gpt", text, &cuts(gpt, len));
        // A fixed linear congruential sequence: reproducible cuts, inside characters too.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for round in 0..8 {
            let mut pts = Vec::new();
            for _ in 0..len / 3 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                pts.push((x >> 33) as usize % len);
            }
            check(&format!("random {round}"), text, &cuts(pts, len));
        }
    }
}

#[test]
fn word_view_shows_the_exported_words_with_the_real_tokenizer() {
    let path = match densi::model::Model::resolve_path(None) {
        Ok(p) => p,
        Err(e) if std::env::var_os("DENSI_REQUIRE_MODEL").is_some_and(|v| v == "1") => {
            panic!("DENSI_REQUIRE_MODEL=1 but the default model is missing ({e}); run models/fetch.sh")
        }
        Err(e) => {
            eprintln!("SKIPPED word_view_shows_the_exported_words_with_the_real_tokenizer: {e}");
            return;
        }
    };
    let model = densi::model::Model::load(&path).unwrap();
    for text in TEXTS {
        let enc = model.tokenizer.encode(text).unwrap();
        let bounds: Vec<usize> = enc.byte_offsets.iter().map(|o| o.1).take(enc.byte_offsets.len() - 1).collect();
        // The tokenizer tiles the text: each token starts where the previous one ended.
        assert!(enc.byte_offsets.windows(2).all(|w| w[0].1 == w[1].0), "{text:?}");
        check("SmolLM2", text, &bounds);
    }
}

/// The word view's surprisal is the word surprisal `--word-probability` picks: the corrected
/// −log₂ p(word) of the export by default, the plain sum of its tokens' with `uncorrected`.
#[test]
fn word_view_values_are_the_word_surprisal_the_flag_picks() {
    let mut score = cut("gpt", "My favorite color is blue", &[2, 11, 17, 20]);
    for (i, t) in score.tokens.iter_mut().enumerate() {
        t.boundary_bits = 0.5 + i as f64 / 4.0;
    }
    score.end_boundary_bits = Some(0.125);
    let words = densi::export::words::text_words(&score);
    let corrected: Vec<f64> = words.iter().map(|w| w.surprisal_bits).collect();
    let uncorrected: Vec<f64> = words.iter().map(|w| w.surprisal_bits_uncorrected).collect();
    assert_ne!(corrected, uncorrected);
    let mut app = app_with(vec![score], ColorSupport::TrueColor);
    apply(&mut app, Action::ToggleView);
    assert_eq!(app.pane().values, corrected);
    app.set_word_probability(densi::export::WordProbability::Uncorrected);
    assert_eq!(app.pane().values, uncorrected);
    // The token view is unaffected: one value per token.
    apply(&mut app, Action::ToggleView);
    assert_eq!(app.pane().values, [1.0, 2.0, 3.0, 4.0, 5.0]);
}
