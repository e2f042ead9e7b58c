//! Shared helpers for the TUI tests: scored texts built without a model, and screen inspection.
#![allow(dead_code)]

use super::reference;

use crate::tui::app::App;
use crate::tui::scale::ColorSupport;
use crate::tui::ui;
use densi::metrics::{Alternative, BosPolicy, ScoreSettings, Summary, TextScore, TokenScore, display_bytes};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

fn settings() -> ScoreSettings {
    ScoreSettings {
        bos_policy: BosPolicy::Auto,
        bos_token: Some(0),
        window: 8192,
        stride: 4096,
        windows: 1,
        top_k: 5,
        backend: "cpu".into(),
        device: "test data".into(),
    }
}

/// A token at bytes a..b; char offsets are filled in by [`with_char_offsets`]. One argument per
/// field that the reference tables give.
#[allow(clippy::too_many_arguments)]
fn token(
    text: &str,
    index: usize,
    a: usize,
    b: usize,
    id: u32,
    s: f64,
    h: f64,
    v: f64,
    rank: u32,
    top: Vec<Alternative>,
) -> TokenScore {
    let bytes = text.as_bytes()[a..b].to_vec();
    let (cs, ce) = (0, 0);
    TokenScore {
        index,
        id,
        token: display_bytes(&bytes),
        bytes,
        byte_start: a,
        byte_end: b,
        char_start: cs,
        char_end: ce,
        scored: true,
        surprisal_bits: s,
        probability: (-s).exp2(),
        entropy_bits: h,
        varentropy_bits2: v,
        rank,
        top,
        window: 0,
        context_len: index + 1,
        boundary_bits: f64::NAN,
        excess_bits: densi::metrics::excess_and_z(s, h, v).0,
        z: densi::metrics::excess_and_z(s, h, v).1,
    }
}

/// Code point offsets by the library's own rule (a token inside a character covers it).
fn with_char_offsets(text: &str, mut tokens: Vec<TokenScore>) -> Vec<TokenScore> {
    let bytes: Vec<(usize, usize)> = tokens.iter().map(|t| (t.byte_start, t.byte_end)).collect();
    for (t, (cs, ce)) in tokens.iter_mut().zip(densi::metrics::char_offsets(text, &bytes)) {
        t.char_start = cs;
        t.char_end = ce;
    }
    tokens
}

/// A scored text from reference rows (see reference.rs for where the numbers come from).
pub fn from_reference(id: &str, rows: &[reference::Ref]) -> TextScore {
    let text: String = rows.iter().map(|r| r.1).collect();
    let mut at = 0;
    let tokens = rows
        .iter()
        .enumerate()
        .map(|(i, &(tid, piece, s, h, v, rank, top))| {
            let top = top.iter().map(|&(id, t, p)| Alternative { id, token: t.to_string(), probability: p }).collect();
            let t = token(&text, i, at, at + piece.len(), tid, s, h, v, rank, top);
            at += piece.len();
            t
        })
        .collect::<Vec<_>>();
    let tokens = with_char_offsets(&text, tokens);
    let summary = Summary::of(&tokens, &text);
    TextScore { id: id.into(), text, tokens, summary, end_boundary_bits: None, settings: settings() }
}

pub fn wei_color() -> TextScore {
    from_reference("wei_color", reference::WEI_COLOR)
}
pub fn wei_models() -> TextScore {
    from_reference("wei_models", reference::WEI_MODELS)
}
pub fn wei_math() -> TextScore {
    from_reference("wei_math", reference::WEI_MATH)
}

/// A text cut at the given byte boundaries (which may fall inside characters), every token with
/// surprisal = entropy = its index + 1 bits. For layout and cursor tests.
pub fn cut(id: &str, text: &str, bounds: &[usize]) -> TextScore {
    let mut edges = vec![0];
    edges.extend_from_slice(bounds);
    edges.push(text.len());
    let tokens: Vec<TokenScore> = edges
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            token(text, i, w[0], w[1], 1000 + i as u32, i as f64 + 1.0, i as f64 + 1.0, 1.0, 1 + i as u32, vec![])
        })
        .collect();
    let tokens = with_char_offsets(text, tokens);
    let summary = Summary::of(&tokens, text);
    TextScore { id: id.into(), text: text.into(), tokens, summary, end_boundary_bits: None, settings: settings() }
}

/// An app with these scored texts installed, as if the worker had returned them.
pub fn app_with(scores: Vec<TextScore>, colors: ColorSupport) -> App {
    let mut app = App::new(scores.iter().map(|s| (s.id.clone(), s.text.clone())).collect(), colors);
    let jobs = app.initial_jobs();
    assert_eq!(jobs.len(), scores.len());
    for (i, s) in scores.into_iter().enumerate() {
        let (id, generation) = (app.panes[i].id, app.panes[i].generation);
        app.set_score(id, generation, Ok(s), None);
    }
    app.model = crate::tui::app::ModelState::Ready("cpu · test".into());
    app
}

/// Lays out and draws the app on a w×h test terminal; returns the buffer.
pub fn draw(app: &mut App, w: u16, h: u16) -> Buffer {
    ui::relayout(app, Rect::new(0, 0, w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

/// Row y of the buffer as text.
pub fn row(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

pub fn screen(buf: &Buffer) -> String {
    (0..buf.area.height).map(|y| row(buf, y)).collect::<Vec<_>>().join("\n")
}

/// Where `needle` first appears on screen (x, y), by cells.
pub fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let line: String = cells.concat();
        if let Some(byte) = line.find(needle) {
            // Map the byte offset back to a cell index.
            let mut acc = 0;
            for (x, c) in cells.iter().enumerate() {
                if acc == byte {
                    return Some((x as u16, y));
                }
                acc += c.len();
            }
        }
    }
    None
}

/// Where token `t` of pane `p` is drawn (its first cell).
pub fn token_cell(app: &App, p: usize, t: usize) -> (u16, u16) {
    let pane = &app.panes[p];
    let u = pane.token_unit[t];
    let lay = pane.wrapped.as_ref().expect("relayout first");
    let (line, x) = lay.unit_pos[u];
    (pane.text_area.x + x, pane.text_area.y + (line - pane.scroll) as u16)
}

/// Relative luminance of an RGB colour, 0..1.
pub fn luminance(c: ratatui::style::Color) -> f64 {
    match c {
        ratatui::style::Color::Rgb(r, g, b) => (0.2126 * r as f64 + 0.7152 * g as f64 + 0.0722 * b as f64) / 255.0,
        other => panic!("expected an RGB colour, got {other:?}"),
    }
}

/// Provenance as an export would carry it (written by hand here: there is no model in these tests).
pub fn provenance() -> densi::export::Provenance {
    densi::export::Provenance {
        densi_version: "densi test".into(),
        model_path: "none (reference values)".into(),
        model_format: "gguf".into(),
        model_sha256: "0".repeat(64),
        architecture: "llama".into(),
        parameters: 0,
        weight_dtype: "Q4_1".into(),
        tokenizer: "test".into(),
        backend: "cpu".into(),
        device: "test".into(),
        bos_policy: densi::metrics::BosPolicy::Auto,
        bos_token: Some(0),
        bos_token_text: Some("<|endoftext|>".into()),
        window: 8192,
        stride: 4096,
        top_k: 5,
        units: "bits".into(),
        level: "token".into(),
        word_probability: densi::export::WordProbability::Corrected,
        date: "2026-11-29T00:00:00Z".into(),
    }
}
