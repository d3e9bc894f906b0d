//! Shards and exact merges: `run --shard I/N` simulates its own slice of
//! the very same paths, and `merge` combines the shard files into the
//! result of the whole run, bit for bit.
//!
//! A run of `B` batches gives shard `I` of `N` the batches
//! `floor((I-1) B / N) .. floor(I B / N)`. Every accumulator merges exactly
//! (integer counts, exact sums, integer sketch weights), so how the batches
//! are split never changes a bit. A shard file (`riskpool.shard.v1`, JSON)
//! holds its accumulators, the sampling plan, and the model's [`Frame`], so
//! `merge` needs neither the scenario nor the loans.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::engine::importance::Plan;
use crate::engine::path::Mixture;
use crate::engine::{self, Accumulator, Progress, RunOptions, batch_count};
use crate::error::{Error, InputError};
use crate::model::Model;
use crate::result::{Frame, RunInfo, RunResult};

/// Schema identifier of shard files.
pub const SCHEMA: &str = "riskpool.shard.v1";

/// Most shards a run may be split into.
pub const MAX_SHARDS: u64 = 1_000_000;

/// Parses `I/N` (I from 1 to N).
pub fn parse(text: &str, flag: &str) -> Result<(u64, u64), InputError> {
    let bad = || {
        InputError::new(
            format!("{flag} {text}"),
            format!("write I/N with 1 <= I <= N <= {MAX_SHARDS}, e.g. 2/8"),
        )
    };
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if i == 0 || n == 0 || i > n || n > MAX_SHARDS {
        return Err(bad());
    }
    Ok((i, n))
}

/// The batches of shard `i` of `n` in a run of `paths` paths.
pub fn batches(i: u64, n: u64, paths: u64) -> Range<u64> {
    let b = u128::from(batch_count(paths));
    let at = |k: u64| (b * u128::from(k) / u128::from(n)) as u64;
    at(i - 1)..at(i)
}

/// One shard's share of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    /// Always `riskpool.shard.v1`.
    pub schema: String,
    /// riskpool's version (merging across versions is refused).
    pub version: String,
    /// `[I, N]`.
    pub shard: [u64; 2],
    /// The batches simulated, `[first, end)`.
    pub batches: [u64; 2],
    /// Paths of the whole run.
    pub paths: u64,
    /// Master seed.
    pub seed: u64,
    /// Whether the run samples by importance, and with which mixture.
    pub importance: bool,
    /// The mixture (empty for plain sampling).
    pub mixture: Mixture,
    /// What the result needs of the model.
    pub frame: Frame,
    /// Seconds this shard took.
    pub elapsed_seconds: f64,
    /// The shard's accumulators, settled.
    pub accumulator: Accumulator,
}

/// Simulates shard `i` of `n` of the run of `model` (the sampling plan is
/// the whole run's: it depends only on the model and the seed).
pub fn run_shard(
    model: &Model,
    opts: &RunOptions,
    i: u64,
    n: u64,
    checkpoint: Option<&std::path::Path>,
    progress: &dyn Progress,
) -> Result<ShardFile, Error> {
    let started = std::time::Instant::now();
    let plan = engine::importance::plan(model, opts.seed, opts.threads)?;
    let range = batches(i, n, opts.paths);
    let shard_opts = RunOptions {
        batches: Some(range.clone()),
        ..opts.clone()
    };
    let mixture = plan.importance.then_some(&plan.mixture);
    let mut acc = match checkpoint {
        Some(dir) => crate::checkpoint::simulate(model, &shard_opts, &plan, dir, progress)?,
        None => engine::simulate_shifted(model, &shard_opts, mixture, progress)?,
    };
    acc.settle();
    Ok(ShardFile {
        schema: SCHEMA.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        shard: [i, n],
        batches: [range.start, range.end],
        paths: opts.paths,
        seed: opts.seed,
        importance: plan.importance,
        mixture: plan.mixture,
        frame: Frame::of(model),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        accumulator: acc,
    })
}

