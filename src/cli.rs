//! Command-line arguments (the only module that knows clap) and the glue
//! from them to the library.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use riskpool::analysis::solve;
use riskpool::analysis::sweep::{self, SweepRow, Vary};
use riskpool::analysis::{Reading, Setting, Subject, Target};
use riskpool::engine::RunOptions;
use riskpool::error::{Error, InputError};
use riskpool::model::Model;
use riskpool::report::decimal;
use riskpool::report::{charts, html, output, progress::Bar, tables, text};
use riskpool::result::RunResult;
use riskpool::scenario::{self, Method, Scenario};
use std::io::IsTerminal;

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
    /// Re-print a saved result file; draw its charts, tables or HTML page.
    Report(ReportArgs),
    /// Find the smallest pool (or the largest plan) that meets a target.
    Solve(SolveArgs),
    /// Run a grid of designs: one row of headline figures per point.
    Sweep(SweepArgs),
    /// Combine shard files (`run --shard I/N --json FILE`) into the whole
    /// run's result.
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// The shard files, one per shard, in any order.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Write the merged result file here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct SimArgs {
    /// Number of paths per run (overrides [simulation] paths).
    #[arg(long, value_name = "N")]
    paths: Option<u64>,
    /// Master seed (overrides [simulation] seed).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Sampling method (overrides [simulation] method): plain, importance,
    /// or auto (importance sampling when depletion is rare).
    #[arg(long, value_name = "METHOD", value_parser = ["plain", "importance", "auto"])]
    method: Option<String>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print nothing but errors: no summary, no progress bar.
    #[arg(long)]
    quiet: bool,
}

impl SimArgs {
    /// Checks the options and applies --paths, --seed and --method to `sc`.
    fn apply(&self, sc: &mut Scenario) -> Result<(), Error> {
        if let Some(paths) = self.paths {
            if paths == 0 || paths > scenario::MAX_PATHS {
                return Err(InputError::new(
                    "--paths",
                    format!("must be from 1 to {}, got {paths}", scenario::MAX_PATHS),
                )
                .into());
            }
            sc.paths = paths;
        }
        if self.threads == Some(0) {
            return Err(InputError::new("--threads", "must be at least 1").into());
        }
        if let Some(seed) = self.seed {
            sc.seed = seed;
        }
        match self.method.as_deref() {
            Some("plain") => sc.method = Method::Plain,
            Some("importance") => sc.method = Method::Importance,
            Some("auto") => sc.method = Method::Auto,
            _ => {}
        }
        Ok(())
    }

    /// The options of a whole run of `sc`.
    fn options(&self, sc: &Scenario) -> RunOptions {
        RunOptions {
            paths: sc.paths,
            seed: sc.seed,
            threads: self.threads,
            batches: None,
        }
    }
}

#[derive(Args)]
struct SolveArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// The setting to solve for: pool.initial_balance, pool.annual_top_up
    /// (the same amount every ledger year after the first) or plan.scale
    /// (every loan's exposure multiplied; the answer is the largest).
    #[arg(long = "for", value_name = "KEY")]
    for_key: String,
    /// The target, e.g. depletion<=0.01, coverage>=0.95, all_paid>=0.99,
    /// shortfall.p99<=5e7 (QUANTITY.mean or .p50/.p90/.p95/.p99/.p99_9).
    /// Repeat it to solve for several targets.
    #[arg(long, value_name = "METRIC<=X", required = true)]
    target: Vec<String>,
    /// Override a scenario key (repeatable), as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Apply the scenario's [[stress]] of this name; repeat it to solve
    /// under several stresses (every stress with every target).
    #[arg(long, value_name = "NAME")]
    stress: Vec<String>,
    /// Write the answer as JSON to FILE: riskpool.solve.v1 for one point,
    /// riskpool.solves.v1 for several.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Solve only shard I of N of the points (point k, from 0, when
    /// k mod N = I - 1) and write it with --json; `riskpool merge`
    /// combines the N files.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    #[command(flatten)]
    sim: SimArgs,
}

