//! Action tests on the app state, without a terminal: cursor movement, dense-token jumps, metric
//! cycling, panes, editing and rescoring through a fake worker channel, mouse, export.

use std::sync::mpsc;

use super::common::*;
use crate::tui::action::{Action, apply, from_key};
use crate::tui::app::{App, Effect, ListKind, Metric, Mode, is_think_point};
use crate::tui::event::{Reuse, ScoreRun, WorkerMsg};
use crate::tui::layout::View;
use crate::tui::scale::ColorSupport;
use crate::tui::worker::Job;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    let a = from_key(app, KeyEvent::new(code, KeyModifiers::NONE)).unwrap_or_else(|| panic!("no action for {code:?}"));
    apply(app, a)
}

fn cursor_text(app: &App) -> String {
    let p = app.pane();
    p.shown_text()[p.units[p.cursor].bytes.clone()].to_string()
}

// "Zoë 水👋 OpenAI" cut at byte boundaries, some inside characters:
// Zo | ë | " \xE6" | "\xB0\xB4" | "\xF0\x9F" | "\x91\x8B" | " Open" | AI
const MIXED: &str = "Zoë 水👋 OpenAI";
const CUTS: [usize; 7] = [2, 4, 6, 8, 10, 12, 17];

#[test]
fn cursor_moves_over_multibyte_characters_split_across_tokens() {
    let mut app = app_with(vec![cut("mixed", MIXED, &CUTS)], ColorSupport::TrueColor);
    draw(&mut app, 100, 30);
    let seen: Vec<(usize, String)> = (0..8)
        .map(|i| {
            if i > 0 {
                key(&mut app, KeyCode::Right);
            }
            (app.pane().cursor, cursor_text(&app))
        })
        .collect();
    // A token that only finishes a character paints nothing; the character belongs to the token that began it.
    let want: Vec<(usize, String)> =
        [(0, "Zo"), (1, "ë"), (2, " 水"), (3, ""), (4, "👋"), (5, ""), (6, " Open"), (7, "AI")]
            .iter()
            .map(|&(i, s)| (i, s.to_string()))
            .collect();
    assert_eq!(seen, want);
    key(&mut app, KeyCode::Right);
    assert_eq!(app.pane().cursor, 7, "stops at the last token");
    // Screen columns: 👋 is two cells wide, so " Open" starts at column 8 (Z o ë ␠ 水=2 👋=2).
    let lay = app.pane().wrapped.clone().unwrap();
    assert_eq!(lay.unit_pos[6], (0, 8));
    // Drawn with the cursor on the empty token 5: the 👋 cells show it.
    app.panes[0].cursor = 5;
    let buf = draw(&mut app, 100, 30);
    let (x, y) = find(&buf, "👋").unwrap();
    assert!(buf[(x, y)].modifier.contains(ratatui::style::Modifier::REVERSED));
    // Home / End.
    key(&mut app, KeyCode::Home);
    assert_eq!(app.pane().cursor, 0);
    key(&mut app, KeyCode::End);
    assert_eq!(app.pane().cursor, 7);
}

