//! `densi export`: the full analysis as csv, tsv, json, jsonl or parquet, to stdout or atomically to `-o FILE`.

use std::io::{BufWriter, Write};

use anyhow::{Result, anyhow};
use densi::export::{AtomicFile, ExportOptions, Exporter, Format, OutputMode, Provenance};

use super::args::ExportArgs;
use super::input::read_inputs;
use super::progress::Progress;
use super::session::{open_session, score_inputs};

/// Where the export goes.
pub(super) enum Out {
    File(AtomicFile),
    Stdout(BufWriter<std::io::Stdout>),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            Out::Stdout(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::File(f) => f.flush(),
            Out::Stdout(s) => s.flush(),
        }
    }
}

pub fn run(args: ExportArgs, matches: Option<&clap::ArgMatches>, progress: &Progress) -> Result<()> {
    let inputs = read_inputs(&args.input, matches)?;
    if inputs.is_empty() {
        return Err(super::usage::no_input());
    }
    let options = ExportOptions { format: args.format.into(), units: args.units.into(), level: args.level.into() };
    // Open the output before the model loads: an existing or unwritable path fails at once.
    let mode = if options.format == Format::Jsonl { OutputMode::Streamed } else { OutputMode::Atomic };
    let out = match &args.output {
        Some(p) if p.as_os_str() != "-" => {
            // Ctrl-C or SIGTERM from here on removes the temporary file instead of leaving it behind.
            crate::clean_up_outputs_on_signal()?;
            Out::File(AtomicFile::create(p, mode, args.force)?)
        }
        _ => Out::Stdout(BufWriter::new(std::io::stdout())),
    };
    let partial = match &out {
        Out::File(f) if mode == OutputMode::Streamed => Some(f.temp_path()),
        _ => None,
    };

    if let Some(paths) = args.model.pair()? {
        let result = super::pair::export(&args, &inputs, out, paths, progress);
        return match result {
            Ok(Out::File(f)) => Ok(f.commit()?),
            Ok(Out::Stdout(mut s)) => Ok(s.flush()?),
            Err(e) => {
                if let Some(p) = &partial {
                    let _ = std::fs::remove_file(p);
                }
                Err(e)
            }
        };
    }
    let mut session = open_session(&args.model, &args.scoring, progress)?;
    let sha = {
        let spinner = progress.spinner("hashing the model file (sha256)".into());
        let sha = session.model.sha256()?;
        spinner.finish_and_clear();
        sha
    };

    let mut out = Some(out);
    let mut exporter: Option<Exporter<Out>> = None;
    let model = session.model.clone();
    let result = score_inputs(&mut session, &inputs, progress, |t| {
        if exporter.is_none() {
            // Provenance needs the settings the scorer resolved (window, backend...): known after the first text.
            let mut prov = Provenance::new(&model, sha.clone(), &t.settings, options.units, options.level);
            prov.word_probability = args.scoring.word_probability;
            let w = out.take().ok_or_else(|| anyhow!("output already taken"))?;
            exporter = Some(Exporter::begin(w, options, prov)?);
        }
        let e = exporter.as_mut().ok_or_else(|| anyhow!("no exporter"))?;
        e.write_text(&t).map_err(|e| write_error(&args.output, e))?;
        Ok(())
    });
    if let Err(e) = result {
        let done = exporter.as_ref().map_or(0, |e| e.texts());
        // Close the output first: an atomic temp file deletes itself; an empty .partial is removed.
        drop(exporter);
        drop(out);
        if let (Some(p), 0) = (&partial, done) {
            let _ = std::fs::remove_file(p);
        }
        return Err(match (&partial, done) {
            (Some(p), n) if n > 0 => anyhow!("{e:#} (the {n} texts finished before it are in {})", p.display()),
            _ => e,
        });
    }
    let exporter = exporter.ok_or_else(|| anyhow!("nothing was scored"))?;
    match exporter.finish().map_err(|e| write_error(&args.output, e))? {
        Out::File(f) => f.commit()?,
        Out::Stdout(mut s) => s.flush()?,
    }
    Ok(())
}

/// A write error that names the output (stdout errors keep their io kind, so a closed pipe is recognised).
pub(super) fn write_error(output: &Option<std::path::PathBuf>, e: std::io::Error) -> anyhow::Error {
    match output {
        Some(p) if p.as_os_str() != "-" => anyhow::Error::new(e).context(format!("{}: writing", p.display())),
        _ => anyhow::Error::new(e).context("stdout: writing"),
    }
}
