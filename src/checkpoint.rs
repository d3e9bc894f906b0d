//! `--checkpoint DIR`: completed batches saved as they go, so a run killed
//! at any moment and started again with the same command ends bit-identical
//! to an uninterrupted one.
//!
//! Each worker saves the accumulators of the batches it ran since its last
//! save, with the list of those batches, every [`EVERY`] and when it ends,
//! as one file `chunk-*.json` written whole or not at all. A restart reads
//! every chunk of the directory, checks it belongs to the same run (riskpool
//! version, scenario hash, seed, paths, batches, sampling plan), skips the
//! batches they hold and runs the rest. Accumulators merge exactly, so how
//! the batches were split between chunks never shows in the result.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::importance::Plan;
use crate::engine::path::Mixture;
use crate::engine::{self, Accumulator, BATCH_PATHS, Progress, RunOptions, Saving, batch_count};
use crate::error::{Error, InputError};
use crate::model::Model;
use crate::report::output::write_json_compact;

/// Schema identifier of chunk files.
pub const SCHEMA: &str = "riskpool.checkpoint.v1";

/// How often each worker saves its completed batches, unless the
/// environment variable `RISKPOOL_CHECKPOINT_SECONDS` says otherwise.
pub const EVERY: Duration = Duration::from_secs(10);

fn every() -> Duration {
    std::env::var("RISKPOOL_CHECKPOINT_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(EVERY, Duration::from_secs_f64)
}

/// What makes two attempts the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// riskpool's version.
    pub version: String,
    /// SHA-256 of the resolved scenario.
    pub sha256: String,
    /// Master seed.
    pub seed: u64,
    /// Paths of the whole run.
    pub paths: u64,
    /// Paths per batch.
    pub batch_paths: u64,
    /// The batches this run (or shard) covers, `[first, end)`.
    pub batches: [u64; 2],
    /// Whether paths are importance-sampled, and the mixture.
    pub importance: bool,
    /// The mixture (empty for plain sampling).
    pub mixture: Mixture,
}

#[derive(Serialize, Deserialize)]
struct Chunk {
    schema: String,
    identity: Identity,
    /// The batches the accumulator holds.
    ranges: Vec<[u64; 2]>,
    accumulator: Accumulator,
}

/// Simulates the run of `model` with `plan`, saving completed batches in
/// `dir` (created if missing) and reusing those an earlier attempt saved.
pub fn simulate(
    model: &Model,
    opts: &RunOptions,
    plan: &Plan,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Accumulator, Error> {
    let range = opts.batches.clone().unwrap_or(0..batch_count(opts.paths));
    let identity = Identity {
        version: env!("CARGO_PKG_VERSION").to_string(),
        sha256: model.scenario.sha256.clone(),
        seed: opts.seed,
        paths: opts.paths,
        batch_paths: BATCH_PATHS,
        batches: [range.start, range.end],
        importance: plan.importance,
        mixture: plan.mixture.clone(),
    };
    let origin = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Failure(format!(
            "cannot create the checkpoint directory {origin}: {e}"
        ))
    })?;
    // What earlier attempts completed.
    let mut done = vec![false; (range.end - range.start) as usize];
    let mut total = Accumulator::new(model);
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| {
            Error::Failure(format!(
                "cannot read the checkpoint directory {origin}: {e}"
            ))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("chunk-") && n.ends_with(".json"))
        })
        .collect();
    names.sort();
    for path in &names {
        let name = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| Error::Failure(format!("cannot read {name}: {e}")))?;
        let chunk: Chunk = serde_json::from_slice(&bytes).map_err(|e| {
            InputError::new(
                &name,
                format!(
                    "not a checkpoint chunk of riskpool {}: {e}",
                    env!("CARGO_PKG_VERSION")
                ),
            )
        })?;
        if chunk.schema != SCHEMA || chunk.identity != identity {
            return Err(InputError::new(
                &origin,
                "holds the checkpoint of another run (scenario, seed, paths, shard, sampling or riskpool version differ): give an empty directory, or delete this one",
            )
            .into());
        }
        for &[a, b] in &chunk.ranges {
            if a < range.start || b > range.end || a >= b {
                return Err(InputError::new(&name, "holds batches outside this run").into());
            }
            for k in a..b {
                let d = &mut done[(k - range.start) as usize];
                if *d {
                    return Err(InputError::new(
                        &name,
                        format!("batch {k} is saved twice in {origin}"),
                    )
                    .into());
                }
                *d = true;
            }
        }
        total.merge(&chunk.accumulator);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let counter = AtomicU64::new(0);
    let is_done = |b: u64| done[(b - range.start) as usize];
    let save = |acc: &Accumulator, ranges: &[Range<u64>]| -> Result<(), Error> {
        let k = counter.fetch_add(1, Ordering::Relaxed);
        let chunk = Chunk {
            schema: SCHEMA.to_string(),
            identity: identity.clone(),
            ranges: ranges.iter().map(|r| [r.start, r.end]).collect(),
            accumulator: acc.clone(),
        };
        write_json_compact(
            &dir.join(format!(
                "chunk-{stamp:032x}-{}-{k:06}.json",
                std::process::id()
            )),
            &chunk,
        )
    };
    let saving = Saving {
        done: &is_done,
        save: &save,
        every: every(),
    };
    let mixture = plan.importance.then_some(&plan.mixture);
    let new = engine::simulate_saving(model, opts, mixture, Some(&saving), progress)?;
    total.merge(&new);
    total.settle();
    Ok(total)
}
