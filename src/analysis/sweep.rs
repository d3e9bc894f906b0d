//! `riskpool sweep`: a grid of designs, one row of headline figures per
//! point.
//!
//! `--vary KEY=V1,V2,...` takes any scenario key (as `--set` does) or
//! `plan.scale`; several `--vary` make the grid of every combination, the
//! first key varying slowest. Each point is read and checked like a
//! scenario with `--set KEY=V` and simulated with all worker threads, one
//! point after another, with the same seed (so points share their random
//! numbers under plain sampling).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Setting, Subject};
use crate::engine::RunOptions;
use crate::error::{Error, InputError};
use crate::model::Model;
use crate::result::RunResult;
use crate::scenario;
use crate::shard::{PointPart, merge_points};

/// Schema identifier of `sweep --json` files.
pub const SCHEMA: &str = "riskpool.sweep.v1";

/// One `--vary`.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    /// The key.
    pub key: String,
    /// Its values, as written.
    pub values: Vec<String>,
}

impl Vary {
    /// Parses `KEY=V1,V2,...`.
    pub fn parse(text: &str) -> Result<Vary, InputError> {
        let bad = |why: &str| InputError::new(format!("--vary {text}"), why.to_string());
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| bad("write KEY=V1,V2,..., e.g. pool.initial_balance=5e8,1e9"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad("the key is empty"));
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(bad("a value is empty"));
        }
        Ok(Vary {
            key: key.to_string(),
            values,
        })
    }
}

/// One point of the grid and its headline figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// The varied keys' values, in `--vary` order, as written.
    pub values: Vec<String>,
    /// Probability the pool runs dry over the ledger years.
    pub depletion: f64,
    /// Its 95% interval.
    pub depletion_ci95: [f64; 2],
    /// Expected paid over expected claims.
    pub paid_over_claims: Option<f64>,
    /// Probability every approved claim is paid in full.
    pub all_claims_paid_probability: f64,
    /// Mean total claims.
    pub claims_mean: f64,
    /// 99% quantile of total claims.
    pub claims_p99: f64,
    /// 99% expected shortfall of total claims.
    pub claims_es99: f64,
    /// Mean paid by the pool.
    pub paid_mean: f64,
    /// Mean shortfall.
    pub shortfall_mean: f64,
    /// 99% quantile of the shortfall.
    pub shortfall_p99: f64,
    /// Mean balance at the end.
    pub final_balance_mean: f64,
    /// Plan volume.
    pub lending: f64,
    /// Pool money (initial balance and top-ups).
    pub pool_money: f64,
    /// Lending over pool money.
    pub leverage: Option<f64>,
    /// `plain` or `importance`.
    pub method: String,
}

impl SweepRow {
    fn of(values: Vec<String>, r: &RunResult) -> SweepRow {
        let d = &r.depletion.probability;
        SweepRow {
            values,
            depletion: d.estimate,
            depletion_ci95: d.ci95,
            paid_over_claims: r.coverage.paid_over_claims,
            all_claims_paid_probability: r.coverage.all_claims_paid_probability.estimate,
            claims_mean: r.totals.claims.mean,
            claims_p99: r.totals.claims.quantiles.p99,
            claims_es99: r.totals.claims.expected_shortfall.p99,
            paid_mean: r.totals.paid.mean,
            shortfall_mean: r.totals.shortfall.mean,
            shortfall_p99: r.totals.shortfall.quantiles.p99,
            final_balance_mean: r.totals.final_balance.mean,
            lending: r.portfolio.volume,
            pool_money: r.portfolio.pool_money,
            leverage: r.leverage,
            method: r.method.clone(),
        }
    }
}

/// A sweep's rows (`riskpool.sweep.v1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// Always `riskpool.sweep.v1`.
    pub schema: String,
    /// The scenario's name.
    pub scenario: String,
    /// The varied keys.
    pub keys: Vec<String>,
    /// Paths per point.
    pub paths: u64,
    /// Master seed.
    pub seed: u64,
    /// One row per point, the first key varying slowest.
    pub rows: Vec<SweepRow>,
}

