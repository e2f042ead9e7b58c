//! `densi tui`: reads the inputs and hands over to the library's terminal UI.

use anyhow::Result;

use super::args::TuiArgs;
use super::input::read_inputs;

pub fn run(args: TuiArgs, matches: Option<&clap::ArgMatches>) -> Result<()> {
    let inputs = read_inputs(&args.input, matches)?;
    let options = crate::tui::TuiOptions {
        inputs: inputs.into_iter().map(|i| (i.id, i.text)).collect(),
        model: args.model.single()?.map(std::path::Path::to_path_buf),
        backend: args.scoring.backend.options(),
        score: args.scoring.score_options(),
        word_probability: args.scoring.word_probability,
    };
    crate::tui::run(options)?;
    Ok(())
}
