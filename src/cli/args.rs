//! The command line, declared with clap's derive API.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use densi::backend::{BackendChoice, Dtype};
use densi::export::WordProbability;
use densi::metrics::BosPolicy;
use densi::model::WeightStorage;

const ABOUT: &str =
    "Token information density: per-token surprisal, entropy, varentropy and rank from a real causal language model";

const MAIN_EXAMPLES: &str = "\
Examples:
  densi compare docs/examples/*.txt            compare the example prompts side by side
  densi score --text 'My favorite color is blue'
  densi export essay.txt --format csv -o essay.csv
  densi export --jsonl batch.jsonl --format jsonl -o scores.jsonl
  densi report docs/examples/*.txt -o report.html   one self-contained HTML page
  densi info                                   what the model is, which devices there are
  densi tui docs/examples/*.txt                the interactive view

The model: --model PATH, else $DENSI_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf
(run models/fetch.sh to download it). Exit codes: 0 ok, 1 failure, 2 usage error.";

#[derive(Parser, Debug)]
#[command(name = "densi", version, about = ABOUT, after_help = MAIN_EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// No progress bars or warnings on stderr (errors are still reported)
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Score texts and print a per-token table (token, surprisal, entropy, rank, top alternative) and a summary per text
    #[command(after_help = "\
Examples:
  densi score docs/examples/favorite_color.txt
  densi score --text 'My favorite color is blue' --text 'My favorite color is green'
  echo 'Hello world' | densi score -
  densi score --jsonl batch.jsonl --backend cpu --threads 2")]
    Score(ScoreArgs),

    /// Write the full analysis as csv, tsv, json, jsonl or parquet (per token, or per word with --level word)
    #[command(after_help = "\
Examples:
  densi export essay.txt --format csv -o essay.csv
  densi export docs/examples/*.txt --format json -o examples.json
  densi export --jsonl batch.jsonl --format jsonl -o scores.jsonl     (one line per text, streamed)
  densi export essay.txt --format tsv --level word --units nats
  densi export --jsonl corpus.jsonl --format parquet -o corpus.parquet

Columns (csv/tsv, one row per token):
  text_id, token_index, token_id, token, byte_start, byte_end, char_start, char_end, surprisal_bits,
  probability, entropy_bits, varentropy_bits2, rank, top1_token, top1_probability, scored
With --units nats the three unit columns are surprisal_nats, entropy_nats, varentropy_nats2.
With --level word: text_id, word_index, word, byte_start, byte_end, char_start, char_end, token_start,
  token_end, tokens, surprisal_bits (corrected: −log₂ p(word), beginning-of-word correction),
  surprisal_bits_uncorrected (the sum of its tokens'), bow_bits, eow_bits (the two correction terms:
  surprisal_bits = surprisal_bits_uncorrected − bow_bits + eow_bits), probability (2^−surprisal_bits),
  entropy_bits, scored.
parquet: the same columns, typed (strings, int64, float64 with nulls where csv is empty, bool), provenance
as JSON under the key-value metadata key densi.provenance, snappy-compressed row groups written every ~65536 rows.
-o FILE is written to a temporary file and renamed into place (jsonl: FILE.partial, renamed at the end);
an existing FILE is only replaced with --force. See README.md for formulas.

Two models (--model A --model B, one vocabulary): text_id, token_index, token_id, token, byte_start,
  byte_end, char_start, char_end, surprisal_bits_a, surprisal_bits_b, delta_bits, entropy_bits_a,
  entropy_bits_b, rank_a, rank_b, kl_ab_bits, kl_ba_bits, cross_entropy_ab_bits (bits; csv, tsv, json,
  jsonl). Different vocabularies: --level word (both models' corrected word surprisal, delta_bits).")]
    Export(ExportArgs),

    /// Score two or more prompts and show them side by side, with each one's difference from the first
    #[command(after_help = "\
Examples:
  densi compare docs/examples/*.txt
  densi compare --text 'My favorite color is blue' --text 'My favorite colour is blue'
  densi compare a.txt b.txt --format json
  densi compare --model A.gguf --model B.gguf essay.txt   one text under two models: perplexities,
                                                          mean KL, top-1 agreement, the largest-KL tokens")]
    Compare(CompareArgs),

    /// Show what the model is (architecture, sizes, parameters, dtype, sha256) and which compute devices there are
    #[command(after_help = "\
Examples:
  densi info
  densi info --model ~/models/gpt2")]
    Info(InfoArgs),

    /// List the GPU adapters (backend, type, driver, limits, features) and the CPU
    #[command(after_help = "Examples:\n  densi devices\n  densi score --backend gpu --device 1 essay.txt")]
    Devices(DevicesArgs),

    /// Benchmark the forward pass on synthetic texts: tokens/s and GFLOP/s per length
    #[command(after_help = "\
Examples:
  densi bench
  densi bench --backend cpu --threads 2 --tokens 128,512
  densi bench --backend gpu --tokens 1024 --peak-gflops 60000
  densi bench --prefix --backend cpu          prefix-cache reuse: a batch of minimal pairs, an edit")]
    Bench(BenchArgs),

    /// Write one self-contained HTML page: the texts coloured by a metric, with tooltips, plots, summary and provenance
    #[command(after_help = "\
Examples:
  densi report docs/examples/*.txt -o report.html     three prompts side by side
  densi report essay.txt -o essay.html --backend cpu

The page needs nothing else to open: no network, no fonts or scripts from elsewhere. It carries the
per-token data as JSON (the metric and the token/word switches work in the page). -o FILE is written
to a temporary file and renamed into place; an existing FILE is only replaced with --force.")]
    Report(ReportArgs),

    /// The interactive terminal UI: texts colored by information density, side by side
    #[command(after_help = "\
Examples:
  densi tui                         the example prompts of docs/examples/
  densi tui essay.txt --text 'My favorite color is blue'")]
    Tui(TuiArgs),
}

/// Which model to load.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model: a GGUF file or a Hugging Face model directory [default: $DENSI_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf]. Twice on score, export, compare, report and tui (--model A --model B): one text under two models, A the reference; more than two are refused
    #[arg(long, short = 'm', value_name = "PATH", action = clap::ArgAction::Append)]
    pub model: Vec<PathBuf>,

    /// Weight matrices in memory: resident (as stored in the file, mapped, dequantized inside the matrix products; memory tracks the file) or f32 (expanded at load, 4 bytes per weight: the reference path)
    #[arg(long, value_name = "HOW", default_value_t = WeightStorage::default(), value_parser = one_of::<WeightStorage>(&WeightStorage::NAMES))]
    pub weights: WeightStorage,
}

/// How texts are scored.
#[derive(Args, Debug, Clone)]
pub struct ScoringArgs {
    /// First token's context: auto (the model's BOS, else <|endoftext|>), none (first token unscored), a token id, or a token
    #[arg(long, value_name = "POLICY", default_value = "auto", value_parser = parse_bos)]
    pub bos: BosPolicy,

    /// Sliding window length in tokens, including a prepended BOS [default: the model's context length]
    #[arg(long, value_name = "TOKENS")]
    pub window: Option<usize>,

    /// Sliding window stride in tokens [default: window/2]
    #[arg(long, value_name = "TOKENS")]
    pub stride: Option<usize>,

    /// Alternatives kept per token
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub top_k: usize,

    /// Word surprisal shown by the word view, compare and the provenance: corrected (−log₂ p(word), with the beginning-of-word correction) or uncorrected (the sum of the word's token surprisals); word exports have both columns
    #[arg(long, value_name = "WHICH", default_value = "corrected", value_parser = parse_word_probability)]
    pub word_probability: WordProbability,

    #[command(flatten)]
    pub backend: BackendArgs,
}

fn parse_bos(s: &str) -> Result<BosPolicy, String> {
    s.parse()
}

fn parse_word_probability(s: &str) -> Result<WordProbability, String> {
    s.parse()
}

#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// Compute backend: auto (a real GPU when there is one, else the CPU), gpu (wgpu, also on a software adapter), cpu
    #[arg(long, default_value = "auto", value_parser = one_of::<BackendChoice>(&BackendChoice::NAMES))]
    pub backend: BackendChoice,

    /// GPU adapter index, as listed by `densi devices`
    #[arg(long, value_name = "N")]
    pub device: Option<usize>,

    /// GPU weight storage, accumulation in f32 always: auto (f16 for 16-bit weights where the adapter has SHADER_F16), f32, or f16 (also for f32 weights; needs SHADER_F16)
    #[arg(long, default_value = "auto", value_parser = one_of::<Dtype>(&Dtype::NAMES))]
    pub dtype: Dtype,

    /// CPU threads [default: all cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Memory for the prefix cache, in MiB: the keys and values of texts already scored, so a text
    /// sharing its first tokens with one of them computes only the rest (0: off) [default: 256]
    #[arg(long, value_name = "MB")]
    pub cache_mb: Option<usize>,
}

/// A clap parser for one of the library's enums (`--backend`, `--dtype`): the names it lists, parsed
/// by the enum's own `FromStr`, so the CLI defines no second copy of either.
fn one_of<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Debug,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names).map(|s| s.parse::<T>().expect("a listed name parses"))
}

/// The texts to score. Files, `-` (stdin) and `--text` are taken in the order given, then `--jsonl` batches.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Text files to score; `-` reads stdin
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// A text given on the command line (repeatable)
    #[arg(long, short = 't', value_name = "TEXT")]
    pub text: Vec<String>,

    /// A batch: one {"id": ..., "text": ...} object per line (repeatable)
    #[arg(long, value_name = "FILE")]
    pub jsonl: Vec<PathBuf>,

    /// Replace bytes that are not valid UTF-8 with U+FFFD instead of failing
    #[arg(long)]
    pub lossy: bool,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// One row per token, or per word (beginning-of-word-corrected surprisal; with two models of any
    /// vocabularies, their words paired by byte spans)
    #[arg(long, value_enum, default_value_t = LevelArg::Token)]
    pub level: LevelArg,

    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Tsv,
    Json,
    Jsonl,
    Parquet,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitsArg {
    Bits,
    Nats,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelArg {
    Token,
    Word,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Output format
    #[arg(long, short = 'f', value_enum)]
    pub format: ExportFormat,

    /// Output file [default: stdout]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Overwrite an existing output file
    #[arg(long)]
    pub force: bool,

    /// One row per token, or per word (tokens summed into words split on whitespace and punctuation)
    #[arg(long, value_enum, default_value_t = LevelArg::Token)]
    pub level: LevelArg,

    /// Units of surprisal, entropy (and their square for varentropy)
    #[arg(long, value_enum, default_value_t = UnitsArg::Bits)]
    pub units: UnitsArg,

    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// table for people, json for machines
    #[arg(long, short = 'f', value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,

    /// With two models: compare token by token (one vocabulary: KL, cross-entropy), or word by word
    /// (any two vocabularies: beginning-of-word-corrected word surprisal, delta_bits, no KL)
    #[arg(long, value_enum, default_value_t = LevelArg::Token)]
    pub level: LevelArg,

    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Output file (HTML)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,

    /// Overwrite an existing output file
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Context length in tokens for the expected peak memory (weights as --weights keeps them, plus the CPU forward's buffers)
    #[arg(long, value_name = "N", default_value_t = densi::memory::CHECK_TOKENS)]
    pub context: usize,

    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct DevicesArgs {}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Synthetic text lengths in tokens, comma-separated
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', default_values_t = [128usize, 512, 1024])]
    pub tokens: Vec<usize>,

    /// Timed runs per length (after one warm-up run); the median is reported, and the fastest
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub repeats: usize,

    /// The device's peak GFLOP/s, to report the fraction achieved
    #[arg(long, value_name = "GFLOPS")]
    pub peak_gflops: Option<f64>,

    /// Instead: the prefix cache's reuse. A batch of 20 minimal pairs (each of --tokens' first length,
    /// the pair sharing its first 80 % of tokens), the same after one context of 80 % shared by every
    /// text, and one word appended to a 2,000-token text, each with and without reuse; tokens computed
    /// vs tokens scored, and the speed-up
    #[arg(long)]
    pub prefix: bool,

    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[derive(Args, Debug)]
pub struct TuiArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

impl ModelArgs {
    /// The model of a command that takes one (None: the default).
    pub fn single(&self) -> Result<Option<&std::path::Path>, super::usage::UsageError> {
        match self.model.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.as_path())),
            _ => Err(super::usage::UsageError(
                "this command takes one --model (two models: score, export, compare, report and tui)".into(),
            )),
        }
    }

    /// (A, B) when two models were given; None for one or none; more than two is refused.
    pub fn pair(&self) -> Result<Option<(&std::path::Path, &std::path::Path)>, super::usage::UsageError> {
        match self.model.as_slice() {
            [a, b] => Ok(Some((a.as_path(), b.as_path()))),
            [_, _, _, ..] => Err(super::usage::UsageError(format!(
                "{} --model options: at most two (A and B) are compared; more than two models are not supported yet",
                self.model.len()
            ))),
            _ => Ok(None),
        }
    }
}

impl BackendArgs {
    pub fn options(&self) -> densi::backend::BackendOptions {
        densi::backend::BackendOptions {
            choice: self.backend,
            device: self.device,
            dtype: self.dtype,
            threads: self.threads,
            cache_mb: self.cache_mb,
        }
    }
}

impl ScoringArgs {
    pub fn score_options(&self) -> densi::score::ScoreOptions {
        densi::score::ScoreOptions {
            bos: self.bos.clone(),
            window: self.window,
            stride: self.stride,
            top_k: self.top_k,
            ..Default::default()
        }
    }
}

impl From<UnitsArg> for densi::export::Units {
    fn from(u: UnitsArg) -> Self {
        match u {
            UnitsArg::Bits => densi::export::Units::Bits,
            UnitsArg::Nats => densi::export::Units::Nats,
        }
    }
}

impl From<LevelArg> for densi::export::Level {
    fn from(l: LevelArg) -> Self {
        match l {
            LevelArg::Token => densi::export::Level::Token,
            LevelArg::Word => densi::export::Level::Word,
        }
    }
}

impl From<ExportFormat> for densi::export::Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => densi::export::Format::Csv,
            ExportFormat::Tsv => densi::export::Format::Tsv,
            ExportFormat::Json => densi::export::Format::Json,
            ExportFormat::Jsonl => densi::export::Format::Jsonl,
            ExportFormat::Parquet => densi::export::Format::Parquet,
        }
    }
}
