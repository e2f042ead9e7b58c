//! Output files that are either complete or absent: never a half-written file where a good one stood.
//!
//! - [`OutputMode::Atomic`] (csv, tsv, json): the output goes to a hidden temporary file in the
//!   target's directory (`.NAME.XXXXXX.tmp`, same filesystem, so the final step is a rename); on
//!   success it is flushed, synced and renamed onto `NAME`; on any error it is deleted.
//! - [`OutputMode::Streamed`] (jsonl): the output goes to `NAME.partial`, one flushed line per
//!   finished text, and is renamed onto `NAME` at the end. A crash or an error keeps `NAME.partial`
//!   with every text finished so far (nothing already written is lost), and `NAME` is untouched.
//!
//! An existing `NAME` is only replaced with `force` (checked up front, and again at the rename for
//! the atomic mode).
//!
//! A process that is killed skips destructors, so every open output also sits in a registry of live
//! temporary paths; a signal handler (the `densi` binary's, on Ctrl-C or SIGTERM) calls
//! [`remove_live_temp_files`] before it exits: the temporary file goes, `NAME` stays as it was.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{DensiError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Atomic,
    Streamed,
}

enum Inner {
    Temp(BufWriter<tempfile::NamedTempFile>),
    Partial { file: BufWriter<File>, path: PathBuf },
}

pub struct AtomicFile {
    inner: Inner,
    dest: PathBuf,
    force: bool,
    _live: Live,
}

impl Inner {
    fn path(&self) -> PathBuf {
        match self {
            Inner::Temp(t) => t.get_ref().path().to_path_buf(),
            Inner::Partial { path, .. } => path.clone(),
        }
    }
}

/// What an interrupted run does with a live temporary path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnInterrupt {
    /// The atomic mode's hidden temp file: always removed.
    Remove,
    /// The streamed `.partial`: removed while empty; once it holds a finished text it is kept, as after
    /// any other failure, so nothing already written is lost.
    RemoveIfEmpty,
}