#[test]
fn word_view_moves_over_multi_token_words() {
    let mut app = app_with(vec![cut("mixed", MIXED, &CUTS)], ColorSupport::TrueColor);
    draw(&mut app, 100, 30);
    key(&mut app, KeyCode::End); // token 7, "AI"
    key(&mut app, KeyCode::Char('w'));
    assert_eq!(app.view, View::Words);
    // Words: Zoë = Zo+ë, " 水" = two tokens, 👋 = two tokens, " OpenAI" = " Open"+"AI".
    let words: Vec<(usize, usize)> = app.pane().units.iter().map(|u| (u.first, u.last)).collect();
    assert_eq!(words, vec![(0, 1), (2, 3), (4, 5), (6, 7)]);
    assert_eq!(app.pane().cursor, 3, "the cursor stays on the word that holds its token");
    assert_eq!(cursor_text(&app), " OpenAI");
    key(&mut app, KeyCode::Left);
    assert_eq!(cursor_text(&app), "👋");
    key(&mut app, KeyCode::Char('h'));
    assert_eq!(cursor_text(&app), " 水");
    // With `--word-probability uncorrected`, a word's surprisal is the sum over its tokens (tokens 3
    // and 4 have 3 and 4 bits). (The corrected value needs boundary mass, which `cut` leaves NaN; see
    // tests/words.rs for it.)
    app.set_word_probability(densi::export::WordProbability::Uncorrected);
    assert_eq!(app.pane().values[1], 3.0 + 4.0);
    // Back to tokens: the cursor is on the word's first token.
    key(&mut app, KeyCode::Char('w'));
    assert_eq!((app.view, app.pane().cursor), (View::Tokens, 2));
}

#[test]
fn up_and_down_move_between_wrapped_lines() {
    let text = "one two three four five six seven eight nine ten";
    let cuts: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).collect();
    let mut app = app_with(vec![cut("words", text, &cuts)], ColorSupport::TrueColor);
    // A 60-column terminal: 60 wide pane, 58 inside the border: all on one line.
    draw(&mut app, 60, 30);
    key(&mut app, KeyCode::Down);
    assert_eq!(app.pane().cursor, 9, "one line: down goes to the last token");
    // Four panes in a 2×2 grid at 60 columns → 28-wide text areas: two lines.
    let mut app = app_with(
        vec![cut("a", text, &cuts), cut("b", text, &cuts), cut("c", text, &cuts), cut("d", text, &cuts)],
        ColorSupport::TrueColor,
    );
    draw(&mut app, 60, 30);
    let lay = app.pane().wrapped.clone().unwrap();
    assert!(lay.lines.len() >= 2, "{:?}", lay.lines);
    key(&mut app, KeyCode::Char('j'));
    let (line, _) = lay.unit_pos[app.pane().cursor];
    assert_eq!(line, 1);
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.pane().cursor, 0);
}

#[test]
fn next_and_previous_dense_token() {
    let mut app = app_with(vec![wei_models()], ColorSupport::TrueColor);
    draw(&mut app, 120, 30);
    assert_eq!((app.metric, app.threshold()), (Metric::Surprisal, 8.0));
    // Tokens of wei_models with surprisal ≥ 8 bits (reference): I, Jason, Wei, researcher, Open, large.
    let mut hits = vec![];
    for _ in 0..6 {
        key(&mut app, KeyCode::Char('n'));
        hits.push(app.pane().cursor);
    }
    assert_eq!(hits, vec![2, 3, 6, 8, 12, 12]);
    assert!(app.status.as_ref().unwrap().0.contains("no surprisal ≥ 8.00 after the cursor"));
    key(&mut app, KeyCode::Char('N'));
    assert_eq!(app.pane().cursor, 8);
    // Raising the threshold to 13 bits leaves Jason (13.19), Open (13.03) and Wei (15.74).
    for _ in 0..10 {
        key(&mut app, KeyCode::Char('+'));
    }
    assert_eq!(app.threshold(), 13.0);
    key(&mut app, KeyCode::Home);
    let mut hits = vec![];
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('n'));
        hits.push(app.pane().cursor);
    }
    assert_eq!(hits, vec![2, 3, 8]);
    key(&mut app, KeyCode::Char('-'));
    assert_eq!(app.threshold(), 12.5);
}