/// Every combination of the values, the first key varying slowest.
pub fn grid(varies: &[Vary]) -> Vec<Vec<String>> {
    let mut points: Vec<Vec<String>> = vec![Vec::new()];
    for v in varies {
        points = points
            .into_iter()
            .flat_map(|p| {
                v.values.iter().map(move |x| {
                    let mut q = p.clone();
                    q.push(x.clone());
                    q
                })
            })
            .collect();
    }
    points
}

/// Most points a sweep may have.
pub const MAX_POINTS: usize = 10_000;

/// Runs the sweep of the scenario at `path` (with `sets` and, if given, the
/// stress `stress`); `progress` hears of each point as it finishes.
pub fn sweep(
    path: &Path,
    sets: &[String],
    stress: Option<&str>,
    varies: &[Vary],
    opts: &RunOptions,
    progress: &dyn Fn(usize, usize, &SweepRow),
) -> Result<SweepResult, Error> {
    let (rows, scenario) = sweep_points(path, sets, stress, varies, opts, None, progress)?;
    Ok(SweepResult::new(scenario, varies, opts, rows))
}

impl SweepResult {
    /// The result of `varies` run with `opts` on scenario `scenario` (its
    /// name), from its `(grid index, row)` pairs (the indices are dropped).
    fn new(
        scenario: String,
        varies: &[Vary],
        opts: &RunOptions,
        rows: Vec<(usize, SweepRow)>,
    ) -> Self {
        SweepResult {
            schema: SCHEMA.to_string(),
            scenario,
            keys: varies.iter().map(|v| v.key.clone()).collect(),
            paths: opts.paths,
            seed: opts.seed,
            rows: rows.into_iter().map(|(_, r)| r).collect(),
        }
    }
}

/// Schema identifier of sweep shard files.
pub const PART_SCHEMA: &str = "riskpool.sweep-part.v1";

/// One shard's points of a sweep (`sweep --shard I/N --json FILE`): points
/// `k` (from 0, in grid order) with `k mod N = I - 1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPart {
    /// Always `riskpool.sweep-part.v1`.
    pub schema: String,
    /// riskpool's version.
    pub version: String,
    /// `[I, N]`.
    pub shard: [u64; 2],
    /// Points in the whole grid.
    pub points: usize,
    /// The sweep so far: this shard's rows only.
    pub sweep: SweepResult,
    /// The grid index of each row.
    pub indices: Vec<usize>,
}

/// Runs shard `i` of `n` of a sweep's points.
#[allow(clippy::too_many_arguments)]
pub fn sweep_shard(
    path: &Path,
    sets: &[String],
    stress: Option<&str>,
    varies: &[Vary],
    opts: &RunOptions,
    (i, n): (u64, u64),
    progress: &dyn Fn(usize, usize, &SweepRow),
) -> Result<SweepPart, Error> {
    let (rows, scenario) = sweep_points(path, sets, stress, varies, opts, Some((i, n)), progress)?;
    Ok(SweepPart {
        schema: PART_SCHEMA.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        shard: [i, n],
        points: grid(varies).len(),
        indices: rows.iter().map(|r| r.0).collect(),
        sweep: SweepResult::new(scenario, varies, opts, rows),
    })
}

/// Merges sweep shard files (`(origin, part)`) into the whole sweep.
pub fn merge_parts(parts: &[(String, SweepPart)]) -> Result<SweepResult, Error> {
    let Some((first_name, first)) = parts.first() else {
        return Err(InputError::new("merge", "give the sweep shard files to merge").into());
    };
    for (name, p) in parts {
        let same = p.version == first.version
            && p.sweep.keys == first.sweep.keys
            && p.sweep.paths == first.sweep.paths
            && p.sweep.seed == first.sweep.seed
            && p.sweep.scenario == first.sweep.scenario;
        if !same {
            return Err(InputError::new(
                name,
                format!("comes from another sweep than {first_name} (keys, paths, seed or version differ)"),
            )
            .into());
        }
    }
    let points: Vec<PointPart<SweepRow>> = parts
        .iter()
        .map(|(name, p)| PointPart {
            name,
            shard: p.shard,
            points: p.points,
            indices: &p.indices,
            rows: &p.sweep.rows,
        })
        .collect();
    Ok(SweepResult {
        rows: merge_points("sweep", &points)?,
        ..first.sweep.clone()
    })
}

