//! `densi report` end to end: the page in a real headless Chromium (tests/cli/report_browser.py,
//! driven over the DevTools protocol by Selenium + chromedriver), and the bad inputs that must end
//! like `export`'s (one line, no file).
//!
//! The browser is Debian's `chromium` with `chromium-driver` and `python3-selenium` (.ci/run installs
//! them). Without them the browser test is skipped loudly, except under CI (`DENSI_REQUIRE_MODEL=1`
//! or `DENSI_REQUIRE_BROWSER=1`), where a missing browser is a failure.
//! `DENSI_REPORT_SCREENSHOT=PATH` also writes the three example prompts' screenshot to PATH (the
//! README's docs/report.png is made this way).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// The browser and its driver: (python with selenium, chromium, chromedriver), or None with a loud
/// note; a failure where CI requires them.
fn browser() -> Option<(String, PathBuf, PathBuf)> {
    let find = |names: &[&str]| -> Option<PathBuf> {
        names.iter().map(PathBuf::from).find(|p| p.is_file()).or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
        })
    };
    let chromium = find(&["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]);
    let driver = find(&["/usr/bin/chromedriver", "chromedriver"]);
    // Debian's python3-selenium is for /usr/bin/python3 (which may not be the first python3 on PATH).
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| Command::new(p).args(["-c", "import selenium"]).output().is_ok_and(|o| o.status.success()));
    match (python, chromium, driver) {
        (Some(py), Some(c), Some(d)) => Some((py.to_string(), c, d)),
        (py, c, d) => {
            let missing =
                format!("python3-selenium: {}, chromium: {}, chromedriver: {}", py.is_some(), c.is_some(), d.is_some());
            let required = ["DENSI_REQUIRE_MODEL", "DENSI_REQUIRE_BROWSER"]
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|x| x == "1"));
            if required {
                panic!("CI requires the browser test, but something is missing ({missing}); .ci/run installs them");
            }
            eprintln!(
                "\n*** SKIPPED: the browser test needs chromium, chromium-driver and python3-selenium ({missing}) ***\n"
            );
            None
        }
    }
}

/// Writes the report and the JSON export of `inputs` (the same scoring), then checks the page in the browser.
fn check_in_browser(dir: &Path, name: &str, inputs: &[PathBuf], screenshot: Option<&Path>) -> String {
    let model = default_model().expect("checked by the caller");
    let (python, chromium, driver) = browser().expect("checked by the caller");
    let page = dir.join(format!("{name}.html"));
    let export = dir.join(format!("{name}.json"));
    let ins: Vec<&str> = inputs.iter().map(|p| s(p)).collect();
    let common = ["--model", s(&model), "--backend", "cpu"];
    ok(&[&["report"][..], &ins, &common, &["-o", s(&page)]].concat());
    ok(&[&["export"][..], &ins, &common, &["-f", "json", "-o", s(&export)]].concat());
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/cli/report_browser.py"))
        .args(["--page", s(&page), "--export", s(&export)])
        .arg("--chromium")
        .arg(&chromium)
        .arg("--chromedriver")
        .arg(&driver);
    for i in &ins {
        cmd.args(["--input", i]);
    }
    if let Some(shot) = screenshot {
        cmd.args(["--screenshot", s(shot)]);
    }
    let o = cmd.output().expect("run tests/cli/report_browser.py");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "browser checks failed:\n{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    stdout
}