#[test]
fn metric_cycling() {
    let mut app = app_with(vec![wei_color()], ColorSupport::TrueColor);
    let order: Vec<Metric> = (0..6)
        .map(|_| {
            let m = app.metric;
            key(&mut app, KeyCode::Char('m'));
            m
        })
        .collect();
    assert_eq!(
        order,
        vec![Metric::Surprisal, Metric::Entropy, Metric::Varentropy, Metric::Excess, Metric::Rank, Metric::Surprisal]
    );
    key(&mut app, KeyCode::Char('M'));
    assert_eq!(app.metric, Metric::Surprisal);
    // Values follow the metric: ` blue` (reference: S 3.112, H 7.199, V 13.705, rank 2).
    let blue = |app: &App| app.pane().values[4];
    assert!((blue(&app) - 3.1117229200266343).abs() < 1e-12);
    key(&mut app, KeyCode::Char('m'));
    assert!((blue(&app) - 7.198754472010625).abs() < 1e-12);
    key(&mut app, KeyCode::Char('m'));
    assert!((blue(&app) - 13.70515474960961).abs() < 1e-12);
    key(&mut app, KeyCode::Char('m'));
    assert!((blue(&app) - (3.1117229200266343 - 7.198754472010625)).abs() < 1e-12);
    key(&mut app, KeyCode::Char('m'));
    assert_eq!(blue(&app), 1.0, "rank 2 is in bucket 2–10");
}

#[test]
fn panes_are_added_and_closed() {
    let mut app = app_with(vec![wei_color(), wei_models(), wei_math()], ColorSupport::TrueColor);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, 1);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, 2);
    // `a` adds an empty pane and starts editing it.
    key(&mut app, KeyCode::Char('a'));
    assert_eq!((app.panes.len(), app.focus, &app.mode), (4, 3, &Mode::Edit));
    for c in "hi".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let fx = key(&mut app, KeyCode::Esc);
    assert!(matches!(&fx[..], [Effect::Score { text, .. }] if text == "hi"));
    // No fifth pane.
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(app.panes.len(), 4);
    assert!(app.status.as_ref().unwrap().1);
    // `x` closes the focused pane; the last one stays.
    key(&mut app, KeyCode::Char('x'));
    assert_eq!((app.panes.len(), app.focus), (3, 2));
    let names: Vec<&str> = app.panes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["wei_color", "wei_models", "wei_math"]);
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(app.panes.len(), 1);
    assert_eq!(app.pane().name, "wei_color");
}

/// Edit a pane, leave edit mode, and let a fake worker (a thread on the same channels as the real
/// one) answer: the old result stays until the new one arrives; stale results are dropped.
#[test]
fn edit_then_rescore_through_the_worker_channel() {
    let mut app = app_with(vec![wei_color()], ColorSupport::TrueColor);
    draw(&mut app, 120, 30);
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (msg_tx, msg_rx) = mpsc::channel::<WorkerMsg>();
    let fake = std::thread::spawn(move || {
        for job in job_rx {
            // Score: one token per word, surprisal = the word's length in bytes.
            let cuts: Vec<usize> = job.text.match_indices(' ').map(|(i, _)| i).collect();
            let score = cut(&job.name, &job.text, &cuts);
            msg_tx
                .send(WorkerMsg::Progress { pane_id: job.pane_id, generation: job.generation, done: 1, total: 2 })
                .unwrap();
            msg_tx
                .send(WorkerMsg::Scored {
                    pane_id: job.pane_id,
                    generation: job.generation,
                    result: Ok(score),
                    run: Default::default(),
                })
                .unwrap();
        }
    });

    key(&mut app, KeyCode::Char('i'));
    assert_eq!(app.mode, Mode::Edit);
    // Caret at the end; type " sky", fix a typo with Backspace.
    for c in " skx".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Char('y'));
    let fx = key(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    let Some(Effect::Score { pane_id, generation, name, text }) = fx.into_iter().next() else { panic!("no job") };
    assert_eq!(text, "My favorite color is blue sky");
    assert_eq!(app.panes[0].pending.map(|p| p.generation), Some(generation));
    // While it is being scored, the old result is still shown.
    assert_eq!(app.pane().score.as_ref().unwrap().text, "My favorite color is blue");

    // A stale answer for an older generation is ignored.
    app.set_score(pane_id, generation - 1, Ok(cut("old", "old", &[])), None);
    assert_eq!(app.pane().score.as_ref().unwrap().text, "My favorite color is blue");

    job_tx.send(Job { pane_id, generation, name, text }).unwrap();
    let progress = msg_rx.recv().unwrap();
    app.handle_worker(progress);
    let pend = app.pane().pending.unwrap();
    assert_eq!((pend.done, pend.total), (1, 2));
    app.handle_worker(msg_rx.recv().unwrap());
    assert!(app.pane().pending.is_none());
    let s = app.pane().score.as_ref().unwrap();
    assert_eq!(s.text, "My favorite color is blue sky");
    assert_eq!(app.pane().units.len(), 6);
    drop(job_tx);
    fake.join().unwrap();

    // Editing without a change sends nothing.
    key(&mut app, KeyCode::Char('i'));
    assert!(key(&mut app, KeyCode::Esc).is_empty());
}

