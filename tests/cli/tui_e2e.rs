//! End to end: the real `densi tui` binary in a pseudo-terminal (a private tmux server), as a user
//! would run it. Waits for the first frame, presses keys, reads the screen, quits, and checks that
//! the terminal is restored (no alternate screen, no mouse reporting, cursor visible, cooked mode).
//!
//! Needs `tmux` (CI: `apt-get install -y tmux`); without it the test says so loudly and passes.
//! With the default model present (models/SmolLM2-135M-Instruct.Q4_1.gguf) it also waits for the
//! text to be scored and checks the colours and the detail panel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux").args(["-L", &self.socket, "-f", "/dev/null"]).args(args).output().expect("running tmux")
    }
    fn capture(&self, escapes: bool) -> String {
        let mut a = vec!["capture-pane", "-p", "-t", "e2e"];
        if escapes {
            a.push("-e");
        }
        String::from_utf8_lossy(&self.cmd(&a).stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = self.cmd(&["send-keys", "-t", "e2e", k]);
            assert!(out.status.success(), "send-keys {k}: {}", String::from_utf8_lossy(&out.stderr));
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    fn flags(&self) -> String {
        let f = "#{alternate_on} #{mouse_any_flag} #{cursor_flag} #{keypad_cursor_flag}";
        String::from_utf8_lossy(&self.cmd(&["display-message", "-p", "-t", "e2e", f]).stdout).trim().to_string()
    }
    /// Polls the screen until `pred` holds; panics with the last screen after `secs`.
    fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.capture(false);
            if pred(&s) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("timed out after {secs}s waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn model_present() -> bool {
    std::env::var_os("DENSI_MODEL").is_some_and(|p| Path::new(&p).exists()) || crate::support::default_model().is_some()
}

/// Starts `densi tui` on a one-line text in a private tmux server; None when it cannot run here.
fn start(name: &str) -> Option<(Tmux, tempfile::TempDir)> {
    if Command::new("tmux").arg("-V").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("\n*** SKIPPED tui_e2e: tmux is not installed (apt-get install -y tmux) ***\n");
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_densi");
    let dir = tempfile::tempdir().unwrap();
    let text: PathBuf = dir.path().join("color.txt");
    std::fs::write(&text, "My favorite color is blue").unwrap();
    let tmux = Tmux { socket: format!("densi-e2e-{name}-{}", std::process::id()) };
    // The pane runs densi, then reports its exit status and the tty's mode (raw mode clears icanon).
    let script = format!(
        "cd {dir} && COLORTERM=truecolor {bin} tui {text}; echo DENSI_EXIT=$?; stty -a | grep -o -- '-\\?icanon' | sed 's/^/TTY_/'; sleep 600",
        dir = dir.path().display(),
        bin = bin,
        text = text.display()
    );
    let out = tmux.cmd(&["new-session", "-d", "-s", "e2e", "-x", "120", "-y", "36", "sh", "-c", &script]);
    assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
    Some((tmux, dir))
}

#[test]
fn tui_starts_draws_takes_keys_and_restores_the_terminal() {
    let Some((tmux, _dir)) = start("keys") else { return };
    // First frame: header, the pane with the file's name and its text.
    let s = tmux.wait_for("the first frame", 20, |s| {
        s.contains("densi") && s.contains("color.txt") && s.contains("My favorite color is blue")
    });
    assert!(s.contains("surprisal [bits]"), "{s}");
    let flags = tmux.flags();
    assert!(flags.starts_with("1 1"), "alternate screen and mouse reporting while running: {flags}");

    if model_present() {
        // Scored: the pane title counts tokens, the detail panel shows the first token.
        let s = tmux.wait_for("the text to be scored", 300, |s| s.contains("5 tok") || s.contains("model failed"));
        assert!(!s.contains("model failed"), "{s}");
        assert!(s.contains("'My'") && s.contains("surprisal"), "{s}");
        assert!(tmux.capture(true).contains("48;2;"), "truecolor backgrounds expected");
        // Move to the last token; entropy view.
        tmux.keys(&["End", "m"]);
        let s = tmux.wait_for("the detail of ` blue`", 5, |s| s.contains("'·blue'"));
        assert!(s.contains("entropy [bits]") && s.contains("rank"), "{s}");
        eprintln!("tui_e2e: scored with the default model:\n{s}");
    } else {
        eprintln!(
            "\n*** tui_e2e: no model (models/SmolLM2-135M-Instruct.Q4_1.gguf): checking the UI without scores ***\n"
        );
        tmux.wait_for("the model error", 20, |s| s.contains("model failed to load"));
    }
    finish(&tmux);
}

/// Help, quit, and the checks that the terminal is back as it was.
fn finish(tmux: &Tmux) {
    // Help opens and any key closes it.
    tmux.keys(&["?"]);
    tmux.wait_for("the help", 5, |s| s.contains("densi tui: keys"));
    tmux.keys(&["Space"]);
    tmux.wait_for("the help to close", 5, |s| !s.contains("densi tui: keys"));
    quit_and_check(tmux, "q");
}

#[test]
fn ctrl_c_also_restores_the_terminal() {
    let Some((tmux, _dir)) = start("ctrlc") else { return };
    tmux.wait_for("the first frame", 20, |s| s.contains("color.txt") && s.contains("My favorite color is blue"));
    quit_and_check(&tmux, "C-c");
}

fn quit_and_check(tmux: &Tmux, key: &str) {
    tmux.keys(&[key]);
    let s = tmux.wait_for("densi to exit", 10, |s| s.contains("DENSI_EXIT="));
    assert!(s.contains("DENSI_EXIT=0"), "{s}");
    let s = tmux.wait_for("the tty mode", 5, |s| s.contains("TTY_"));
    assert!(s.contains("TTY_icanon") && !s.contains("TTY_-icanon"), "raw mode left on:\n{s}");
    assert!(!s.contains("surprisal [bits]"), "the UI is still on screen:\n{s}");
    let flags = tmux.flags();
    assert_eq!(flags, "0 0 1 0", "alternate screen / mouse / cursor / keypad after exit");
}
