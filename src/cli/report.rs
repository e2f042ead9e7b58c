//! `densi report`: one self-contained HTML page of the scored texts (see `densi::export::report`),
//! written atomically to `-o FILE`.

use std::io::Write;

use anyhow::Result;
use densi::export::report::write_report;
use densi::export::{AtomicFile, Level, OutputMode, Provenance, Units};

use super::args::ReportArgs;
use super::input::read_inputs;
use super::progress::Progress;
use super::session::{open_session, score_inputs};

pub fn run(args: ReportArgs, matches: Option<&clap::ArgMatches>, progress: &Progress) -> Result<()> {
    let inputs = read_inputs(&args.input, matches)?;
    if inputs.is_empty() {
        return Err(super::usage::no_input());
    }
    // Open the output before the model loads: an existing or unwritable path fails at once.
    let mut out = AtomicFile::create(&args.output, OutputMode::Atomic, args.force)?;
    if let Some(paths) = args.model.pair()? {
        return super::pair::report(&args, &inputs, out, paths, progress);
    }

    let mut session = open_session(&args.model, &args.scoring, progress)?;
    let sha = {
        let spinner = progress.spinner("hashing the model file (sha256)".into());
        let sha = session.model.sha256()?;
        spinner.finish_and_clear();
        sha
    };
    let mut scored = Vec::with_capacity(inputs.len());
    score_inputs(&mut session, &inputs, progress, |t| {
        scored.push(t);
        Ok(())
    })?;
    let mut prov = Provenance::new(&session.model, sha, &scored[0].settings, Units::Bits, Level::Token);
    prov.word_probability = args.scoring.word_probability;
    let written = write_report(&mut out, &scored, &prov).and_then(|()| out.flush());
    written.map_err(|e| anyhow::Error::new(e).context(format!("{}: writing", args.output.display())))?;
    out.commit()?;
    Ok(())
}
