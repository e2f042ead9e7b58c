//! The two-model HTML report (`densi report --model A --model B`): each text as two rows, A above
//! B, coloured on one shared scale, with colourings by `delta_bits` and by KL both ways; hovering a
//! token shows both models' numbers and top-k side by side; each text's [`PairSummary`] on top.
//!
//! Like the one-model page ([`crate::export::report`]) it is self-contained (style, script and data
//! inline) and the script only draws: the colours, the metric names, units and fixed ranges and
//! every value come from here. Numbers are rounded as there: bits to 4 decimals, probabilities to
//! 5 significant digits.

use std::io::{self, Write};

use serde::Serialize;

use super::PairScore;
use super::export::PairProvenance;
use crate::display::Metric;
use crate::export::report::{STYLE, colour_scale, escape_html, fill, pieces, round_significant, round4};

const PAGE: &str = include_str!("../export/report/pair.html");
/// The shared helpers (`common.js`) and then the page's own script.
const SCRIPT: &str = concat!(include_str!("../export/report/common.js"), include_str!("../export/report/pair.js"));

/// The fixed scale of `delta_bits` (B − A): as wide as that of surprisal − entropy, a signed
/// difference of surprisals too.
const DELTA_RANGE_BITS: (f64, f64) = (-10.0, 10.0);
/// The fixed scale of KL: 0 to 4 bits (a re-quantization of one model stays mostly under 1 bit per
/// position; the "fitted" scale stretches to the texts).
const KL_RANGE_BITS: (f64, f64) = (0.0, 4.0);

/// One colouring of the two rows.
#[derive(Serialize)]
struct PairMetric {
    name: &'static str,
    unit: &'static str,
    range: (f64, f64),
    /// True: row A shows A's value and row B B's (surprisal, entropy). False: one value per
    /// position, the same in both rows (delta, KL).
    per_model: bool,
}

fn metrics() -> Vec<PairMetric> {
    let m = |name, range, per_model| PairMetric { name, unit: "bits", range, per_model };
    vec![
        m("surprisal", Metric::Surprisal.fixed_range(), true),
        m("entropy", Metric::Entropy.fixed_range(), true),
        m("delta_bits (B − A)", DELTA_RANGE_BITS, false),
        m("KL(A‖B)", KL_RANGE_BITS, false),
        m("KL(B‖A)", KL_RANGE_BITS, false),
    ]
}

/// One model's side of a text's tokens, column by column.
#[derive(Serialize, Default)]
struct Side {
    surprisal: Vec<Option<f64>>,
    /// 2^−surprisal.
    probability: Vec<Option<f64>>,
    entropy: Vec<Option<f64>>,
    rank: Vec<Option<u32>>,
    /// `[id, token, probability]` of the top-k alternatives.
    top: Vec<Vec<(u32, String, f64)>>,
    /// `values[m][i]`: the colouring metric m (in [`metrics`] order) of token i in this row.
    values: Vec<Vec<Option<f64>>>,
}

#[derive(Serialize, Default)]
struct Tokens {
    /// The token's share of the text (as on the one-model page): the pieces concatenate to the text.
    piece: Vec<String>,
    token: Vec<String>,
    id: Vec<u32>,
    scored: Vec<bool>,
    delta: Vec<Option<f64>>,
    kl_ab: Vec<Option<f64>>,
    kl_ba: Vec<Option<f64>>,
    cross_entropy_ab: Vec<Option<f64>>,
    top1_differs: Vec<bool>,
    a: Side,
    b: Side,
}

#[derive(Serialize)]
struct TextData<'a> {
    id: &'a str,
    summary: &'a super::PairSummary,
    tokens: Tokens,
}

#[derive(Serialize)]
struct PageData<'a> {
    provenance: &'a PairProvenance,
    colours: Vec<String>,
    ink: Vec<String>,
    metrics: Vec<PairMetric>,
    texts: Vec<TextData<'a>>,
}

fn text_data(t: &PairScore) -> TextData<'_> {
    let bits = |scored: bool, x: f64| if scored { round4(x) } else { None };
    let n_metrics = metrics().len();
    let mut tokens = Tokens::default();
    for side in [&mut tokens.a, &mut tokens.b] {
        side.values = vec![Vec::new(); n_metrics];
    }
    for (tok, piece) in t.tokens.iter().zip(pieces(&t.text, t.tokens.iter().map(|t| t.byte_start))) {
        let s = tok.scored;
        tokens.piece.push(piece.to_string());
        tokens.token.push(tok.token.clone());
        tokens.id.push(tok.id);
        tokens.scored.push(s);
        tokens.delta.push(bits(s, tok.delta_bits));
        tokens.kl_ab.push(bits(s, tok.kl_ab_bits));
        tokens.kl_ba.push(bits(s, tok.kl_ba_bits));
        tokens.cross_entropy_ab.push(bits(s, tok.cross_entropy_ab_bits));
        tokens.top1_differs.push(s && tok.top1_differs);
        let shared = [bits(s, tok.delta_bits), bits(s, tok.kl_ab_bits), bits(s, tok.kl_ba_bits)];
        let sides = [
            (&mut tokens.a, tok.surprisal_bits_a, tok.entropy_bits_a, tok.rank_a, &tok.top_a),
            (&mut tokens.b, tok.surprisal_bits_b, tok.entropy_bits_b, tok.rank_b, &tok.top_b),
        ];
        for (side, surprisal, entropy, rank, top) in sides {
            side.surprisal.push(bits(s, surprisal));
            side.probability.push(if s { round_significant((-surprisal).exp2()) } else { None });
            side.entropy.push(bits(s, entropy));
            side.rank.push(s.then_some(rank));
            side.top.push(
                top.iter().map(|a| (a.id, a.token.clone(), round_significant(a.probability).unwrap_or(0.0))).collect(),
            );
            let row = [bits(s, surprisal), bits(s, entropy)].into_iter().chain(shared);
            for (column, v) in side.values.iter_mut().zip(row) {
                column.push(v);
            }
        }
    }
    TextData { id: &t.id, summary: &t.summary, tokens }
}

/// The page for `texts` (at least one) scored under two models, as one HTML document.
pub fn render(texts: &[PairScore], provenance: &PairProvenance) -> String {
    let (colours, ink) = colour_scale();
    let data = PageData { provenance, colours, ink, metrics: metrics(), texts: texts.iter().map(text_data).collect() };
    // Serializing plain structs of strings and numbers cannot fail (NaN is written as null).
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c");
    let title = match texts {
        [one] => format!("densi report, two models: {}", one.id),
        _ => format!("densi report, two models: {} texts", texts.len()),
    };
    fill(PAGE, &[("TITLE", &escape_html(&title)), ("STYLE", STYLE), ("SCRIPT", SCRIPT), ("DATA", &json)])
}

/// Writes the page for `texts` to `out`.
pub fn write_report(out: &mut dyn Write, texts: &[PairScore], provenance: &PairProvenance) -> io::Result<()> {
    out.write_all(render(texts, provenance).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_page_is_one_document_with_nothing_external() {
        let html = fill(PAGE, &[("STYLE", STYLE), ("SCRIPT", SCRIPT)]);
        for external in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!html.contains(external), "the page refers to something outside it: {external}");
        }
    }
}