/// A text cut into one token per word (each space starts a token).
fn by_words(id: &str, text: &str) -> densi::metrics::TextScore {
    let cuts: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).collect();
    cut(id, text, &cuts)
}

/// Typing in edit mode rescores the buffer at each pause (the Tick after the last key), each text a
/// new generation; a result for an older generation is ignored; the edit view colours the part of
/// the buffer equal to the scored text, leaves the rest plain, and the status line says how the
/// result was computed.
#[test]
fn edits_are_rescored_while_typing() {
    let mut app = app_with(vec![wei_color()], ColorSupport::TrueColor);
    draw(&mut app, 120, 30);
    key(&mut app, KeyCode::Char('i'));
    // Keys alone send nothing (fast typing queues no work); the pause after them does.
    for c in " sky".chars() {
        assert!(key(&mut app, KeyCode::Char(c)).is_empty());
    }
    let fx = apply(&mut app, Action::Tick);
    let [Effect::Score { pane_id, generation: g1, text, .. }] = fx.as_slice() else { panic!("{fx:?}") };
    let (pane_id, g1) = (*pane_id, *g1);
    assert_eq!(text, "My favorite color is blue sky");
    assert_eq!(app.mode, Mode::Edit, "still editing");
    assert_eq!(app.pane().pending.map(|p| p.generation), Some(g1));
    // No change since: nothing sent. Moving the caret is no change.
    assert!(apply(&mut app, Action::Tick).is_empty());
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Right);
    assert!(apply(&mut app, Action::Tick).is_empty());

    for c in " is".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let fx = apply(&mut app, Action::Tick);
    let [Effect::Score { generation: g2, text, .. }] = fx.as_slice() else { panic!("{fx:?}") };
    let g2 = *g2;
    assert!(g2 > g1, "a new generation: {g2} after {g1}");
    assert_eq!(text, "My favorite color is blue sky is");

    // The first text's result comes after the second was sent: it is ignored.
    let run = ScoreRun { seconds: 0.18, reuse: Some(Reuse { positions: 8, computed: 2 }) };
    app.handle_worker(WorkerMsg::Scored {
        pane_id,
        generation: g1,
        result: Ok(by_words("t", "My favorite color is blue sky")),
        run,
    });
    assert_eq!(app.pane().score.as_ref().unwrap().text, "My favorite color is blue");
    assert!(app.pane().pending.is_some());
    // The second's is installed, with how it was computed.
    app.handle_worker(WorkerMsg::Scored {
        pane_id,
        generation: g2,
        result: Ok(by_words("t", "My favorite color is blue sky is")),
        run,
    });
    assert!(app.pane().pending.is_none());
    assert_eq!(app.pane().score.as_ref().unwrap().text, "My favorite color is blue sky is");
    assert_eq!(app.pane().run, Some(run));

    // Typed on, not yet sent: the scored part is coloured, the new word plain.
    for c in " grey".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let buf = draw(&mut app, 120, 30);
    let pa = app.panes[0].text_area;
    assert!(row(&buf, pa.y).contains("My favorite color is blue sky is grey"), "{}", row(&buf, pa.y));
    let (x, y) = find(&buf, "sky is grey").unwrap();
    for (dx, what) in [(0, "sky"), (4, "is")] {
        let bg = buf[(x + dx, y)].bg;
        assert!(matches!(bg, ratatui::style::Color::Rgb(..)), "{what}: scored, coloured: {bg:?}");
    }
    assert_eq!(buf[(x + 7, y)].bg, ratatui::style::Color::Reset, "grey: not scored yet, plain");
    assert!(screen(&buf).contains("7 tokens · 2 computed, 6 reused · 0.18 s"), "{}", screen(&buf));

    // Leaving edit mode sends what was typed since the last pause ...
    let fx = key(&mut app, KeyCode::Esc);
    let [Effect::Score { generation: g3, text, .. }] = fx.as_slice() else { panic!("{fx:?}") };
    assert!(*g3 > g2);
    assert_eq!(text, "My favorite color is blue sky is grey");
    // ... and nothing when the buffer was already sent.
    key(&mut app, KeyCode::Char('i'));
    key(&mut app, KeyCode::Char('!'));
    assert_eq!(apply(&mut app, Action::Tick).len(), 1);
    assert!(key(&mut app, KeyCode::Esc).is_empty(), "already being scored");
}