#[test]
fn report_of_the_example_prompts_in_a_real_browser() {
    if default_model().is_none() || browser().is_none() {
        return;
    }
    let dir = tmpdir();
    let inputs: Vec<PathBuf> = ["favorite_color.txt", "jason_wei.txt", "math_question.txt"]
        .iter()
        .map(|f| root().join("docs/examples").join(f))
        .collect();
    let shot = std::env::var_os("DENSI_REPORT_SCREENSHOT").map(PathBuf::from).unwrap_or(dir.path().join("shot.png"));
    let out = check_in_browser(dir.path(), "examples", &inputs, Some(&shot));
    eprintln!("{out}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "the screenshot is not a picture of the page");
}

#[test]
fn report_of_every_script_in_a_real_browser() {
    if default_model().is_none() || browser().is_none() {
        return;
    }
    let dir = tmpdir();
    // CJK (split into byte tokens), emoji (a ZWJ sequence and a flag), right-to-left Arabic and
    // Hebrew, combining marks, a tab, CRLF line ends and trailing spaces.
    let text = "Tokyo 東京都 is big. 🧑‍🔬 and 🇫🇷!\r\nمرحبا بالعالم — שלום.\tCafe\u{301} n\u{303}o Z\u{335}a\u{336}l\u{337}g\u{338}o  \n";
    let a = dir.path().join("scripts.txt");
    std::fs::write(&a, text).unwrap();
    let b = dir.path().join("short.txt");
    std::fs::write(&b, "x").unwrap();
    let out = check_in_browser(dir.path(), "scripts", &[a, b], None);
    eprintln!("{out}");
}

#[test]
fn report_help_has_examples() {
    let out = ok(&["report", "--help"]);
    assert!(out.contains("Examples:") && out.contains("densi report"), "{out}");
}

#[test]
fn report_bad_input_ends_like_export() {
    let dir = tmpdir();
    let out = dir.path().join("r.html");
    // An empty text, invalid UTF-8 without --lossy: one line naming the input; no page.
    assert_error(&run(&["report", "--text", "", "-o", s(&out)]), 1, &["--text #1", "empty"]);
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9\n").unwrap();
    assert_error(&run(&["report", s(&latin1), "-o", s(&out)]), 1, &["latin1.txt", "not valid UTF-8", "--lossy"]);
    assert_eq!(files_in(dir.path()), ["latin1.txt"]);
    // No input; no -o.
    assert_error(&run(&["report", "-o", s(&out)]), 2, &["no input"]);
    assert_eq!(run(&["report", "--text", "hi"]).code, 2);
    // An unwritable -o: named, nothing written.
    let bad = dir.path().join("no-such-dir/r.html");
    assert_error(&run(&["report", "--text", "hello", "-o", s(&bad)]), 1, &["no-such-dir/r.html", "does not exist"]);
    assert_error(&run(&["report", "--text", "hello", "-o", s(dir.path())]), 1, &["is a directory"]);
    // An existing page is kept without --force, and kept when a --force run fails.
    std::fs::write(&out, b"precious").unwrap();
    assert_error(&run(&["report", "--text", "hello", "-o", s(&out)]), 1, &["r.html", "already exists", "--force"]);
    let o = run(&["report", "--text", "hello", "-o", s(&out), "--force", "--model", "no/such/model.gguf"]);
    assert_error(&o, 1, &["no/such/model.gguf"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(files_in(dir.path()), ["latin1.txt", "r.html"]);
}

const PAIR_A: &str = "tests/fixtures/gguf/tiny-llama-F32.gguf";
const PAIR_B: &str = "tests/fixtures/gguf/tiny-llama-Q4_0.gguf";

/// Writes `densi report --model A --model B` and the two-model JSON export of `inputs` (the same
/// scoring), then checks the page in the browser (report_browser.py --pair): both rows, both top-k
/// lists, the summary and every colouring against the export.
fn check_pair_in_browser(dir: &Path, models: &[&str], inputs: &[PathBuf]) -> String {
    let (python, chromium, driver) = browser().expect("checked by the caller");
    let (page, export) = (dir.join("pair.html"), dir.join("pair.json"));
    let ins: Vec<&str> = inputs.iter().map(|p| s(p)).collect();
    ok(&[&["report"][..], &ins, models, &["-o", s(&page)]].concat());
    ok(&[&["export"][..], &ins, models, &["-f", "json", "-o", s(&export)]].concat());
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/cli/report_browser.py"))
        .args(["--pair", "--page", s(&page), "--export", s(&export), "--screenshot", s(&dir.join("pair.png"))])
        .arg("--chromium")
        .arg(&chromium)
        .arg("--chromedriver")
        .arg(&driver);
    for i in &ins {
        cmd.args(["--input", i]);
    }
    let o = cmd.output().expect("run tests/cli/report_browser.py");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "browser checks failed:\n{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    stdout
}

/// The tiny llama in F32 against its Q4_0 quantization, on two texts (the second with CJK split into
/// byte tokens, an emoji, CRLF and a tab).
#[test]
fn pair_report_in_a_real_browser() {
    if browser().is_none() {
        return;
    }
    let dir = tmpdir();
    let b = dir.path().join("mixed.txt");
    std::fs::write(&b, "東京 🧑‍🔬 ok.\r\nline\ttwo  \n").unwrap();
    let inputs = [root().join("tests/fixtures/texts/english.txt"), b];
    let (model_a, model_b) = (root().join(PAIR_A), root().join(PAIR_B));
    let models = ["--model", s(&model_a), "--model", s(&model_b), "--bos", "0"];
    eprintln!("{}", check_pair_in_browser(dir.path(), &models, &inputs));
}

/// The default model against its gguf-py re-quantization (Q4_1 → Q4_0; made by
/// tests/fixtures/pair/make_pair_golden.py --requant, as the engine's pair golden test says).
#[test]
fn pair_report_of_the_default_model_and_its_requantization_in_a_real_browser() {
    let Some(model_a) = default_model() else { return };
    let model_b = root().join("models/SmolLM2-135M-Instruct.Q4_0-requant.gguf");
    if !model_b.exists() {
        assert!(!crate::support::require_model(), "DENSI_REQUIRE_MODEL=1 but {} is missing", model_b.display());
        eprintln!(
            "\n*** SKIPPED: {} is missing; run tests/fixtures/pair/make_pair_golden.py --requant ***\n",
            model_b.display()
        );
        return;
    }
    if browser().is_none() {
        return;
    }
    let dir = tmpdir();
    let inputs: Vec<PathBuf> =
        ["favorite_color.txt", "math_question.txt"].iter().map(|f| root().join("docs/examples").join(f)).collect();
    let models = ["--model", s(&model_a), "--model", s(&model_b), "--backend", "cpu"];
    eprintln!("{}", check_pair_in_browser(dir.path(), &models, &inputs));
}

#[test]
fn pair_report_bad_input_writes_nothing() {
    let dir = tmpdir();
    let out = dir.path().join("r.html");
    let text = root().join("tests/fixtures/texts/english.txt");
    let (a, b) = (s(&root().join(PAIR_A)).to_string(), s(&root().join(PAIR_B)).to_string());
    // Different vocabularies: token level needs one; the error points to word level.
    let other = root().join("tests/fixtures/gguf/tiny-qwen2-F32.gguf");
    let o = run(&["report", s(&text), "--model", &a, "--model", s(&other), "-o", s(&out)]);
    assert_error(&o, 1, &["tiny-qwen2-F32.gguf", "token by token", "--level word"]);
    // Three models: refused as usage.
    let o = run(&["report", s(&text), "--model", &a, "--model", &b, "--model", &a, "-o", s(&out)]);
    assert_error(&o, 2, &["3 --model", "at most two"]);
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
    // An existing page survives a failed two-model run.
    std::fs::write(&out, b"precious").unwrap();
    let o = run(&["report", s(&text), "--model", &a, "--model", "no/such.gguf", "-o", s(&out), "--force"]);
    assert_eq!(o.code, 1);
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}
