//! The two-model view's tests: actions on the state, the pure draw on ratatui's TestBackend (a
//! hand-made pair result, no model needed), and the worker with the tiny fixtures (the F32 model
//! against its Q8_0 quantization, one vocabulary; against the tiny Qwen2, two vocabularies).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use crate::tui::action::Action;
use crate::tui::app::{Mode, ModelState, ScaleMode};
use crate::tui::pair::action::apply;
use crate::tui::pair::app::{PairApp, PairEffect, PairMetric, Side};
use crate::tui::pair::ui;
use crate::tui::pair::worker::{PairJob, PairModels, PairMsg, PairResult, spawn};
use crate::tui::scale::{self, ColorSupport, Paint};
use densi::backend::{BackendChoice, BackendOptions};
use densi::metrics::{Alternative, BosPolicy, ScoreSettings};
use densi::model::{Model, WeightStorage};
use densi::pair::words::PairWord;
use densi::pair::{PairScore, PairScorer, PairSummary, PairToken};
use densi::score::ScoreOptions;

const TEXT: &str = "My favorite color is blue";

fn alt(id: u32, token: &str, probability: f64) -> Alternative {
    Alternative { id, token: token.into(), probability }
}

/// Token i of [`TEXT`] with the given surprisals under A and B; KL grows along the text.
fn token(i: usize, id: u32, (start, end): (usize, usize), sa: f64, sb: f64) -> PairToken {
    let kl = 0.1 * (i as f64 + 1.0);
    PairToken {
        index: i,
        id,
        token: TEXT[start..end].into(),
        byte_start: start,
        byte_end: end,
        char_start: start,
        char_end: end,
        scored: true,
        surprisal_bits_a: sa,
        surprisal_bits_b: sb,
        delta_bits: sb - sa,
        entropy_bits_a: 3.0 + i as f64,
        entropy_bits_b: 3.5 + i as f64,
        rank_a: 1 + i as u32,
        rank_b: 2 + i as u32,
        kl_ab_bits: kl,
        kl_ba_bits: 2.0 * kl,
        cross_entropy_ab_bits: 3.0 + i as f64 + kl,
        top1_differs: i % 2 == 1,
        top_a: vec![alt(id, &TEXT[start..end], 0.5), alt(7, " red", 0.2)],
        top_b: vec![alt(9, " green", 0.4), alt(id, &TEXT[start..end], 0.3), alt(7, " red", 0.1)],
    }
}

fn pair_score() -> PairScore {
    let spans = [(0, 2), (2, 11), (11, 17), (17, 20), (20, 25)];
    let s = [(8.0, 9.0), (6.0, 5.0), (4.0, 4.5), (1.0, 1.0), (7.2, 12.0)];
    let tokens: Vec<PairToken> = (0..5).map(|i| token(i, 100 + i as u32, spans[i], s[i].0, s[i].1)).collect();
    PairScore {
        id: "color.txt".into(),
        text: TEXT.into(),
        summary: PairSummary::of(&tokens),
        tokens,
        settings: ScoreSettings {
            bos_policy: BosPolicy::Auto,
            bos_token: Some(1),
            window: 8,
            stride: 4,
            windows: 1,
            top_k: 3,
            backend: "cpu".into(),
            device: "cpu, 1 thread".into(),
        },
    }
}

fn scored_app(colors: ColorSupport) -> PairApp {
    let mut app = PairApp::new("color.txt".into(), TEXT.into(), ["a.gguf".into(), "b.gguf".into()], colors);
    let job = app.initial_jobs();
    assert_eq!(job.len(), 1);
    app.handle_worker(PairMsg::Ready { device: "cpu · two models".into(), vocabulary: None });
    app.handle_worker(PairMsg::Scored { generation: 1, result: Ok(PairResult::Tokens(pair_score())), seconds: 0.1 });
    app
}

fn words_app() -> PairApp {
    let mut app = PairApp::new("t".into(), TEXT.into(), ["a.gguf".into(), "q.gguf".into()], ColorSupport::TrueColor);
    app.initial_jobs();
    app.handle_worker(PairMsg::Ready { device: "cpu".into(), vocabulary: Some("their vocabularies differ".into()) });
    let word = |index, start: usize, end: usize, sa: f64, sb: f64| PairWord {
        index,
        word: TEXT[start..end].into(),
        byte_start: start,
        byte_end: end,
        char_start: start,
        char_end: end,
        tokens_a: 1,
        tokens_b: 2,
        scored: true,
        surprisal_bits_a: sa,
        surprisal_bits_b: sb,
        delta_bits: sb - sa,
    };
    let words = vec![word(0, 0, 11, 14.0, 15.0), word(1, 11, 20, 5.0, 4.0), word(2, 20, 25, 7.0, 9.5)];
    app.handle_worker(PairMsg::Scored {
        generation: 1,
        result: Ok(PairResult::Words { text: TEXT.into(), words }),
        seconds: 0.2,
    });
    app
}