#[test]
fn editor_caret_moves_over_lines_and_multibyte_text() {
    let mut app = app_with(vec![cut("t", "ab\nc水d", &[])], ColorSupport::TrueColor);
    key(&mut app, KeyCode::Char('i'));
    let caret = |app: &App| app.pane().edit.as_ref().unwrap().caret;
    assert_eq!(caret(&app), "ab\nc水d".len());
    key(&mut app, KeyCode::Left);
    assert_eq!(caret(&app), 4 + 3, "one character back over 'd'");
    key(&mut app, KeyCode::Left);
    assert_eq!(caret(&app), 4, "over the 3-byte 水");
    key(&mut app, KeyCode::Up);
    assert_eq!(caret(&app), 1, "column 1 of the line above");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Delete);
    assert_eq!(app.pane().edit.as_ref().unwrap().buffer, "a\n\nc水d");
}

#[test]
fn mouse_click_moves_the_cursor_and_focus() {
    let mut app = app_with(vec![wei_color(), wei_models()], ColorSupport::TrueColor);
    draw(&mut app, 120, 30);
    let (x, y) = token_cell(&app, 1, 3); // ` Wei`
    apply(&mut app, Action::Click { col: x + 2, row: y });
    assert_eq!((app.focus, app.pane().cursor), (1, 3));
    let (x, y) = token_cell(&app, 1, 7);
    apply(&mut app, Action::Hover { col: x, row: y });
    assert_eq!(app.pane().cursor, 7);
    // Hovering over another pane does not steal the focus.
    let (x, y) = token_cell(&app, 0, 2);
    apply(&mut app, Action::Hover { col: x, row: y });
    assert_eq!((app.focus, app.pane().cursor), (1, 7));
}

