//! Reading the texts to score: files, stdin, `--text`, `--jsonl` batches. Every text is read and
//! checked (UTF-8, not empty) before the model is loaded, so a bad input fails at once.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use densi::DensiError;

use super::args::InputArgs;

/// One text to score.
#[derive(Debug, Clone)]
pub struct Input {
    /// The id written into exports: the file path as given, `-` for stdin, `text1`... for `--text`,
    /// the object's `id` for a jsonl line (else `FILE:LINE`).
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Stdin,
    Text(String, usize),
    Jsonl(PathBuf),
}

/// The sources in command-line order (positional inputs and `--text` interleaved as given; `--jsonl` in place too).
fn sources(args: &InputArgs, matches: Option<&clap::ArgMatches>) -> Vec<Source> {
    // Clap's indices say where each value stood; without matches: files, then --text, then --jsonl.
    let idx = |id: &str, n: usize, fallback_base: usize| -> Vec<usize> {
        matches
            .and_then(|m| m.indices_of(id))
            .map(|i| i.collect::<Vec<usize>>())
            .filter(|v| v.len() == n)
            .unwrap_or_else(|| (fallback_base..fallback_base + n).collect())
    };
    let mut all: Vec<(usize, Source)> = Vec::new();
    for (i, p) in idx("inputs", args.inputs.len(), 0).into_iter().zip(&args.inputs) {
        all.push((i, if p.as_os_str() == "-" { Source::Stdin } else { Source::File(p.clone()) }));
    }
    for (n, (i, t)) in idx("text", args.text.len(), 1 << 20).into_iter().zip(&args.text).enumerate() {
        all.push((i, Source::Text(t.clone(), n + 1)));
    }
    for (i, p) in idx("jsonl", args.jsonl.len(), 2 << 20).into_iter().zip(&args.jsonl) {
        all.push((i, Source::Jsonl(p.clone())));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, s)| s).collect()
}

/// Reads every input. `matches`: the subcommand's matches, for the order of the arguments.
pub fn read_inputs(args: &InputArgs, matches: Option<&clap::ArgMatches>) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    let mut stdin_used = false;
    for src in sources(args, matches) {
        match src {
            Source::File(p) => {
                let what = p.display().to_string();
                let bytes = std::fs::read(&p).map_err(|e| DensiError::io(&p, e))?;
                out.push(Input { text: decode(&what, bytes, args.lossy)?, id: what });
            }
            Source::Stdin => {
                if stdin_used {
                    return Err(super::usage::UsageError("`-` (stdin) given more than once".into()).into());
                }
                stdin_used = true;
                let mut bytes = Vec::new();
                std::io::stdin().read_to_end(&mut bytes).context("-: reading stdin")?;
                out.push(Input { text: decode("- (stdin)", bytes, args.lossy)?, id: "-".into() });
            }
            Source::Text(t, n) => {
                if t.is_empty() {
                    return Err(DensiError::Input { what: format!("--text #{n}"), reason: "empty text".into() }.into());
                }
                out.push(Input { id: format!("text{n}"), text: t });
            }
            Source::Jsonl(p) => out.extend(read_jsonl(&p, args.lossy)?),
        }
    }
    Ok(out)
}

/// Bytes → text: UTF-8 (or lossy), not empty. Errors name `what` and the position of the first bad byte.
pub fn decode(what: &str, bytes: Vec<u8>, lossy: bool) -> Result<String, DensiError> {
    if bytes.is_empty() {
        return Err(DensiError::Input { what: what.to_string(), reason: "empty input (0 bytes)".into() });
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) if lossy => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            Err(DensiError::Input { what: what.to_string(), reason: not_utf8_reason(bytes, at) })
        }
    }
}

/// "not valid UTF-8: byte 0xFF at offset 12 (line 2, column 3); pass --lossy ...".
fn not_utf8_reason(bytes: &[u8], at: usize) -> String {
    let before = &bytes[..at];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    // Column in characters (the bytes before `at` are valid UTF-8).
    let column = 1 + String::from_utf8_lossy(&before[line_start..]).chars().count();
    format!(
        "not valid UTF-8: byte 0x{:02X} at byte offset {at} (line {line}, column {column}); pass --lossy to replace invalid bytes with U+FFFD",
        bytes[at]
    )
}

/// One `{"id": ..., "text": ...}` object per line; blank lines are skipped. Errors name FILE:LINE.
pub fn read_jsonl(path: &Path, lossy: bool) -> Result<Vec<Input>> {
    let bytes = std::fs::read(path).map_err(|e| DensiError::io(path, e))?;
    let name = path.display().to_string();
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let lineno = i + 1;
        let at = format!("{name}:{lineno}");
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = match std::str::from_utf8(raw) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) if lossy => String::from_utf8_lossy(raw),
            Err(e) => {
                return Err(DensiError::Input { what: at, reason: not_utf8_reason(raw, e.valid_up_to()) }.into());
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| DensiError::Input { what: at.clone(), reason };
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let obj =
            v.as_object().ok_or_else(|| bad("expected a JSON object like {\"id\": ..., \"text\": ...}".into()))?;
        let text = match obj.get("text") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(bad("\"text\" is not a string".into()).into()),
            None => return Err(bad("missing \"text\"".into()).into()),
        };
        if text.is_empty() {
            return Err(bad("empty text".into()).into());
        }
        let id = match obj.get("id") {
            None | Some(serde_json::Value::Null) => at.clone(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(_) => return Err(bad("\"id\" must be a string or a number".into()).into()),
        };
        out.push(Input { id, text });
    }
    if out.is_empty() {
        return Err(DensiError::Input { what: name, reason: "no texts (empty jsonl batch)".into() }.into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_utf8_names_offset_line_and_column() {
        let e = decode("f.txt", b"ab\ncd\xFFe".to_vec(), false).unwrap_err().to_string();
        assert!(e.starts_with("f.txt: not valid UTF-8: byte 0xFF at byte offset 5 (line 2, column 3)"), "{e}");
        assert_eq!(decode("f", b"a\xFFb".to_vec(), true).unwrap(), "a\u{FFFD}b");
        assert!(decode("f", Vec::new(), false).unwrap_err().to_string().contains("empty input"));
    }
}