#[derive(Args)]
struct SweepArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// A key and its values, e.g. pool.initial_balance=4e8,6e8,8e8 or
    /// plan.scale=0.5,1,1.5 (repeatable: the grid of every combination).
    #[arg(long, value_name = "KEY=V1,V2,...", required = true)]
    vary: Vec<String>,
    /// Override a scenario key (repeatable), as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Apply the scenario's [[stress]] of this name.
    #[arg(long, value_name = "NAME")]
    stress: Option<String>,
    /// Write the rows as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write the rows as JSON (riskpool.sweep.v1) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw the sweep's chart into DIR: depletion against one numeric key,
    /// or a heatmap over two keys.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Run only shard I of N of the points (point k, from 0 in grid order,
    /// when k mod N = I - 1) and write it with --json; `riskpool merge`
    /// combines the N files into the whole sweep.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    #[command(flatten)]
    sim: SimArgs,
}

#[derive(Args)]
struct OutputArgs {
    /// Write CSV tables (totals, by_year, by_bank, by_segment) into DIR.
    /// With several --stress, one sub-directory per stress.
    #[arg(long, value_name = "DIR")]
    csv: Option<PathBuf>,
    /// Draw SVG charts into DIR. With several --stress, one sub-directory
    /// per stress.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Write one self-contained HTML page (summary, tables, charts) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Args)]
struct ReportArgs {
    /// A result file written by `run --json`.
    result: PathBuf,
    #[command(flatten)]
    out: OutputArgs,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct ScenarioArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Override a scenario key, e.g. --set pool.initial_balance=5e8 or
    /// --set segment.biomedicine.pd=0.05 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Apply the scenario's [[stress]] of this name; repeat to compare
    /// several side by side (with --method plain, each on the same random numbers).
    #[arg(long, value_name = "NAME")]
    stress: Vec<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Write the result file (JSON) here. With several --stress, one file
    /// per stress: FILE's name gets `-NAME` before its extension.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    sim: SimArgs,
    /// Save completed batches in DIR as the run goes; run the same command
    /// again after an interruption and it resumes where it stopped, with
    /// the same result as an uninterrupted run.
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Simulate only shard I of N (I from 1 to N) and write it with --json;
    /// `riskpool merge` combines the N files into the whole run's result.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
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
        Command::Report(args) => report(args),
        Command::Solve(args) => solve(args),
        Command::Sweep(args) => sweep(args),
        Command::Merge(args) => merge(args),
    }
}

/// The scenario as written, and one resolved scenario per requested
/// stress (or the scenario itself when none is requested).
fn load(args: &ScenarioArgs) -> Result<Vec<Scenario>, Error> {
    let sc = scenario::load(&args.scenario, &args.set)?;
    if args.stress.is_empty() {
        return Ok(vec![sc]);
    }
    let mut out = Vec::with_capacity(args.stress.len());
    for name in &args.stress {
        if args.stress.iter().filter(|n| *n == name).count() > 1 {
            return Err(InputError::new(format!("--stress {name}"), "is given twice").into());
        }
        out.push(sc.with_stress(name)?);
    }
    Ok(out)
}

/// `FILE` with `-suffix` before its extension.
fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "result".into(), |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{suffix}"),
    };
    path.with_file_name(name)
}

