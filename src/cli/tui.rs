//! `densi tui`: reads the inputs and hands over to the library's terminal UI (one model), or to its
//! two-model view (`--model A --model B`: one text).

use anyhow::Result;

use super::args::TuiArgs;
use super::input::read_inputs;
use super::usage::UsageError;

pub fn run(args: TuiArgs, matches: Option<&clap::ArgMatches>) -> Result<()> {
    if let Some((a, b)) = args.model.pair()? {
        return run_pair(&args, matches, (a, b));
    }
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

/// One text under A and B; without an input, the first example prompt.
fn run_pair(
    args: &TuiArgs,
    matches: Option<&clap::ArgMatches>,
    (a, b): (&std::path::Path, &std::path::Path),
) -> Result<()> {
    let inputs = read_inputs(&args.input, matches)?;
    let input = match inputs.len() {
        0 => crate::tui::example_inputs()?.into_iter().next().expect("example_inputs is never empty"),
        1 => inputs.into_iter().next().map(|i| (i.id, i.text)).expect("one input"),
        n => {
            return Err(UsageError(format!(
                "with two models densi tui shows one text under both ({n} given); compare several texts with `densi compare --model A --model B`"
            ))
            .into());
        }
    };
    let options = crate::tui::pair::PairOptions {
        input,
        models: crate::tui::pair::worker::PairModels {
            a: Some(a.to_path_buf()),
            b: b.to_path_buf(),
            weights: args.model.weights,
        },
        backend: args.scoring.backend.options(),
        score: args.scoring.score_options(),
    };
    crate::tui::pair::run(options)?;
    Ok(())
}
