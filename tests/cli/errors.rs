//! Every bad input gives one clear line on stderr naming the file or argument, the documented exit
//! code (1 runtime failure, 2 usage), and no output file (or the old one, untouched).
//! Most of these fail before a model is needed; the ones that need one use the tiny Llama fixture.

use crate::common::*;

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn help_and_version_exit_zero_and_every_command_has_examples() {
    for cmd in ["score", "export", "compare", "info", "devices", "bench", "tui"] {
        let o = run(&[cmd, "--help"]);
        assert_eq!(o.code, 0, "{cmd} --help");
        assert!(o.stdout.contains("Examples:"), "{cmd} --help has no examples:\n{}", o.stdout);
    }
    let o = run(&["--version"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("densi "), "{}", o.stdout);
}

#[test]
fn usage_errors_exit_2_in_one_line() {
    assert_error(&run(&["score", "--no-such-flag"]), 2, &["--no-such-flag"]);
    assert_error(&run(&["frobnicate"]), 2, &["frobnicate"]);
    assert_error(&run(&["export", "x.txt", "--format", "xml"]), 2, &["xml"]);
    assert_error(&run(&["score", "--window", "ten", "--text", "a"]), 2, &["--window"]);
    assert_error(&run(&["score"]), 2, &["no input"]);
    assert_error(&run(&["compare", "--text", "only one"]), 2, &["at least two"]);
    assert_error(&run(&["bench", "--tokens", "1"]), 2, &["--tokens"]);
}

#[test]
fn missing_input_file_is_named() {
    assert_error(&run(&["score", "no/such/file.txt"]), 1, &["no/such/file.txt", "No such file"]);
    assert_error(&run(&["export", "--jsonl", "missing.jsonl", "-f", "csv"]), 1, &["missing.jsonl"]);
}

#[test]
fn non_utf8_input_says_where_and_lossy_accepts_it() {
    let dir = tmpdir();
    let p = dir.path().join("latin1.txt");
    std::fs::write(&p, b"caf\xE9 au lait\nna\xEFve").unwrap();
    let o = run(&["score", s(&p)]);
    assert_error(&o, 1, &["latin1.txt", "not valid UTF-8", "byte offset 3", "line 1, column 4", "--lossy"]);
    // stdin too.
    let o = run_with_stdin(&["score", "-"], Some(b"ok\n\xFF"));
    assert_error(&o, 1, &["stdin", "byte offset 3", "line 2, column 1"]);
    // With --lossy the input is accepted: the run gets as far as the model.
    let o = run(&["score", s(&p), "--lossy", "--model", "no/such/model.gguf"]);
    assert_error(&o, 1, &["no/such/model.gguf"]);
}

#[test]
fn empty_inputs_are_errors() {
    let dir = tmpdir();
    let p = dir.path().join("empty.txt");
    std::fs::write(&p, b"").unwrap();
    assert_error(&run(&["score", s(&p)]), 1, &["empty.txt", "empty"]);
    assert_error(&run(&["score", "--text", ""]), 1, &["--text #1", "empty"]);
    assert_error(&run_with_stdin(&["score", "-"], Some(b"")), 1, &["stdin", "empty"]);
}

#[test]
fn bad_jsonl_lines_name_file_and_line() {
    let dir = tmpdir();
    let p = dir.path().join("batch.jsonl");
    let cases: [(&str, &str); 5] = [
        ("{\"id\":1,\"text\":\"ok\"}\n{\"id\":2,\"text\":\"ok\"\n", ":2: not valid JSON"),
        ("{\"id\":1,\"text\":\"ok\"}\n\n[1,2]\n", ":3: expected a JSON object"),
        ("{\"id\":1}\n", ":1: missing \"text\""),
        ("{\"id\":1,\"text\":\"\"}\n", ":1: empty text"),
        ("{\"id\":[1],\"text\":\"a\"}\n", ":1: \"id\" must be a string or a number"),
    ];
    for (content, want) in cases {
        std::fs::write(&p, content).unwrap();
        assert_error(&run(&["export", "--jsonl", s(&p), "-f", "jsonl"]), 1, &["batch.jsonl", want]);
    }
    std::fs::write(&p, b"{\"text\":\"ok\"}\n{\"text\":\"\xFF\"}\n").unwrap();
    assert_error(&run(&["score", "--jsonl", s(&p)]), 1, &["batch.jsonl:2", "not valid UTF-8"]);
}

#[test]
fn missing_model_hints_at_fetch_and_leaves_no_output() {
    let dir = tmpdir();
    let out = dir.path().join("out.csv");
    let o = run(&["export", "--text", "hello", "-f", "csv", "-o", s(&out), "--model", "no/such/model.gguf"]);
    assert_error(&o, 1, &["no/such/model.gguf", "models/fetch.sh"]);
    assert_eq!(files_in(dir.path()), Vec::<String>::new(), "no output and no temporary file may remain");

    let o = densi().args(["score", "--text", "hi"]).env("DENSI_MODEL", "/no/such/dir").output().unwrap();
    let o = Out {
        code: o.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    };
    assert_error(&o, 1, &["DENSI_MODEL=/no/such/dir", "models/fetch.sh"]);
}

#[test]
fn unwritable_output_is_named_and_nothing_is_written() {
    let dir = tmpdir();
    let bad = dir.path().join("no-such-dir/out.csv");
    assert_error(
        &run(&["export", "--text", "hello", "-f", "csv", "-o", s(&bad)]),
        1,
        &["no-such-dir/out.csv", "does not exist"],
    );
    let o = run(&["export", "--text", "hello", "-f", "json", "-o", s(dir.path())]);
    assert_error(&o, 1, &["is a directory"]);
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

/// An output path that cannot be created fails before any work, naming the path. A path through a
/// regular file fails for every user, root included (ENOTDIR), unlike a read-only directory.
#[test]
fn unwritable_output_path_is_reported() {
    let dir = tmpdir();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let out = dir.path().join("file/out.csv");
    assert_error(
        &run(&["export", "--text", "hello", "-f", "csv", "-o", s(&out)]),
        1,
        &["file/out.csv", "cannot write here", "is not a directory"],
    );
    let out = dir.path().join("missing/out.csv");
    assert_error(
        &run(&["export", "--text", "hello", "-f", "csv", "-o", s(&out)]),
        1,
        &["missing/out.csv", "cannot write here", "does not exist"],
    );
    assert_eq!(files_in(dir.path()), ["file"]);
}

#[test]
fn existing_output_needs_force_and_stays_untouched() {
    let dir = tmpdir();
    let out = dir.path().join("keep.csv");
    std::fs::write(&out, b"precious").unwrap();
    for fmt in ["csv", "tsv", "json", "jsonl"] {
        let o = run(&["export", "--text", "hello", "-f", fmt, "-o", s(&out)]);
        assert_error(&o, 1, &["keep.csv", "already exists", "--force"]);
        assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    }
    // A failing run with --force (the model is missing) still leaves the old file as it was.
    let o = run(&["export", "--text", "hello", "-f", "csv", "-o", s(&out), "--force", "--model", "no/such/model.gguf"]);
    assert_error(&o, 1, &["no/such/model.gguf"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(files_in(dir.path()), ["keep.csv"]);
}

#[test]
fn bad_option_values_name_the_option() {
    let Some(model) = fixture("llama") else { return };
    let m = s(&model);
    // `--backend cpu`: these are about option checks, not about adapter discovery.
    let run = |args: &[&str]| run(&[args, &["--backend", "cpu"]].concat());
    assert_error(&run(&["score", "--text", "abc", "--model", m, "--window", "1"]), 1, &["--window", "too small"]);
    assert_error(&run(&["score", "--text", "abc", "--model", m, "--window", "100000"]), 1, &["--window", "context"]);
    assert_error(&run(&["score", "--text", "abc", "--model", m, "--window", "8", "--stride", "8"]), 1, &["--stride"]);
    assert_error(
        &run(&["score", "--text", "abc", "--model", m, "--bos", "<|no-such-token|>"]),
        1,
        &["--bos", "not a token"],
    );
    assert_error(
        &run(&["score", "--text", "abc", "--model", m, "--bos", "99999999"]),
        1,
        &["--bos", "outside the vocabulary"],
    );
}

#[test]
fn bad_model_file_is_named() {
    let dir = tmpdir();
    let p = dir.path().join("junk.gguf");
    std::fs::write(&p, b"this is not a gguf file at all").unwrap();
    let o = run(&["score", "--text", "hi", "--model", s(&p)]);
    assert_error(&o, 1, &["junk.gguf"]);
}