fn run(args: RunArgs) -> Result<(), Error> {
    let mut scenarios = load(&args.scenario)?;
    for sc in &mut scenarios {
        args.sim.apply(sc)?;
    }
    let shard = match &args.shard {
        Some(text) => {
            let (i, n) = riskpool::shard::parse(text, "--shard")?;
            if args.json.is_none() {
                return Err(InputError::new(
                    format!("--shard {text}"),
                    "needs --json FILE: the shard's file is its output (merge the files with riskpool merge)",
                )
                .into());
            }
            if scenarios.len() > 1 {
                return Err(InputError::new(
                    format!("--shard {text}"),
                    "takes one --stress at most",
                )
                .into());
            }
            if args.out.csv.is_some() || args.out.plots.is_some() || args.out.html.is_some() {
                return Err(InputError::new(
                    format!("--shard {text}"),
                    "--csv, --plots and --html apply to whole results: give them to riskpool merge",
                )
                .into());
            }
            Some((i, n))
        }
        None => None,
    };
    if args.checkpoint.is_some() && scenarios.len() > 1 {
        return Err(InputError::new("--checkpoint", "takes one --stress at most").into());
    }
    // Build every model first, so a bad stress stops before any simulation.
    let models = scenarios
        .iter()
        .map(Model::build)
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some((i, n)), Some(path)) = (shard, &args.json) {
        let model = &models[0];
        let opts = args.sim.options(&model.scenario);
        let range = riskpool::shard::batches(i, n, opts.paths);
        let shard_paths = (range.end * riskpool::engine::BATCH_PATHS).min(opts.paths)
            - (range.start * riskpool::engine::BATCH_PATHS).min(opts.paths);
        let bar = Bar::new(shard_paths, args.sim.quiet);
        let part =
            riskpool::shard::run_shard(model, &opts, i, n, args.checkpoint.as_deref(), &bar)?;
        bar.finish();
        output::write_json_compact(path, &part)?;
        if !args.sim.quiet {
            println!(
                "Shard {i}/{n} of {}: batches {}..{} ({} paths of {}), written to {}",
                model.scenario.name,
                range.start,
                range.end,
                riskpool::report::count(part.accumulator.paths),
                riskpool::report::count(opts.paths),
                path.display()
            );
        }
        return Ok(());
    }
    let mut results = Vec::with_capacity(models.len());
    for model in &models {
        let sc = &model.scenario;
        let opts = args.sim.options(sc);
        let bar = Bar::new(sc.paths, args.sim.quiet);
        let result = riskpool::run_checkpointed(model, &opts, args.checkpoint.as_deref(), &bar)?;
        bar.finish();
        results.push(result);
    }
    let several = results.len() > 1;
    let mut written = Vec::new();
    if let Some(path) = &args.json {
        for r in &results {
            let target = match (&r.scenario.stress, several) {
                (Some(name), true) => with_suffix(path, name),
                _ => path.clone(),
            };
            output::write_json(&target, r)?;
            written.push(target);
        }
    }
    for r in &results {
        let sub = |dir: &PathBuf| match (&r.scenario.stress, several) {
            (Some(name), true) => dir.join(name),
            _ => dir.clone(),
        };
        let html = args
            .out
            .html
            .as_ref()
            .map(|f| match (&r.scenario.stress, several) {
                (Some(name), true) => with_suffix(f, name),
                _ => f.clone(),
            });
        written.extend(write_outputs(
            r,
            args.out.csv.as_ref().map(sub).as_deref(),
            args.out.plots.as_ref().map(sub).as_deref(),
            html.as_deref(),
        )?);
    }
    if !args.sim.quiet {
        if several {
            print!("{}", text::comparison(&results));
        } else {
            print!("{}", text::summary(&results[0]));
        }
        for path in written {
            println!("Written: {}", path.display());
        }
    }
    Ok(())
}

/// Writes the tables, charts and page a result was asked for; returns the
/// files written.
fn write_outputs(
    r: &RunResult,
    csv: Option<&Path>,
    plots: Option<&Path>,
    html: Option<&Path>,
) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    if let Some(dir) = csv {
        written.extend(tables::write_tables(dir, r)?);
    }
    if let Some(dir) = plots {
        written.extend(charts::write_charts(dir, &charts::run_charts(r)?)?);
    }
    if let Some(file) = html {
        output::write_atomic(file, html::page(r)?.as_bytes())?;
        written.push(file.to_path_buf());
    }
    Ok(written)
}

