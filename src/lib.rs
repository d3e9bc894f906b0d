//! riskpool: a Monte Carlo simulator for lending risk-compensation fund pools.
//!
//! A scenario file describes a portfolio of loans, how their defaults depend
//! on one another, and the pool's compensation rules. The engine simulates
//! the portfolio's correlated defaults year by year against those rules and
//! reports the chance the pool runs dry, what it pays and what it covers.
//!
//! The binary (`src/main.rs`) is a thin layer over this library; see
//! `ARCHITECTURE.md` for the map.

// No panics on input-dependent paths: `unwrap` and `expect` are errors in
// the library (tests may use them), and every `unsafe` block says why it is
// sound.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::undocumented_unsafe_blocks
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod analysis;
pub mod checkpoint;
pub mod engine;
pub mod error;
pub(crate) mod fasthash;
pub mod math;
pub mod model;
pub mod scenario;
pub mod shard;
pub mod stats;

pub use error::{Error, InputError, Result};
pub mod report;
pub mod result;

use std::time::Instant;

use engine::{Progress, RunOptions};
use model::Model;
use result::{RunInfo, RunResult};

/// Simulates `model` and builds its result: the library's one-call entry.
///
/// The sampling method is the scenario's (`[simulation] method`): plain
/// Monte Carlo, importance sampling, or `auto`, decided by a short pilot
/// (see [`engine::importance`]).
pub fn run(model: &Model, opts: &RunOptions, progress: &dyn Progress) -> Result<RunResult> {
    run_checkpointed(model, opts, None, progress)
}

/// Like [`run`], saving completed batches in `checkpoint` (and reusing
/// those an interrupted attempt saved there) when it is given.
pub fn run_checkpointed(
    model: &Model,
    opts: &RunOptions,
    checkpoint: Option<&std::path::Path>,
    progress: &dyn Progress,
) -> Result<RunResult> {
    let started = Instant::now();
    let plan = engine::importance::plan(model, opts.seed, opts.threads)?;
    let mixture = plan.importance.then_some(&plan.mixture);
    let acc = match checkpoint {
        Some(dir) => checkpoint::simulate(model, opts, &plan, dir, progress)?,
        None => engine::simulate_shifted(model, opts, mixture, progress)?,
    };
    let info = RunInfo {
        threads: engine::thread_count(opts.threads),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    Ok(RunResult::new(model, &acc, opts.seed, &plan, info))
}