/// The temporary paths of the outputs open in this process.
static LIVE: Mutex<Vec<(PathBuf, OnInterrupt)>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<(PathBuf, OnInterrupt)>> {
    // A panic elsewhere while holding the lock leaves a list that is still valid.
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the temporary files of every output still open (atomic temp files, and `.partial` files
/// with nothing in them yet). For a signal handler that is about to exit the process; the outputs'
/// targets are untouched. Returns the paths removed.
pub fn remove_live_temp_files() -> Vec<PathBuf> {
    remove_live_temp_files_where(|_| true)
}

/// [`remove_live_temp_files`] for the live paths that `select` picks (the others stay registered).
fn remove_live_temp_files_where(select: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    live().retain(|(path, on)| {
        if !select(path) {
            return true;
        }
        let empty = || std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
        if (*on == OnInterrupt::Remove || empty()) && std::fs::remove_file(path).is_ok() {
            removed.push(path.clone());
        }
        false
    });
    removed
}

/// One entry of [`LIVE`], removed again when the output is committed or dropped.
struct Live(PathBuf);

impl Live {
    fn register(path: PathBuf, on: OnInterrupt) -> Live {
        live().push((path.clone(), on));
        Live(path)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        live().retain(|(p, _)| p != &self.0);
    }
}

/// `NAME.partial` for `NAME`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

impl AtomicFile {
    /// Refuses an existing `dest` unless `force`; fails early (before any work) on an unwritable directory.
    pub fn create(dest: &Path, mode: OutputMode, force: bool) -> Result<AtomicFile> {
        let out_err = |reason: String| DensiError::Input { what: dest.display().to_string(), reason };
        if dest.is_dir() {
            return Err(out_err("is a directory".into()));
        }
        if dest.exists() && !force {
            return Err(out_err("already exists (pass --force to overwrite it)".into()));
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            let why = if dir.exists() { "is not a directory" } else { "does not exist" };
            return Err(out_err(format!("cannot write here: {} {why}", dir.display())));
        }
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "densi".into());
        let inner = match mode {
            OutputMode::Atomic => {
                let prefix = format!(".{name}.");
                let mut builder = tempfile::Builder::new();
                builder.prefix(&prefix).suffix(".tmp");
                // An ordinary file in the end (0666 less the umask), not the temp file's private 0600.
                #[cfg(unix)]
                builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
                let tmp = builder.tempfile_in(&dir).map_err(|e| out_err(format!("cannot write here: {e}")))?;
                Inner::Temp(BufWriter::new(tmp))
            }
            OutputMode::Streamed => {
                let path = partial_path(dest);
                let mut oo = OpenOptions::new();
                oo.write(true);
                if force {
                    oo.create(true).truncate(true);
                } else {
                    oo.create_new(true);
                }
                let file = oo.open(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        DensiError::Input {
                            what: path.display().to_string(),
                            reason: "already exists (left by an interrupted run?); remove it or pass --force".into(),
                        }
                    } else {
                        out_err(format!("cannot write here: {e}"))
                    }
                })?;
                Inner::Partial { file: BufWriter::new(file), path }
            }
        };
        let on_interrupt = match inner {
            Inner::Temp(_) => OnInterrupt::Remove,
            Inner::Partial { .. } => OnInterrupt::RemoveIfEmpty,
        };
        let live = Live::register(inner.path(), on_interrupt);
        Ok(AtomicFile { inner, dest: dest.to_path_buf(), force, _live: live })
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Where the bytes are going until [`commit`](Self::commit).
    pub fn temp_path(&self) -> PathBuf {
        self.inner.path()
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(self) -> Result<()> {
        // `_live` leaves the registry when this returns, after the rename (a handler that runs first
        // removes only the temporary name, which no longer exists once renamed).
        let dest = self.dest;
        let io = |e: std::io::Error| DensiError::io(&dest, e);
        match self.inner {
            Inner::Temp(w) => {
                let tmp = w.into_inner().map_err(|e| io(e.into_error()))?;
                tmp.as_file().sync_all().map_err(io)?;
                let persisted = if self.force { tmp.persist(&dest) } else { tmp.persist_noclobber(&dest) };
                persisted.map_err(|e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        DensiError::Input {
                            what: dest.display().to_string(),
                            reason: "appeared while writing (pass --force to overwrite it)".into(),
                        }
                    } else {
                        io(e.error)
                    }
                })?;
            }
            Inner::Partial { file, path } => {
                let f = file.into_inner().map_err(|e| DensiError::io(&path, e.into_error()))?;
                f.sync_all().map_err(|e| DensiError::io(&path, e))?;
                drop(f);
                if !self.force && dest.exists() {
                    return Err(DensiError::Input {
                        what: dest.display().to_string(),
                        reason: format!("appeared while writing; the output is in {}", path.display()),
                    });
                }
                std::fs::rename(&path, &dest).map_err(io)?;
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.inner {
            Inner::Temp(w) => w.write(buf),
            Inner::Partial { file, .. } => file.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.inner {
            Inner::Temp(w) => w.flush(),
            Inner::Partial { file, .. } => file.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_refuses_existing_and_replaces_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        std::fs::write(&dest, "old").unwrap();
        assert!(matches!(AtomicFile::create(&dest, OutputMode::Atomic, false), Err(DensiError::Input { .. })));
        let mut f = AtomicFile::create(&dest, OutputMode::Atomic, true).unwrap();
        f.write_all(b"new").unwrap();
        // Not visible before the commit.
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn dropped_atomic_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.json");
        let mut f = AtomicFile::create(&dest, OutputMode::Atomic, false).unwrap();
        f.write_all(b"{").unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn streamed_keeps_partial_lines_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.jsonl");
        let mut f = AtomicFile::create(&dest, OutputMode::Streamed, false).unwrap();
        f.write_all(b"{\"id\":1}\n").unwrap();
        f.flush().unwrap();
        assert_eq!(std::fs::read_to_string(partial_path(&dest)).unwrap(), "{\"id\":1}\n");
        assert!(!dest.exists());
        drop(f); // as after an error: the partial file stays, with what was written
        assert!(partial_path(&dest).exists());
        assert!(AtomicFile::create(&dest, OutputMode::Streamed, false).is_err(), "a leftover .partial needs --force");
        let mut f = AtomicFile::create(&dest, OutputMode::Streamed, true).unwrap();
        f.write_all(b"x\n").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "x\n");
        assert!(!partial_path(&dest).exists());
    }

    #[test]
    fn interrupt_removes_live_temp_files_and_keeps_targets() {
        let dir = tempfile::tempdir().unwrap();
        let (csv, jsonl, done) = (dir.path().join("a.csv"), dir.path().join("b.jsonl"), dir.path().join("c.jsonl"));
        std::fs::write(&csv, "old").unwrap();
        let mut a = AtomicFile::create(&csv, OutputMode::Atomic, true).unwrap();
        a.write_all(b"half").unwrap();
        a.flush().unwrap();
        let b = AtomicFile::create(&jsonl, OutputMode::Streamed, false).unwrap();
        let mut c = AtomicFile::create(&done, OutputMode::Streamed, false).unwrap();
        c.write_all(b"{}\n").unwrap();
        c.flush().unwrap();
        // Only this test's files: other tests of this binary may be writing theirs right now.
        let removed = remove_live_temp_files_where(|p| p.starts_with(dir.path()));
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(removed.contains(&a.temp_path()) && removed.contains(&b.temp_path()), "{removed:?}");
        assert!(!a.temp_path().exists() && !b.temp_path().exists());
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(partial_path(&done)).unwrap(), "{}\n", "a finished text is kept");
        assert!(!jsonl.exists());
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let err =
            AtomicFile::create(Path::new("/nonexistent-dir-densi/out.csv"), OutputMode::Atomic, false).err().unwrap();
        assert!(err.to_string().starts_with("/nonexistent-dir-densi/out.csv: "), "{err}");
    }
}