fn draw(app: &mut PairApp, w: u16, h: u16) -> Buffer {
    ui::relayout(app, Rect::new(0, 0, w, h));
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui::draw(f, app)).unwrap();
    term.backend().buffer().clone()
}

fn screen(buf: &Buffer) -> String {
    let a = buf.area;
    (0..a.height).map(|y| (0..a.width).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n").collect()
}

#[test]
fn metrics_cycle_through_both_models_delta_and_kl() {
    let mut app = scored_app(ColorSupport::TrueColor);
    let mut seen = vec![app.metric];
    for _ in 0..5 {
        apply(&mut app, Action::NextMetric);
        seen.push(app.metric);
    }
    assert_eq!(seen, [PairMetric::ALL.as_slice(), &[PairMetric::Surprisal]].concat());
    apply(&mut app, Action::PrevMetric);
    assert_eq!(app.metric, PairMetric::KlBa);

    // Surprisal: each pane its own model's.
    while app.metric != PairMetric::Surprisal {
        apply(&mut app, Action::NextMetric);
    }
    assert_eq!(app.values[0], vec![8.0, 6.0, 4.0, 1.0, 7.2]);
    assert_eq!(app.values[1], vec![9.0, 5.0, 4.5, 1.0, 12.0]);
    // Fitted scale: one range for both panes.
    assert_eq!(app.scale_range(), (0.0, 12.0));
    // Delta: B − A in both panes, on a scale symmetric about 0.
    apply(&mut app, Action::NextMetric);
    apply(&mut app, Action::NextMetric);
    assert_eq!(app.metric, PairMetric::Delta);
    assert_eq!(app.values[0], app.values[1]);
    assert!((app.values[0][4] - 4.8).abs() < 1e-12);
    assert!((app.scale_range().1 - 4.8).abs() < 1e-12 && (app.scale_range().0 + 4.8).abs() < 1e-12);
    // KL(A‖B).
    apply(&mut app, Action::NextMetric);
    assert_eq!(app.metric, PairMetric::KlAb);
    assert!((app.values[1][2] - 0.3).abs() < 1e-12);
    apply(&mut app, Action::ToggleScale);
    assert_eq!((app.scale, app.scale_range()), (ScaleMode::Fixed, (0.0, 4.0)));
}

#[test]
fn the_selection_moves_across_both_panes() {
    let mut app = scored_app(ColorSupport::TrueColor);
    let _ = draw(&mut app, 100, 30);
    assert_eq!((app.cursor, app.focus), (0, Side::A));
    apply(&mut app, Action::Right);
    apply(&mut app, Action::Right);
    assert_eq!(app.cursor, 2);
    // Tab: pane B has the focus; the selection stays on the same token.
    apply(&mut app, Action::NextPane);
    assert_eq!((app.cursor, app.focus), (2, Side::B));
    apply(&mut app, Action::End);
    assert_eq!(app.cursor, 4);
    apply(&mut app, Action::Right);
    assert_eq!(app.cursor, 4, "stays on the last token");
    // A click on ` favorite` in pane A selects it there and focuses A.
    let ta = app.text_areas[0];
    apply(&mut app, Action::Click { col: ta.x + 4, row: ta.y });
    assert_eq!((app.cursor, app.focus), (1, Side::A));
    // And a click in pane B, on `My`.
    let tb = app.text_areas[1];
    assert!(tb.y > ta.y, "A above B at 100 columns");
    apply(&mut app, Action::Click { col: tb.x, row: tb.y });
    assert_eq!((app.cursor, app.focus), (0, Side::B));
    apply(&mut app, Action::Home);
    apply(&mut app, Action::PrevPane);
    assert_eq!((app.cursor, app.focus), (0, Side::A));
}

#[test]
fn the_detail_panel_has_both_models_side_by_side() {
    let mut app = scored_app(ColorSupport::TrueColor);
    apply(&mut app, Action::End);
    let d = app.detail();
    let all = d.lines.join("\n");
    assert!(d.lines[0].contains("'·blue'") && d.lines[0].contains("id 104"), "{all}");
    assert!(all.contains("surprisal       7.200    12.000  bits"), "{all}");
    assert!(all.contains("entropy         7.000     7.500  bits"), "{all}");
    assert!(all.contains("rank                5         6"), "{all}");
    assert!(all.contains("delta (B−A) +4.800 bits"), "{all}");
    assert!(all.contains("KL(A‖B) 0.5000 · KL(B‖A) 1.0000 · cross-entropy A→B 7.500 bits"), "{all}");
    assert!(all.contains("top-1 agrees"), "{all}");
    // Top-k: A's and B's lists side by side, the actual token marked in each.
    assert_eq!(d.top.len(), 3);
    assert_eq!(d.top[0], (format!("▶{:<16}  50.00%", "'·blue'"), format!(" {:<16}  40.00%", "'·green'")));
    assert_eq!(d.top[1].1, format!("▶{:<16}  30.00%", "'·blue'"));
    assert_eq!(d.top[2].0, "");
    // The summary line: both perplexities, mean KL both ways, top-1 agreement, Binoculars.
    let s = app.summary_line().unwrap();
    let sum = &pair_score().summary;
    assert!(s.contains(&format!("ppl A {:.2} · B {:.2}", sum.perplexity_a, sum.perplexity_b)), "{s}");
    assert!(s.contains("mean KL A‖B 0.3000 B‖A 0.6000 bits"), "{s}");
    assert!(s.contains("top-1 agrees 60.0%") && s.contains(&format!("Binoculars {:.4}", sum.binoculars)), "{s}");
}

#[test]
fn different_vocabularies_show_words_and_delta_only() {
    let mut app = words_app();
    assert!(app.words());
    assert_eq!(app.units.len(), 3);
    assert_eq!(app.metrics(), vec![PairMetric::Surprisal, PairMetric::Delta]);
    apply(&mut app, Action::NextMetric);
    assert_eq!(app.metric, PairMetric::Delta);
    assert_eq!(app.values[0], vec![1.0, -1.0, 2.5]);
    apply(&mut app, Action::NextMetric);
    assert_eq!(app.metric, PairMetric::Surprisal);
    apply(&mut app, Action::Right);
    let all = app.detail().lines.join("\n");
    assert!(all.contains("word '·color·is'") && all.contains("1 tokens of A, 2 of B"), "{all}");
    assert!(all.contains("delta (B−A) -1.000 bits"), "{all}");
    assert!(all.contains("no KL: different vocabularies"), "{all}");
    assert!(app.summary_line().unwrap().contains("no KL: different vocabularies"));
    let buf = draw(&mut app, 100, 30);
    assert!(screen(&buf).contains("no KL: different vocabularies"));
}

#[test]
fn edits_rescore_under_both_models() {
    let mut app = scored_app(ColorSupport::TrueColor);
    apply(&mut app, Action::Edit);
    assert_eq!(app.mode, Mode::Edit);
    apply(&mut app, Action::EditInsert('!'));
    let fx = apply(&mut app, Action::Tick);
    assert_eq!(fx, vec![PairEffect::Score { generation: 2, name: "color.txt".into(), text: format!("{TEXT}!") }]);
    assert!(apply(&mut app, Action::Tick).is_empty(), "sent once");
    // The old result stays until the new one comes; a stale generation is dropped.
    assert!(app.result.is_some() && app.pending.is_some());
    app.handle_worker(PairMsg::Scored { generation: 1, result: Err("stale".into()), seconds: 0.0 });
    assert!(app.error.is_none());
    let buf = draw(&mut app, 100, 30);
    assert!(screen(&buf).contains("full rescore"), "{}", screen(&buf));
    assert!(apply(&mut app, Action::EditDone).is_empty(), "already sent");
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn both_panes_are_drawn_on_one_scale() {
    let mut app = scored_app(ColorSupport::TrueColor);
    let buf = draw(&mut app, 100, 30);
    let s = screen(&buf);
    assert!(s.contains("A · a.gguf") && s.contains("B · b.gguf"), "{s}");
    assert!(s.contains("Binoculars") && s.contains("selected token: A | B"), "{s}");
    assert!(s.contains("A's top alternatives") && s.contains("B's top alternatives"), "{s}");
    assert!(s.contains("surprisal (each pane its own model)"), "{s}");
    let (ta, tb) = (app.text_areas[0], app.text_areas[1]);
    // ` blue` (token 4, bytes 20..25): 7.2 bits under A, 12.0 under B, on the scale 0–12.
    let at = |area: Rect| (area.x + 20, area.y);
    let style = |v: f64| scale::style_for(v / 12.0, Paint::Background, ColorSupport::TrueColor).bg.unwrap();
    assert_eq!(buf[at(ta)].bg, style(7.2));
    assert_eq!(buf[at(tb)].bg, style(12.0));
    // The selection (`My`) is reversed in both panes.
    assert!(buf[(ta.x, ta.y)].modifier.contains(Modifier::REVERSED));
    assert!(buf[(tb.x, tb.y)].modifier.contains(Modifier::REVERSED));
    assert!(!buf[at(tb)].modifier.contains(Modifier::REVERSED));

    // Delta: diverging colours, the same in both panes.
    while app.metric != PairMetric::Delta {
        apply(&mut app, Action::NextMetric);
    }
    let buf = draw(&mut app, 100, 30);
    let want = scale::diverging_style(1.0, ColorSupport::TrueColor).bg.unwrap();
    assert_eq!((buf[at(ta)].bg, buf[at(tb)].bg), (want, want));
    assert!(screen(&buf).contains("delta_bits (B − A)"));

    // Wide: side by side, both texts at one width.
    let _ = draw(&mut app, 160, 30);
    let (ta, tb) = (app.text_areas[0], app.text_areas[1]);
    assert_eq!(ta.y, tb.y);
    assert!(tb.x > ta.x && ta.width == tb.width);
}

#[test]
fn loading_and_failure_are_on_the_status_line() {
    let mut app = PairApp::new("t".into(), TEXT.into(), ["a".into(), "b".into()], ColorSupport::None);
    app.initial_jobs();
    let buf = draw(&mut app, 80, 24);
    assert!(screen(&buf).contains("loading two models"));
    app.handle_worker(PairMsg::LoadFailed("b: no such file".into()));
    app.handle_worker(PairMsg::Scored { generation: 1, result: Err("b: no such file".into()), seconds: 0.0 });
    assert_eq!(app.model, ModelState::Failed("b: no such file".into()));
    let buf = draw(&mut app, 80, 24);
    assert!(screen(&buf).contains("b: no such file"));
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf").join(name)
}

fn run_worker(a: &str, b: &str, text: &str) -> (Option<String>, PairResult) {
    let (tx, rx) = mpsc::channel();
    let models = PairModels { a: Some(fixture(a)), b: fixture(b), weights: WeightStorage::Resident };
    let backend = BackendOptions { choice: BackendChoice::Cpu, threads: Some(1), ..Default::default() };
    let worker = spawn(models, backend, ScoreOptions { top_k: 3, ..Default::default() }, tx);
    // Two jobs at once: only the newer is scored.
    for generation in [1, 2] {
        worker.jobs.send(PairJob { generation, name: "english".into(), text: text.into() }).unwrap();
    }
    let mut vocabulary = None;
    loop {
        match rx.recv_timeout(Duration::from_secs(300)).expect("the worker answers") {
            PairMsg::Ready { vocabulary: v, .. } => vocabulary = v,
            PairMsg::LoadFailed(e) => panic!("{e}"),
            PairMsg::Scored { generation, result, .. } => {
                assert_eq!(generation, 2, "the older job is dropped");
                return (vocabulary, result.unwrap());
            }
            _ => {}
        }
    }
}

fn english() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/texts/english.txt");
    let t = std::fs::read_to_string(p).unwrap();
    t.chars().take(300).collect()
}

#[test]
fn worker_scores_the_tiny_fixture_against_its_q8_0_quantization() {
    let text = english();
    let (vocabulary, result) = run_worker("tiny-llama-F32.gguf", "tiny-llama-Q8_0.gguf", &text);
    assert_eq!(vocabulary, None);
    let PairResult::Tokens(got) = result else { panic!("token level expected") };
    // The same numbers as the library's PairScorer.
    let a = std::sync::Arc::new(Model::load(&fixture("tiny-llama-F32.gguf")).unwrap());
    let b = std::sync::Arc::new(Model::load(&fixture("tiny-llama-Q8_0.gguf")).unwrap());
    let want = PairScorer::new(a, b, ScoreOptions { top_k: 3, ..Default::default() }, Some(1))
        .unwrap()
        .score("english", &text, &mut |_, _| {})
        .unwrap();
    assert_eq!(got.tokens, want.tokens);
    assert!(got.summary.mean_kl_ab_bits > 0.0, "a quantization moves the predictions");

    let mut app = PairApp::new("english".into(), text, ["F32".into(), "Q8_0".into()], ColorSupport::TrueColor);
    app.initial_jobs();
    app.handle_worker(PairMsg::Scored { generation: 1, result: Ok(PairResult::Tokens(got)), seconds: 1.0 });
    assert_eq!(app.units.len(), want.tokens.len());
    assert_eq!(app.metrics().len(), 5);
}

#[test]
fn worker_pairs_words_of_two_vocabularies() {
    let text = english();
    let (vocabulary, result) = run_worker("tiny-llama-F32.gguf", "tiny-qwen2-F32.gguf", &text);
    assert!(vocabulary.is_some_and(|v| !v.is_empty()));
    let PairResult::Words { text: t, words } = result else { panic!("word level expected") };
    assert_eq!(t, text);
    assert!(words.len() > 10);
    assert!(words.windows(2).all(|w| w[0].byte_end <= w[1].byte_start), "in text order, disjoint");
    assert!(
        words
            .iter()
            .filter(|w| w.scored)
            .all(|w| (w.delta_bits - (w.surprisal_bits_b - w.surprisal_bits_a)).abs() < 1e-12)
    );
}
