//! Rendering tests: the draw function on ratatui's TestBackend, with scored texts built from the
//! reference values of the example prompts (no model needed; see tui_common/reference.rs).

use super::common::*;
use crate::tui::action::{Action, apply};
use crate::tui::app::{App, Metric};
use crate::tui::scale::{self, ColorSupport, Paint};
use crate::tui::ui;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};

fn three(colors: ColorSupport) -> App {
    app_with(vec![wei_color(), wei_models(), wei_math()], colors)
}

fn set_metric(app: &mut App, m: Metric) {
    while app.metric != m {
        apply(app, Action::NextMetric);
    }
}

#[test]
fn token_background_follows_its_metric() {
    let mut app = three(ColorSupport::TrueColor);
    set_metric(&mut app, Metric::Entropy);
    let buf = draw(&mut app, 150, 40);
    let range = app.scale_range();
    // Fitted scale over all three panes: 0 to the largest entropy, ` favorite` (9.52 bits, reference).
    assert_eq!(range.0, 0.0);
    assert!((range.1 - 9.521193436155837).abs() < 1e-12, "{range:?}");
    // Every token's first cell has the colour of its own value on that scale.
    for (p, pane) in app.panes.iter().enumerate() {
        let score = pane.score.as_ref().unwrap();
        for (t, tok) in score.tokens.iter().enumerate() {
            let (x, y) = token_cell(&app, p, t);
            let want =
                scale::style_for(app.scale_t(tok.entropy_bits, range), Paint::Background, ColorSupport::TrueColor);
            assert_eq!(buf[(x, y)].bg, want.bg.unwrap(), "pane {p} token {t} {:?}", tok.token);
        }
    }
    // The check: the last word of the favourite-colour prompt (7.2 bits of entropy before
    // it) stands out where ` models` (2.0 bits) does not.
    let blue = token_cell(&app, 0, 4);
    let models = token_cell(&app, 1, 14);
    assert!(row(&buf, blue.1)[..].contains("blue"));
    let (lb, lm) = (luminance(buf[blue].bg), luminance(buf[models].bg));
    assert!(lb > 0.45 && lb > 4.0 * lm, "blue {lb:.2} vs models {lm:.2}");

    // Switch to surprisal: now ` Wei` (15.7 bits) is the brightest token on screen.
    set_metric(&mut app, Metric::Surprisal);
    let buf = draw(&mut app, 150, 40);
    let wei = token_cell(&app, 1, 3);
    assert_eq!(buf[wei].bg, scale::style_for(1.0, Paint::Background, ColorSupport::TrueColor).bg.unwrap());
    // Text on a bright background is black, on a dark one white.
    assert_eq!(buf[wei].fg, Color::Rgb(0, 0, 0));
    assert_eq!(buf[models].fg, Color::Rgb(255, 255, 255));
}

#[test]
fn foreground_paint_and_256_colours() {
    let mut app = three(ColorSupport::Ansi256);
    let buf = draw(&mut app, 150, 40);
    let c = token_cell(&app, 0, 0);
    assert!(matches!(buf[c].bg, Color::Indexed(_)), "{:?}", buf[c].bg);
    apply(&mut app, Action::TogglePaint);
    let buf = draw(&mut app, 150, 40);
    let c = token_cell(&app, 0, 1);
    assert!(matches!(buf[c].fg, Color::Indexed(_)) && buf[c].bg == Color::Reset, "{:?}", buf[c]);
}

#[test]
fn legend_shows_the_scale_in_bits() {
    let mut app = three(ColorSupport::TrueColor);
    set_metric(&mut app, Metric::Entropy);
    let buf = draw(&mut app, 150, 40);
    let header = row(&buf, 0);
    assert!(header.contains("entropy [bits]") && header.contains("fitted 0.00–9.52"), "{header}");
    let legend = row(&buf, 1);
    assert!(legend.contains("0.00") && legend.contains("9.52 bits") && legend.contains("think point"), "{legend}");
    // The bar between the labels runs from dark to bright.
    let (x0, y) = find(&buf, "0.00 ").unwrap();
    let lums: Vec<f64> = (x0 + 5..x0 + 5 + 32).map(|x| luminance(buf[(x, y)].bg)).collect();
    assert!(lums.windows(2).all(|w| w[1] >= w[0]) && lums[31] - lums[0] > 0.8, "{lums:?}");

    // Fixed scale: 0–20 bits.
    apply(&mut app, Action::ToggleScale);
    let buf = draw(&mut app, 150, 40);
    assert!(row(&buf, 0).contains("fixed 0.00–20.00"), "{}", row(&buf, 0));
    assert!(row(&buf, 1).contains("20.00 bits"));

    // Rank: GLTR's five buckets.
    set_metric(&mut app, Metric::Rank);
    let buf = draw(&mut app, 150, 40);
    let legend = row(&buf, 1);
    for b in ["1", "2–10", "11–100", "101–1k", ">1k"] {
        assert!(legend.contains(&format!(" {b} ")), "{legend}");
    }
}

