//! Command-line arguments (the only module that knows clap) and the glue
//! from them to the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use riskpool::engine::RunOptions;
use riskpool::error::{Error, InputError};
use riskpool::model::Model;
use riskpool::report::{output, progress::Bar, text};
use riskpool::scenario::{self, Scenario};

/// Will the risk-compensation pool last? Monte Carlo answers for lending
/// risk-compensation fund pools.
#[derive(Parser)]
#[command(name = "riskpool", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a scenario and print a summary.
    Run(RunArgs),
    /// Validate a scenario and print what it resolves to (no simulation).
    Check(CheckArgs),
}

#[derive(Args)]
struct ScenarioArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Override a scenario key, e.g. --set pool.initial_balance=5e8 or
    /// --set segment.biomedicine.pd=0.05 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Apply the scenario's [[stress]] of this name.
    #[arg(long, value_name = "NAME")]
    stress: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Write the result file (JSON) here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Number of paths (overrides [simulation] paths).
    #[arg(long, value_name = "N")]
    paths: Option<u64>,
    /// Master seed (overrides [simulation] seed).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print nothing but errors: no summary, no progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
}

/// Parses the arguments and runs the command.
pub fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Check(args) => check(args),
    }
}

fn load(args: &ScenarioArgs) -> Result<Scenario, Error> {
    let mut sc = scenario::load(&args.scenario, &args.set)?;
    if let Some(name) = &args.stress {
        sc = sc.with_stress(name)?;
    }
    Ok(sc)
}

fn run(args: RunArgs) -> Result<(), Error> {
    let mut sc = load(&args.scenario)?;
    if let Some(paths) = args.paths {
        if paths == 0 || paths > scenario::MAX_PATHS {
            return Err(InputError::new(
                "--paths",
                format!("must be from 1 to {}, got {paths}", scenario::MAX_PATHS),
            )
            .into());
        }
        sc.paths = paths;
    }
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    if args.threads == Some(0) {
        return Err(InputError::new("--threads", "must be at least 1").into());
    }
    let model = Model::build(&sc)?;
    let opts = RunOptions {
        paths: sc.paths,
        seed: sc.seed,
        threads: args.threads,
        batches: None,
    };
    let bar = Bar::new(sc.paths, args.quiet);
    let result = riskpool::run(&model, &opts, &bar)?;
    bar.finish();
    if let Some(path) = &args.json {
        output::write_json(path, &result)?;
    }
    if !args.quiet {
        print!("{}", text::summary(&result));
        if let Some(path) = &args.json {
            println!("Result written to {}", path.display());
        }
    }
    Ok(())
}

fn check(args: CheckArgs) -> Result<(), Error> {
    let sc = load(&args.scenario)?;
    let model = Model::build(&sc)?;
    print!("{}", text::check(&model));
    Ok(())
}