#[test]
fn think_points_and_sentence_list() {
    let mut app = app_with(vec![wei_color(), wei_models(), wei_math()], ColorSupport::TrueColor);
    draw(&mut app, 150, 40);
    // The rule on the reference values selects these tokens.
    let mut found = vec![];
    for p in &app.panes {
        let s = p.score.as_ref().unwrap();
        found.extend(p.think.iter().map(|&i| s.tokens[i].token.clone()));
        assert!(p.think.iter().all(|&i| is_think_point(&s.tokens[i])));
    }
    assert_eq!(found, vec![" blue", " Jason", " Wei", " researcher", " square", " ((", " [", "A"]);
    // Jump through think points of wei_models with t and ].
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.list, ListKind::ThinkPoints);
    key(&mut app, KeyCode::Char(']'));
    assert_eq!(app.pane().cursor, 3, "second think point, ` Wei`");
    key(&mut app, KeyCode::Char('['));
    assert_eq!(app.pane().cursor, 2);
    // Densest sentences of wei_math: the library's ranking (mean bits per token, as `compare`), so the
    // first is `compare`'s densest sentence; the list is sorted and `[` (the first item) jumps to its first token.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('t'));
    let p = app.pane();
    let s = p.score.as_ref().unwrap();
    let densest = densi::export::words::densest_sentence(&s.text, &s.tokens).unwrap();
    assert_eq!(p.sentences[0], densest);
    assert!(p.sentences.len() > 1);
    assert!(p.sentences.windows(2).all(|w| w[0].mean_bits_per_token() >= w[1].mean_bits_per_token()));
    key(&mut app, KeyCode::Char('['));
    assert_eq!(app.pane().cursor, densest.token_start);
}

#[test]
fn export_writes_the_cli_formats_atomically() {
    let mut app = app_with(vec![wei_color(), wei_models()], ColorSupport::TrueColor);
    key(&mut app, KeyCode::Char('e'));
    let Mode::Prompt(p) = &app.mode else { panic!() };
    assert_eq!(p.input, "densi-wei_color.csv");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json");
    // Replace the suggested name.
    for _ in 0..p.input.len() {
        key(&mut app, KeyCode::Backspace);
    }
    for c in path.to_str().unwrap().chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let fx = key(&mut app, KeyCode::Enter);
    let Some(Effect::Export { path: out, panes }) = fx.into_iter().next() else { panic!("no export") };
    assert_eq!((out.as_path(), panes.as_slice()), (path.as_path(), &[0usize][..]));
    let owned_first: Vec<densi::metrics::TextScore> =
        panes.iter().map(|&i| app.panes[i].score.clone().unwrap()).collect();
    let scores: Vec<&densi::metrics::TextScore> = owned_first.iter().collect();
    let f = crate::tui::export_file(&out, &scores, densi::export::Level::Token, provenance()).unwrap();
    assert_eq!(f, densi::export::Format::Json);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let text = serde_json::to_string(&v).unwrap();
    assert!(text.contains("wei_color") && text.contains(" blue") && text.contains("3.11172292"), "{text}");
    // Only the target is left in the directory (no temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // An existing file is not overwritten.
    assert!(crate::tui::export_file(&out, &scores, densi::export::Level::Token, provenance()).is_err());
    // All panes as CSV, one row per word: the same bytes as the library's exporter.
    key(&mut app, KeyCode::Char('E'));
    let Mode::Prompt(p) = &app.mode else { panic!() };
    assert_eq!(p.input, "densi-all.csv");
    let csv = dir.path().join("all.csv");
    let all: Vec<_> = app.panes.iter().map(|p| p.score.as_ref().unwrap()).collect();
    crate::tui::export_file(&csv, &all, densi::export::Level::Word, provenance()).unwrap();
    let owned: Vec<densi::metrics::TextScore> = all.iter().map(|s| (*s).clone()).collect();
    let opts = densi::export::ExportOptions {
        format: densi::export::Format::Csv,
        units: densi::export::Units::Bits,
        level: densi::export::Level::Word,
    };
    assert_eq!(std::fs::read(&csv).unwrap(), densi::export::export_to_vec(&owned, opts, provenance()).unwrap());
    // A name without a known extension, or in a missing directory: a typed error naming the path, nothing written.
    let err = crate::tui::export_file(&dir.path().join("out.txt"), &scores, densi::export::Level::Token, provenance())
        .unwrap_err()
        .to_string();
    assert!(err.contains("out.txt") && err.contains(".csv"), "{err}");
    let bad = dir.path().join("missing/out.json");
    let err =
        crate::tui::export_file(&bad, &scores, densi::export::Level::Token, provenance()).unwrap_err().to_string();
    assert!(err.contains("missing/out.json"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