#[allow(clippy::type_complexity)]
fn sweep_points(
    path: &Path,
    sets: &[String],
    stress: Option<&str>,
    varies: &[Vary],
    opts: &RunOptions,
    shard: Option<(u64, u64)>,
    progress: &dyn Fn(usize, usize, &SweepRow),
) -> Result<(Vec<(usize, SweepRow)>, String), Error> {
    if varies.is_empty() {
        return Err(InputError::new("--vary", "give at least one --vary KEY=V1,V2,...").into());
    }
    for (i, v) in varies.iter().enumerate() {
        if varies[..i].iter().any(|w| w.key == v.key) {
            return Err(InputError::new(format!("--vary {}", v.key), "is given twice").into());
        }
    }
    let points = grid(varies);
    if points.len() > MAX_POINTS {
        return Err(InputError::new(
            "--vary",
            format!("the grid has {} points; at most {MAX_POINTS}", points.len()),
        )
        .into());
    }
    // Check every point before simulating any.
    let mut scenarios = Vec::with_capacity(points.len());
    for point in &points {
        let mut overrides = sets.to_vec();
        let mut scale = None;
        for (v, x) in varies.iter().zip(point) {
            if v.key == "plan.scale" {
                let s: f64 = x
                    .replace('_', "")
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        InputError::new(
                            format!("--vary plan.scale={x}"),
                            "plan.scale must be a number above 0",
                        )
                    })?;
                scale = Some(s);
            } else {
                overrides.push(format!("{}={x}", v.key));
            }
        }
        let mut sc = scenario::load(path, &overrides)?;
        if let Some(name) = stress {
            sc = sc.with_stress(name)?;
        }
        sc.paths = opts.paths;
        sc.seed = opts.seed;
        scenarios.push((sc, scale));
    }
    let mut rows = Vec::with_capacity(points.len());
    let mine = |k: usize| shard.is_none_or(|(i, n)| k as u64 % n == i - 1);
    let count = (0..points.len()).filter(|&k| mine(k)).count();
    for (k, ((sc, scale), point)) in scenarios.iter().zip(&points).enumerate() {
        if !mine(k) {
            continue;
        }
        let model = match scale {
            Some(s) => Subject::new(sc)?.model_at(Setting::PlanScale, *s)?,
            None => Model::build(sc)?,
        };
        let r = crate::run(&model, opts, &crate::engine::NoProgress)?;
        let row = SweepRow::of(point.clone(), &r);
        progress(rows.len(), count, &row);
        rows.push((k, row));
    }
    let name = scenarios
        .first()
        .map(|s| s.0.name.clone())
        .unwrap_or_default();
    Ok((rows, name))
}

/// The sweep as CSV: the varied keys, then the figures.
pub fn csv(s: &SweepResult) -> Result<Vec<u8>, Error> {
    let fail = |e: csv::Error| Error::Failure(format!("cannot encode CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = s.keys.clone();
    header.extend(
        [
            "depletion",
            "depletion_ci95_low",
            "depletion_ci95_high",
            "paid_over_claims",
            "all_claims_paid_probability",
            "claims_mean",
            "claims_p99",
            "claims_es99",
            "paid_mean",
            "shortfall_mean",
            "shortfall_p99",
            "final_balance_mean",
            "lending",
            "pool_money",
            "leverage",
            "method",
        ]
        .map(String::from),
    );
    w.write_record(&header).map_err(fail)?;
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in &s.rows {
        let mut rec = r.values.clone();
        rec.extend([
            r.depletion.to_string(),
            r.depletion_ci95[0].to_string(),
            r.depletion_ci95[1].to_string(),
            opt(r.paid_over_claims),
            r.all_claims_paid_probability.to_string(),
            r.claims_mean.to_string(),
            r.claims_p99.to_string(),
            r.claims_es99.to_string(),
            r.paid_mean.to_string(),
            r.shortfall_mean.to_string(),
            r.shortfall_p99.to_string(),
            r.final_balance_mean.to_string(),
            r.lending.to_string(),
            r.pool_money.to_string(),
            opt(r.leverage),
            r.method.clone(),
        ]);
        w.write_record(&rec).map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Error::Failure(format!("cannot encode CSV: {e}")))
}