#[test]
fn detail_panel_for_the_token_under_the_cursor() {
    let mut app = three(ColorSupport::TrueColor);
    apply(&mut app, Action::End); // ` blue`, the last token of wei_color
    let buf = draw(&mut app, 150, 40);
    let s = screen(&buf);
    // Values from the reference (wei_color.json, token 4).
    for want in [
        "'·blue'  id 4461 · #4 · bytes 20..25",
        "surprisal   3.11 bits · p 11.569% · rank 2",
        "entropy     7.20 bits · varentropy 13.71 bits²",
        "surprisal − entropy -4.09 bits",
        "◆ think point (H ≥ 6 and V ≥ 12)",
        "top 5 alternatives:",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    // Alternatives with bars; the actual token is marked.
    let (_, ya) = find(&buf, " '·a'").unwrap();
    assert!(row(&buf, ya).contains("11.77%") && row(&buf, ya).contains('█'));
    let (_, yb) = find(&buf, "▶'·blue'").unwrap();
    assert!(row(&buf, yb).contains("11.57%"));
    // The cursor is drawn reversed on ` blue`.
    assert!(buf[token_cell(&app, 0, 4)].modifier.contains(Modifier::REVERSED));
    assert!(!buf[token_cell(&app, 0, 3)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn comparison_layouts_with_two_three_and_four_panes() {
    for n in 2..=4 {
        let all = [wei_color(), wei_models(), wei_math(), wei_color()];
        let mut app = app_with(all[..n].to_vec(), ColorSupport::TrueColor);
        for (w, grid) in [(160u16, false), (100, n == 4)] {
            let buf = draw(&mut app, w, 40);
            let areas = ui::areas(&app, Rect::new(0, 0, w, 40));
            assert_eq!(areas.panes.len(), n);
            let rows: std::collections::BTreeSet<u16> = areas.panes.iter().map(|p| p.outer.y).collect();
            assert_eq!(rows.len(), if grid { 2 } else { 1 }, "{n} panes at width {w}");
            for (i, pa) in areas.panes.iter().enumerate() {
                // Each pane's title, and its summary with the difference from the first pane.
                let top = row(&buf, pa.outer.y);
                assert!(top.contains(&format!(" {} {}", i + 1, app.panes[i].name)), "{top}");
                let bottom: String =
                    (pa.outer.x..pa.outer.right()).map(|x| buf[(x, pa.outer.bottom() - 1)].symbol()).collect();
                let total = app.panes[i].score.as_ref().unwrap().summary.total_bits;
                assert!(bottom.contains(&format!(" {total:.1} b")), "{bottom}");
                if i > 0 {
                    assert!(bottom.contains("Δ1"), "{bottom}");
                }
            }
            // Panes do not overlap.
            for a in &areas.panes {
                for b in &areas.panes {
                    assert!(a == b || a.outer.intersection(b.outer).area() == 0);
                }
            }
        }
    }
}

#[test]
fn one_shared_scale_across_panes() {
    // The same value gets the same colour in every pane: pane 4 repeats pane 1's text.
    let mut app = app_with(vec![wei_color(), wei_models(), wei_math(), wei_color()], ColorSupport::TrueColor);
    let buf = draw(&mut app, 160, 40);
    for t in 0..5 {
        assert_eq!(buf[token_cell(&app, 0, t)].bg, buf[token_cell(&app, 3, t)].bg);
    }
}

#[test]
fn small_terminal_gets_a_message() {
    let mut app = three(ColorSupport::TrueColor);
    let buf = draw(&mut app, 50, 15);
    let s = screen(&buf);
    assert!(s.contains("terminal too small") && s.contains("need 60×20, have 50×15"), "{s}");
    assert!(!s.contains("wei_color"));
    // Growing it again brings the layout back.
    let buf = draw(&mut app, 120, 30);
    assert!(screen(&buf).contains("wei_color"));
}

#[test]
fn no_color_mode_uses_attributes_only() {
    let mut app = three(ColorSupport::None);
    set_metric(&mut app, Metric::Entropy);
    let buf = draw(&mut app, 150, 40);
    for y in 0..40 {
        for x in 0..150 {
            let c = &buf[(x, y)];
            assert!(c.fg == Color::Reset && c.bg == Color::Reset, "colour at {x},{y}: {c:?}");
        }
    }
    // ` favorite` (9.52 bits, the top of the fitted scale) is bold + underlined, ` on` (0.87) dim.
    let fav = buf[token_cell(&app, 0, 1)].modifier;
    assert!(fav.contains(Modifier::BOLD | Modifier::UNDERLINED), "{fav:?}");
    let on = buf[token_cell(&app, 1, 11)].modifier;
    assert!(on.contains(Modifier::DIM) && !on.contains(Modifier::BOLD), "{on:?}");
    // ` blue` (7.20 bits → 0.76 of the scale) is in the top level too; a think point is italic.
    let blue = buf[token_cell(&app, 0, 4)].modifier;
    assert!(blue.contains(Modifier::BOLD | Modifier::ITALIC), "{blue:?}");
    assert!(row(&buf, 1).contains("bold+underline"), "{}", row(&buf, 1));
}

#[test]
fn help_lists_every_key_and_the_think_point_rule() {
    let mut app = three(ColorSupport::TrueColor);
    apply(&mut app, Action::Help);
    let buf = draw(&mut app, 150, 45);
    let s = screen(&buf);
    for want in [
        "n / N",
        "+ / -",
        "m / M",
        "Tab / Shift-Tab",
        "e / E",
        "q / Esc / Ctrl-C",
        "entropy ≥ 6 bits and varentropy ≥ 12 bits²",
        "surprisal − entropy ≥ 8 bits",
    ] {
        assert!(s.contains(want), "missing {want:?}\n{s}");
    }
}

#[test]
fn scoring_in_progress_keeps_the_old_result_visible() {
    let mut app = three(ColorSupport::TrueColor);
    apply(&mut app, Action::Edit);
    apply(&mut app, Action::EditInsert('!'));
    let fx = apply(&mut app, Action::EditDone);
    assert_eq!(fx.len(), 1);
    let id = app.panes[0].id;
    let generation = app.panes[0].generation;
    app.handle_worker(crate::tui::event::WorkerMsg::Progress { pane_id: id, generation, done: 3, total: 6 });
    let buf = draw(&mut app, 150, 40);
    let top = row(&buf, 2);
    assert!(top.contains("scoring 50%"), "{top}");
    // The old text and its colours are still there.
    assert!(row(&buf, 3).contains("My favorite color is blue"));
    assert_ne!(buf[token_cell(&app, 0, 4)].bg, Color::Reset);
}

#[test]
fn long_text_scrolls_and_draws_only_what_is_visible() {
    // 40 000 tokens: a sentence of 8 words repeated, one token per word.
    let sentence = "The quick brown fox jumps over lazy dogs. ";
    let text = sentence.repeat(5000);
    let cuts: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).filter(|&i| i > 0).collect();
    let score = cut("long", &text, &cuts);
    assert!(score.tokens.len() >= 40_000);
    let mut app = app_with(vec![score], ColorSupport::TrueColor);
    let t0 = std::time::Instant::now();
    draw(&mut app, 120, 40);
    let first = t0.elapsed();
    // Jump to the end: the last token is on screen; the first is not.
    apply(&mut app, Action::End);
    let t1 = std::time::Instant::now();
    let buf = draw(&mut app, 120, 40);
    let frame = t1.elapsed();
    let last = app.pane().units.len() - 1;
    let (x, y) = token_cell(&app, 0, last);
    let pa = app.pane().text_area;
    assert!(y >= pa.y && y < pa.bottom() && buf[(x, y)].modifier.contains(Modifier::REVERSED));
    assert!(app.pane().scroll > 1000);
    // Paging up moves one screen of lines.
    let before = app.pane().scroll;
    apply(&mut app, Action::PageUp);
    draw(&mut app, 120, 40);
    assert!(before - app.pane().scroll >= (pa.height as usize) - 2, "{before} → {}", app.pane().scroll);
    eprintln!("40k tokens: first layout+draw {first:?}, a frame after moving {frame:?}");
    assert!(frame < std::time::Duration::from_millis(500), "a frame took {frame:?}");
}

#[test]
fn edit_mode_shows_the_buffer_and_the_caret() {
    let mut app = three(ColorSupport::TrueColor);
    apply(&mut app, Action::Edit);
    for c in " sky\nnext".chars() {
        apply(&mut app, Action::EditInsert(c));
    }
    crate::tui::ui::relayout(&mut app, Rect::new(0, 0, 150, 40));
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(150, 40)).unwrap();
    t.draw(|f| ui::draw(f, &app)).unwrap();
    let buf = t.backend().buffer().clone();
    let pa = app.panes[0].text_area;
    assert!(row(&buf, pa.y).contains("My favorite color is blue sky↵"), "{}", row(&buf, pa.y));
    assert!(row(&buf, pa.y + 1).contains("next"));
    assert!(row(&buf, pa.y - 1).contains("EDIT"));
    // The caret is after "next" on the second line.
    t.backend_mut().assert_cursor_position((pa.x + 4, pa.y + 1));
}