fn report(args: ReportArgs) -> Result<(), Error> {
    let origin = args.result.display().to_string();
    let bytes = std::fs::read(&args.result)
        .map_err(|e| InputError::new(&origin, format!("cannot read the result file: {e}")))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        InputError::new(
            format!("{origin}:{}:{}", e.line(), e.column()),
            format!("not a JSON result file: {e}"),
        )
    })?;
    let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    if schema != riskpool::result::SCHEMA {
        return Err(InputError::new(
            &origin,
            format!(
                "schema is {schema:?}; riskpool {} reads {:?} (a file written by `riskpool run --json`)",
                env!("CARGO_PKG_VERSION"),
                riskpool::result::SCHEMA
            ),
        )
        .into());
    }
    let r: RunResult = serde_json::from_value(value).map_err(|e| {
        InputError::new(
            &origin,
            format!("the result file is incomplete or damaged: {e}"),
        )
    })?;
    let written = write_outputs(
        &r,
        args.out.csv.as_deref(),
        args.out.plots.as_deref(),
        args.out.html.as_deref(),
    )?;
    if !args.quiet {
        print!("{}", text::summary(&r));
        for path in written {
            println!("Written: {}", path.display());
        }
    }
    Ok(())
}

/// The scenario with `--set`, `--stress`, `--paths`, `--seed` and
/// `--method` applied, and the run options.
fn resolve(
    path: &Path,
    set: &[String],
    stress: Option<&str>,
    sim: &SimArgs,
) -> Result<(Scenario, RunOptions), Error> {
    let mut sc = scenario::load(path, set)?;
    if let Some(name) = stress {
        sc = sc.with_stress(name)?;
    }
    sim.apply(&mut sc)?;
    let opts = sim.options(&sc);
    Ok((sc, opts))
}

fn solve(args: SolveArgs) -> Result<(), Error> {
    let setting = Setting::parse(&args.for_key)?;
    let targets = args
        .target
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let stresses: Vec<Option<&str>> = if args.stress.is_empty() {
        vec![None]
    } else {
        args.stress.iter().map(|s| Some(s.as_str())).collect()
    };
    // Every stress with every target, checked before anything runs.
    let mut points = Vec::new();
    for stress in &stresses {
        let (sc, opts) = resolve(&args.scenario, &args.set, *stress, &args.sim)?;
        for target in &targets {
            points.push((
                stress.map(String::from),
                sc.clone(),
                opts.clone(),
                target.clone(),
            ));
        }
    }
    let shard = match &args.shard {
        Some(text) => {
            let (i, n) = riskpool::shard::parse(text, "--shard")?;
            if args.json.is_none() {
                return Err(InputError::new(
                    format!("--shard {text}"),
                    "needs --json FILE: the shard's file is its output (merge the files with riskpool merge)",
                )
                .into());
            }
            Some((i, n))
        }
        None => None,
    };
    let talk = !args.sim.quiet && std::io::stderr().is_terminal();
    let key = setting.key();
    let mut results = Vec::new();
    let mut indices = Vec::new();
    for (k, (stress, sc, opts, target)) in points.iter().enumerate() {
        if shard.is_some_and(|(i, n)| k as u64 % n != i - 1) {
            continue;
        }
        let subject = Subject::new(sc)?;
        let progress = |x: f64, r: &Reading| {
            if talk {
                eprintln!(
                    "  tried {key} = {}: {} {}",
                    decimal(x, if setting.largest() { 4 } else { 0 }),
                    if r.meets() { "meets" } else { "misses" },
                    target.text
                );
            }
        };
        let answer = solve::solve(&subject, setting, target, opts, &progress)?;
        if !args.sim.quiet {
            if let Some(s) = stress {
                println!("Stress {s}:");
            }
            print!("{}", text::solved(&answer, &sc.currency));
        }
        indices.push(k);
        results.push(solve::SolvePoint {
            stress: stress.clone(),
            answer,
        });
    }
    if let Some(path) = &args.json {
        if let Some((i, n)) = shard {
            let part = solve::SolvePart {
                schema: solve::PART_SCHEMA.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                shard: [i, n],
                points: points.len(),
                indices,
                results,
            };
            output::write_json(path, &part)?;
        } else if results.len() == 1 {
            output::write_json(path, &results[0].answer)?;
        } else {
            output::write_json(
                path,
                &solve::SolveSet {
                    schema: solve::SET_SCHEMA.to_string(),
                    results,
                },
            )?;
        }
        if !args.sim.quiet {
            println!("Written: {}", path.display());
        }
    }
    Ok(())
}

