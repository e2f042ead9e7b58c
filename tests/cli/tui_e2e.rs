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
    start_with(name, "color.txt", "My favorite color is blue")
}

/// Starts `densi tui` on `text`, saved as `file`, in a private tmux server; None when it cannot run here.
fn start_with(name: &str, file: &str, text: &str) -> Option<(Tmux, tempfile::TempDir)> {
    start_args(name, file, text, "")
}

/// [`start_with`], with more command-line arguments before the file.
fn start_args(name: &str, file: &str, text: &str, args: &str) -> Option<(Tmux, tempfile::TempDir)> {
    if Command::new("tmux").arg("-V").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("\n*** SKIPPED tui_e2e: tmux is not installed (apt-get install -y tmux) ***\n");
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_densi");
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    let tmux = Tmux { socket: format!("densi-e2e-{name}-{}", std::process::id()) };
    // The pane runs densi, then reports its exit status and the tty's mode (raw mode clears icanon).
    let script = format!(
        "cd {dir} && COLORTERM=truecolor {bin} tui {args} {text}; echo DENSI_EXIT=$?; stty -a | grep -o -- '-\\?icanon' | sed 's/^/TTY_/'; sleep 600",
        dir = dir.path().display(),
        bin = bin,
        text = path.display()
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

/// The number before ` computed,` on the status line (`2001 tokens · 5 computed, 1996 reused · 0.18 s`).
fn computed(screen: &str) -> Option<u64> {
    let before = &screen[..screen.find(" computed,")?];
    before.rsplit(' ').next()?.parse().ok()
}

/// The escape sequence in effect at byte `offset` of the first occurrence of `needle` on a
/// `capture-pane -e` screen (its text with the escapes taken out): the last one before that character.
fn escape_before(colored: &str, needle: &str, offset: usize) -> Option<String> {
    for line in colored.lines() {
        let (mut plain, mut escapes) = (String::new(), Vec::<(usize, String)>::new());
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                let mut seq = String::from(c);
                for d in chars.by_ref() {
                    seq.push(d);
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
                escapes.push((plain.len(), seq));
            } else {
                plain.push(c);
            }
        }
        if let Some(at) = plain.find(needle) {
            let at = at + offset;
            return Some(escapes.iter().rev().find(|(p, _)| *p <= at).map(|(_, e)| e.clone()).unwrap_or_default());
        }
    }
    None
}

/// Typing at the end of a long text (~2,000 tokens): still in edit mode, the new word is scored
/// through the prefix cache (the status line counts a few positions computed, the rest reused) and
/// drawn coloured.
#[test]
fn typing_at_the_end_of_a_long_text_rescores_only_the_new_tokens() {
    if !model_present() {
        eprintln!("\n*** SKIPPED typing_at_the_end_of_a_long_text: no default model ***\n");
        return;
    }
    // About 2,000 tokens of real English text (the first 8,000 bytes of the tokenizer test corpus,
    // ending at a line break).
    let corpus =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_corpus.txt"))
            .unwrap();
    let long = &corpus[..corpus[..8000].rfind('\n').unwrap()];
    let Some((tmux, _dir)) = start_with("edit", "long.txt", long) else { return };
    let s = tmux.wait_for("the long text to be scored", 600, |s| s.contains(" tok ") || s.contains("model failed"));
    assert!(!s.contains("model failed"), "{s}");
    tmux.keys(&["i"]);
    tmux.wait_for("edit mode", 5, |s| s.contains("scored as you type"));
    let out = tmux.cmd(&["send-keys", "-t", "e2e", "-l", " zebra"]);
    assert!(out.status.success());
    // The pause after the last key sends the buffer; its result says how much was computed.
    let s = tmux.wait_for("the edit's result", 60, |s| computed(s).is_some_and(|n| n <= 16));
    assert!(s.contains("scored as you type"), "still in edit mode:\n{s}");
    eprintln!("tui_e2e: after the edit:\n{s}");
    // The new word is coloured: the last escape before it sets an RGB background. The word appears
    // nowhere in the corpus; the editor is left of the side panels, so it is the first on screen.
    let escape = escape_before(&tmux.capture(true), "zebra", 0).expect("the typed word on screen");
    assert!(escape.contains("48;2;"), "` zebra` drawn plain: {escape:?}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("normal mode", 5, |s| !s.contains("scored as you type"));
    quit_and_check(&tmux, "q");
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

/// `densi tui --model A --model B` on the tiny fixture and its Q8_0 quantization (no download
/// needed): both panes, the pair summary, the detail of both models, then the KL colouring.
#[test]
fn two_models_show_both_panes_and_switch_to_the_kl_colouring() {
    let gguf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf");
    let args = format!(
        "--backend cpu --threads 1 --model {} --model {}",
        gguf.join("tiny-llama-F32.gguf").display(),
        gguf.join("tiny-llama-Q8_0.gguf").display()
    );
    let Some((tmux, _dir)) = start_args("pair", "color.txt", "My favorite color is blue", &args) else { return };
    let s = tmux.wait_for("both panes", 20, |s| {
        s.contains("A · tiny-llama-F32.gguf") && s.contains("B · tiny-llama-Q8_0.gguf")
    });
    assert_eq!(s.matches("My favorite color is blue").count(), 2, "the text in both panes:\n{s}");
    let s = tmux.wait_for("both models' scores", 120, |s| s.contains("Binoculars") || s.contains("failed"));
    assert!(s.contains("ppl A") && s.contains("mean KL A‖B") && s.contains("top-1 agrees"), "{s}");
    assert!(s.contains("selected token: A | B") && s.contains("A's top alternatives"), "{s}");
    assert!(tmux.capture(true).contains("48;2;"), "truecolor backgrounds expected");
    // m: entropy, delta_bits, then KL(A‖B).
    tmux.keys(&["m", "m"]);
    tmux.wait_for("the delta colouring", 5, |s| s.contains("delta_bits (B − A)"));
    tmux.keys(&["m", "End"]);
    let s = tmux.wait_for("the KL colouring", 5, |s| s.contains("kl_ab_bits KL(A‖B) (one value per position"));
    assert!(s.contains("KL(B‖A)") && s.contains("cross-entropy A→B"), "{s}");
    eprintln!("tui_e2e: two models, KL colouring:\n{s}");
    tmux.keys(&["?"]);
    tmux.wait_for("the help", 5, |s| s.contains("two models: keys"));
    tmux.keys(&["Space"]);
    tmux.wait_for("the help to close", 5, |s| !s.contains("two models: keys"));
    quit_and_check(&tmux, "q");
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

/// With two models `densi tui` shows one text; more than two models, or more than one text, are
/// usage errors (exit 2) before the terminal is touched.
#[test]
fn more_than_two_models_or_texts_are_usage_errors() {
    let gguf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf");
    let (a, b) = (gguf.join("tiny-llama-F32.gguf"), gguf.join("tiny-llama-Q8_0.gguf"));
    let run =
        |args: &[&std::ffi::OsStr]| Command::new(env!("CARGO_BIN_EXE_densi")).arg("tui").args(args).output().unwrap();
    let m = std::ffi::OsStr::new("--model");
    let out = run(&[m, a.as_os_str(), m, b.as_os_str(), m, a.as_os_str(), "--text".as_ref(), "hi".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most two"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&[
        m,
        a.as_os_str(),
        m,
        b.as_os_str(),
        "--text".as_ref(),
        "one".as_ref(),
        "--text".as_ref(),
        "two".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("one text under both"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
