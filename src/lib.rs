//! riskpool: a Monte Carlo simulator for lending risk-compensation fund pools.
//!
//! A scenario file describes a portfolio of loans, how their defaults depend
//! on one another, and the pool's compensation rules. The engine simulates
//! the portfolio's correlated defaults year by year against those rules and
//! reports the chance the pool runs dry, what it pays and what it covers.
//!
//! The binary (`src/main.rs`) is a thin layer over this library; see
//! `ARCHITECTURE.md` for the map.

pub mod engine;
pub mod error;
pub(crate) mod fasthash;
pub mod math;
pub mod model;
pub mod scenario;
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
/// The sampling method is plain Monte Carlo.
pub fn run(model: &Model, opts: &RunOptions, progress: &dyn Progress) -> Result<RunResult> {
    let started = Instant::now();
    let acc = engine::simulate(model, opts, progress)?;
    let info = RunInfo {
        threads: engine::thread_count(opts.threads),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    Ok(RunResult::new(model, &acc, opts.seed, "plain", info))
}