fn sweep(args: SweepArgs) -> Result<(), Error> {
    let varies = args
        .vary
        .iter()
        .map(|v| Vary::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    // Checks the base scenario and the options once.
    let (sc, opts) = resolve(&args.scenario, &args.set, args.stress.as_deref(), &args.sim)?;
    let mut set = args.set.clone();
    if let Some(m) = &args.sim.method {
        set.push(format!("simulation.method=\"{m}\""));
    }
    let talk = !args.sim.quiet && std::io::stderr().is_terminal();
    let progress = |i: usize, n: usize, row: &SweepRow| {
        if talk {
            eprintln!("  point {} of {n}: {}", i + 1, row.values.join(", "));
        }
    };
    if let Some(text) = &args.shard {
        let (i, n) = riskpool::shard::parse(text, "--shard")?;
        let Some(path) = &args.json else {
            return Err(InputError::new(
                format!("--shard {text}"),
                "needs --json FILE: the shard's file is its output (merge the files with riskpool merge)",
            )
            .into());
        };
        if args.csv.is_some() || args.plots.is_some() {
            return Err(InputError::new(
                format!("--shard {text}"),
                "--csv and --plots apply to the whole sweep: give them to riskpool merge",
            )
            .into());
        }
        let part = sweep::sweep_shard(
            &args.scenario,
            &set,
            args.stress.as_deref(),
            &varies,
            &opts,
            (i, n),
            &progress,
        )?;
        output::write_json(path, &part)?;
        if !args.sim.quiet {
            println!(
                "Sweep shard {i}/{n}: {} of {} points, written to {}",
                part.sweep.rows.len(),
                part.points,
                path.display()
            );
        }
        return Ok(());
    }
    let result = sweep::sweep(
        &args.scenario,
        &set,
        args.stress.as_deref(),
        &varies,
        &opts,
        &progress,
    )?;
    sweep_outputs(
        &result,
        &sc.name,
        &sc.currency,
        args.csv.as_deref(),
        args.json.as_deref(),
        args.plots.as_deref(),
        args.sim.quiet,
    )
}

/// Writes and prints a whole sweep.
fn sweep_outputs(
    result: &sweep::SweepResult,
    name: &str,
    currency: &str,
    csv: Option<&Path>,
    json: Option<&Path>,
    plots: Option<&Path>,
    quiet: bool,
) -> Result<(), Error> {
    let mut written = Vec::new();
    if let Some(path) = csv {
        output::write_atomic(path, &sweep::csv(result)?)?;
        written.push(path.to_path_buf());
    }
    if let Some(path) = json {
        output::write_json(path, result)?;
        written.push(path.to_path_buf());
    }
    if let Some(dir) = plots {
        let points: Vec<charts::SweepPoint> = result
            .rows
            .iter()
            .map(|r| charts::SweepPoint {
                values: r.values.clone(),
                numbers: r
                    .values
                    .iter()
                    .map(|v| v.replace('_', "").parse::<f64>().ok())
                    .collect(),
                depletion: r.depletion,
                ci95: r.depletion_ci95,
            })
            .collect();
        match charts::sweep_chart(name, &result.keys, &points)? {
            Some(chart) => written.extend(charts::write_charts(dir, &[chart])?),
            None => eprintln!(
                "riskpool: no chart for this sweep (charts need one numeric key or two keys)"
            ),
        }
    }
    if !quiet {
        print!("{}", text::swept(result, currency));
        for path in written {
            println!("Written: {}", path.display());
        }
    }
    Ok(())
}

fn merge(args: MergeArgs) -> Result<(), Error> {
    let mut parts = Vec::with_capacity(args.parts.len());
    let mut sweeps = Vec::new();
    let mut solves = Vec::new();
    for path in &args.parts {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| InputError::new(&origin, format!("cannot read the shard file: {e}")))?;
        #[derive(serde::Deserialize)]
        struct Head {
            schema: Option<String>,
        }
        let head: Option<Head> = serde_json::from_slice(&bytes).ok();
        let schema = head.and_then(|h| h.schema);
        if schema.as_deref() == Some(solve::PART_SCHEMA) {
            let part: solve::SolvePart = serde_json::from_slice(&bytes).map_err(|e| {
                InputError::new(&origin, format!("the solve shard file is damaged: {e}"))
            })?;
            solves.push((origin, part));
        } else if schema.as_deref() == Some(sweep::PART_SCHEMA) {
            let part: sweep::SweepPart = serde_json::from_slice(&bytes).map_err(|e| {
                InputError::new(&origin, format!("the sweep shard file is damaged: {e}"))
            })?;
            sweeps.push((origin, part));
        } else {
            parts.push((origin.clone(), riskpool::shard::read(&origin, &bytes)?));
        }
    }
    if !solves.is_empty() {
        if !parts.is_empty() || !sweeps.is_empty() {
            return Err(InputError::new(
                "merge",
                "give one kind of shard files: run, sweep or solve shards",
            )
            .into());
        }
        let set = solve::merge_parts(&solves)?;
        if let Some(path) = &args.json {
            if set.results.len() == 1 {
                output::write_json(path, &set.results[0].answer)?;
            } else {
                output::write_json(path, &set)?;
            }
        }
        if !args.quiet {
            for p in &set.results {
                if let Some(s) = &p.stress {
                    println!("Stress {s}:");
                }
                print!("{}", text::solved(&p.answer, &p.answer.currency));
            }
            if let Some(path) = &args.json {
                println!("Written: {}", path.display());
            }
        }
        return Ok(());
    }
    if !sweeps.is_empty() {
        if !parts.is_empty() {
            return Err(InputError::new(
                "merge",
                "give either run shards or sweep shards, not both",
            )
            .into());
        }
        let result = sweep::merge_parts(&sweeps)?;
        let csv = args.out.csv.as_ref().map(|d| d.join("sweep.csv"));
        if let Some(dir) = &args.out.csv {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Failure(format!("cannot create {}: {e}", dir.display())))?;
        }
        return sweep_outputs(
            &result,
            &result.scenario,
            "CNY",
            csv.as_deref(),
            args.json.as_deref(),
            args.out.plots.as_deref(),
            args.quiet,
        );
    }
    let r = riskpool::shard::merge(&parts)?;
    let mut written = Vec::new();
    if let Some(path) = &args.json {
        output::write_json(path, &r)?;
        written.push(path.clone());
    }
    written.extend(write_outputs(
        &r,
        args.out.csv.as_deref(),
        args.out.plots.as_deref(),
        args.out.html.as_deref(),
    )?);
    if !args.quiet {
        print!("{}", text::summary(&r));
        for path in written {
            println!("Written: {}", path.display());
        }
    }
    Ok(())
}

fn check(args: CheckArgs) -> Result<(), Error> {
    for (i, sc) in load(&args.scenario)?.iter().enumerate() {
        let model = Model::build(sc)?;
        if i > 0 {
            println!();
        }
        print!("{}", text::check(&model));
    }
    Ok(())
}
