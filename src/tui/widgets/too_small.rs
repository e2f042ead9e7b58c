//! The message shown instead of a broken layout.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use crate::tui::ui::{MIN_HEIGHT, MIN_WIDTH};

pub fn render(area: Rect, buf: &mut Buffer) {
    let lines = [
        "terminal too small".to_string(),
        format!("need {MIN_WIDTH}×{MIN_HEIGHT}, have {}×{}", area.width, area.height),
        "enlarge the window, or q to quit".to_string(),
    ];
    let top = area.y + area.height.saturating_sub(lines.len() as u16) / 2;
    for (i, l) in lines.iter().enumerate() {
        let y = top + i as u16;
        if y >= area.bottom() {
            break;
        }
        let w = l.chars().count() as u16;
        let x = area.x + area.width.saturating_sub(w) / 2;
        let style = if i == 0 { Style::default().add_modifier(Modifier::BOLD) } else { Style::default() };
        buf.set_stringn(x, y, l, area.width as usize, style);
    }
}