/// Reads a shard file; `origin` names it in messages.
pub fn read(origin: &str, bytes: &[u8]) -> Result<ShardFile, InputError> {
    #[derive(Deserialize)]
    struct Head {
        schema: Option<String>,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(|e| {
        InputError::new(
            format!("{origin}:{}:{}", e.line(), e.column()),
            format!("not a shard file (JSON): {e}"),
        )
    })?;
    let schema = head.schema.unwrap_or_default();
    if schema != SCHEMA {
        return Err(InputError::new(
            origin,
            format!(
                "schema is {schema:?}, not {SCHEMA:?}: merge reads the files `run --shard I/N --json FILE` writes"
            ),
        ));
    }
    // Straight from the bytes: the accumulators hold 128-bit integers.
    serde_json::from_slice(bytes).map_err(|e| {
        InputError::new(
            origin,
            format!("the shard file is incomplete or damaged: {e}"),
        )
    })
}

/// Merges shard files (`(origin, file)`) into the whole run's result.
/// Refuses (bad input) an incomplete or duplicated set, or parts of
/// different runs: scenario, seed, paths, shard count, sampling or version.
pub fn merge(parts: &[(String, ShardFile)]) -> Result<RunResult, Error> {
    let Some((first_name, first)) = parts.first() else {
        return Err(InputError::new("merge", "give the shard files to merge").into());
    };
    let n = first.shard[1];
    let same = |what: &str, a: String, b: String, name: &str| -> Result<(), Error> {
        if a == b {
            Ok(())
        } else {
            Err(InputError::new(
                name,
                format!("its {what} is {b}, but {first_name}'s is {a}: the shards come from different runs"),
            )
            .into())
        }
    };
    let mut seen: Vec<Option<&str>> = vec![None; n as usize];
    for (name, p) in parts {
        same(
            "riskpool version",
            first.version.clone(),
            p.version.clone(),
            name,
        )?;
        same(
            "scenario (SHA-256)",
            first.frame.scenario.sha256.clone(),
            p.frame.scenario.sha256.clone(),
            name,
        )?;
        same("seed", first.seed.to_string(), p.seed.to_string(), name)?;
        same(
            "number of paths",
            first.paths.to_string(),
            p.paths.to_string(),
            name,
        )?;
        same(
            "shard count",
            format!("/{n}"),
            format!("/{}", p.shard[1]),
            name,
        )?;
        if p.importance != first.importance || p.mixture != first.mixture || p.frame != first.frame
        {
            return Err(InputError::new(
                name,
                format!("its sampling plan or model differs from {first_name}'s: the shards come from different runs"),
            )
            .into());
        }
        let [i, _] = p.shard;
        let expected = batches(i, n, p.paths);
        if i == 0 || i > n || p.batches != [expected.start, expected.end] {
            return Err(InputError::new(name, "its shard number and batches do not agree").into());
        }
        let slot = &mut seen[(i - 1) as usize];
        if let Some(other) = slot {
            return Err(InputError::new(
                name,
                format!("shard {i}/{n} is given twice (also {other})"),
            )
            .into());
        }
        *slot = Some(name);
    }
    let present: Vec<bool> = seen.iter().map(Option::is_some).collect();
    if let Some(e) = incomplete("shard", &present) {
        return Err(e.into());
    }
    let mut acc = first.accumulator.clone();
    for (_, p) in &parts[1..] {
        acc.merge(&p.accumulator);
    }
    acc.settle();
    let plan = Plan {
        importance: first.importance,
        mixture: first.mixture.clone(),
        pilot: None,
    };
    let info = RunInfo {
        threads: 0,
        elapsed_seconds: parts.iter().map(|p| p.1.elapsed_seconds).sum(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    Ok(RunResult::from_frame(
        &first.frame,
        &acc,
        first.seed,
        &plan,
        info,
    ))
}

/// The error for a set of shard files missing some of its `N` shards
/// (`present[i]` for shard `i + 1`); `what` names them ("shard", "sweep
/// shard"). None when the set is complete.
pub fn incomplete(what: &str, present: &[bool]) -> Option<InputError> {
    let n = present.len();
    let missing: Vec<String> = present
        .iter()
        .enumerate()
        .filter(|(_, p)| !**p)
        .map(|(i, _)| format!("{}/{n}", i + 1))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let shown = if missing.len() > 10 {
        format!(
            "{} and {} more",
            missing[..10].join(", "),
            missing.len() - 10
        )
    } else {
        missing.join(", ")
    };
    Some(InputError::new(
        "merge",
        format!("the set is incomplete: {what} {shown} missing"),
    ))
}

/// One shard of a sweep's or a solve's points, as [`merge_points`] reads
/// it: shard `[I, N]` of `points` points holds the points `k` with `k mod N
/// = I - 1`, their indices in `indices` and their rows in `rows`.
pub struct PointPart<'a, T> {
    /// The file, for messages.
    pub name: &'a str,
    /// `[I, N]`.
    pub shard: [u64; 2],
    /// Points in the whole grid.
    pub points: usize,
    /// Each row's point index.
    pub indices: &'a [usize],
    /// The rows.
    pub rows: &'a [T],
}

/// Every point's row, in point order, from point shards that the caller
/// has found to belong to one sweep or solve (`what` names it). Refuses a
/// damaged, duplicated or incomplete set.
pub fn merge_points<T: Clone>(what: &str, parts: &[PointPart<T>]) -> Result<Vec<T>, Error> {
    let Some(first) = parts.first() else {
        return Err(
            InputError::new("merge", format!("give the {what} shard files to merge")).into(),
        );
    };
    let n = first.shard[1];
    let mut rows: Vec<Option<T>> = vec![None; first.points];
    let mut seen = vec![false; n as usize];
    for p in parts {
        if p.shard[1] != n || p.points != first.points {
            return Err(InputError::new(
                p.name,
                format!(
                    "comes from another {what} than {} (points or shard count differ)",
                    first.name
                ),
            )
            .into());
        }
        let i = p.shard[0];
        if i == 0 || i > n || p.indices.len() != p.rows.len() {
            return Err(InputError::new(p.name, "its shard number or rows are damaged").into());
        }
        if std::mem::replace(&mut seen[(i - 1) as usize], true) {
            return Err(InputError::new(p.name, format!("shard {i}/{n} is given twice")).into());
        }
        for (&k, row) in p.indices.iter().zip(p.rows) {
            if k >= rows.len() || k as u64 % n != i - 1 {
                return Err(InputError::new(p.name, "holds a point of another shard").into());
            }
            rows[k] = Some(row.clone());
        }
    }
    if let Some(e) = incomplete(&format!("{what} shard"), &seen) {
        return Err(e.into());
    }
    Ok(rows.into_iter().flatten().collect())
}
