//! `riskpool solve`: the smallest pool (or the largest plan) meeting a
//! target, with the settings the simulation cannot tell apart from it.
//!
//! Every candidate runs the same paths (common random numbers: the same
//! seed, and under importance sampling the same mixture), and a path's
//! figures move one way with the setting (more money never runs dry
//! sooner; bigger loans never claim less), so the estimate moves
//! monotonically with the setting and a bisection finds the boundary.
//!
//! **Rare targets.** When the scenario's method is `importance`, or `auto`
//! and the target is a rare event (a depletion probability below 1%), the
//! search runs twice: first with the mixture planned for the scenario as
//! given and a quarter of the paths, to find roughly where the answer is;
//! then with the mixture planned for that rough answer, fixed for every
//! candidate, and all the paths.
//!
//! **The interval.** `interval95` holds the settings at which the target
//! lies within 1.96 standard errors of the estimate: from the first setting
//! that might meet it to the first that surely does (for the largest plan,
//! the other way round).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Reading, Setting, Subject, Target, evaluate};
use crate::engine::RunOptions;
use crate::engine::importance;
use crate::engine::path::Mixture;
use crate::error::{Error, InputError};
use crate::scenario::Method;
use crate::shard::{PointPart, merge_points};

/// Schema identifier of `solve --json` files.
pub const SCHEMA: &str = "riskpool.solve.v1";

/// Relative precision of the answer.
const PRECISION: f64 = 1e-4;
/// Relative precision of the interval's ends.
const INTERVAL_PRECISION: f64 = 1e-3;

/// A solve's answer (`riskpool.solve.v1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolveResult {
    /// Always `riskpool.solve.v1`.
    pub schema: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's currency label.
    pub currency: String,
    /// The key solved for.
    #[serde(rename = "for")]
    pub for_key: String,
    /// The target, as written.
    pub target: String,
    /// The smallest (pool) or largest (plan.scale) setting meeting the
    /// target on the simulated paths.
    pub value: f64,
    /// The settings the target cannot tell apart from `value` at 95%.
    pub interval95: [f64; 2],
    /// The target's figure at `value`.
    pub achieved: f64,
    /// The target's figure's standard error at `value` (null for a
    /// quantile, whose error is judged on the share of paths beyond the
    /// bound).
    pub achieved_std_error: Option<f64>,
    /// Lending backed at `value` (plan volume).
    pub lending: f64,
    /// Pool money at `value` (initial balance and top-ups).
    pub pool_money: f64,
    /// Lending over pool money at `value`; null without pool money.
    pub leverage: Option<f64>,
    /// Paths per candidate.
    pub paths: u64,
    /// Master seed.
    pub seed: u64,
    /// `plain` or `importance`.
    pub method: String,
    /// Candidates simulated.
    pub evaluations: u64,
}

/// Simulates candidates, remembering each.
struct Search<'a> {
    subject: &'a Subject,
    setting: Setting,
    target: &'a Target,
    opts: RunOptions,
    mixture: Option<Mixture>,
    seen: BTreeMap<u64, Reading>,
    evaluations: u64,
    progress: &'a dyn Fn(f64, &Reading),
}

impl Search<'_> {
    fn read(&mut self, x: f64) -> Result<Reading, Error> {
        if let Some(r) = self.seen.get(&x.to_bits()) {
            return Ok(*r);
        }
        let model = self.subject.model_at(self.setting, x)?;
        let (r, acc) = evaluate(&model, &self.opts, self.mixture.as_ref())?;
        let reading = self.target.read(&r, &acc);
        self.evaluations += 1;
        (self.progress)(x, &reading);
        self.seen.insert(x.to_bits(), reading);
        Ok(reading)
    }

    /// The boundary of `ok` (true above it for the smallest-setting
    /// search, below it for the largest), starting from `start`, to
    /// relative precision `precision`. None when `ok` never holds within
    /// the setting's range; `Some(0)` when it holds at 0.
    fn boundary(
        &mut self,
        start: f64,
        ok: fn(&Reading) -> bool,
        step: f64,
        precision: f64,
    ) -> Result<Option<f64>, Error> {
        let largest = self.setting.largest();
        let limit = self.setting.limit();
        let floor = start * 1e-9;
        // `good` meets `ok`, `bad` does not.
        let (mut good, mut bad);
        let at_start = ok(&self.read(start)?);
        if at_start {
            good = start;
            // Move toward the bad side until `ok` fails.
            loop {
                let next = if largest { good * step } else { good / step };
                if next > limit {
                    return Ok(Some(limit));
                }
                if next < floor {
                    return Ok(Some(if !largest && ok(&self.read(0.0)?) {
                        0.0
                    } else {
                        good
                    }));
                }
                if ok(&self.read(next)?) {
                    good = next;
                } else {
                    bad = next;
                    break;
                }
            }
        } else {
            bad = start;
            loop {
                let next = if largest { bad / step } else { bad * step };
                if next > limit || next < floor {
                    return Ok(None);
                }
                if ok(&self.read(next)?) {
                    good = next;
                    break;
                }
                bad = next;
            }
        }
        while (good - bad).abs() > precision * good.abs().max(bad.abs()) {
            let mid = 0.5 * (good + bad);
            if ok(&self.read(mid)?) {
                good = mid;
            } else {
                bad = mid;
            }
        }
        Ok(Some(good))
    }
}

/// Solves `target` for `setting` on `subject`'s scenario. `progress` sees
/// every candidate.
pub fn solve(
    subject: &Subject,
    setting: Setting,
    target: &Target,
    opts: &RunOptions,
    progress: &dyn Fn(f64, &Reading),
) -> Result<SolveResult, Error> {
    let method = subject.scenario.method;
    let rare = match method {
        Method::Plain => false,
        Method::Importance => true,
        Method::Auto => target.rare(),
    };
    let mut start = subject.current(setting);
    if start <= 0.0 {
        // An empty pool: start from the expected claims.
        let e = crate::model::analytic::expectations(&subject.model);
        start = e.total_claims().max(1.0);
    }
    let mut mixture = None;
    if rare {
        // A rough answer with the mixture planned for the scenario as given.
        let plan = importance::plan(&subject.model, opts.seed, opts.threads)?;
        let rough_opts = RunOptions {
            paths: (opts.paths / 4).max(16_384).min(opts.paths),
            ..opts.clone()
        };
        let mut rough = Search {
            subject,
            setting,
            target,
            opts: rough_opts,
            mixture: Some(plan.mixture),
            seen: BTreeMap::new(),
            evaluations: 0,
            progress,
        };
        if let Some(x) = rough.boundary(start, Reading::meets, 2.0, 1e-2)?
            && x > 0.0
        {
            start = x;
        }
        let model = subject.model_at(setting, start)?;
        let mut plan = importance::plan(&model, opts.seed, opts.threads)?;
        if plan.mixture.components.is_empty() {
            // Nothing to aim at there: plain sampling.
            plan.mixture = Mixture::default();
        }
        if !plan.mixture.components.is_empty() {
            mixture = Some(plan.mixture);
        }
    }
    let mut search = Search {
        subject,
        setting,
        target,
        opts: opts.clone(),
        mixture,
        seen: BTreeMap::new(),
        evaluations: 0,
        progress,
    };
    let what = if setting.largest() { "plan" } else { "pool" };
    let value = search
        .boundary(start, Reading::meets, 2.0, PRECISION)?
        .ok_or_else(|| {
            InputError::new(
                format!("--target {}", target.text),
                format!(
                    "no {what} within the range riskpool searches ({} from 0 to {:e}) meets it on these paths",
                    setting.key(),
                    setting.limit()
                ),
            )
        })?;
    // The interval: from where the target might be met to where it surely is.
    let step = 1.25;
    let could = search
        .boundary(value, Reading::could_meet, step, INTERVAL_PRECISION)?
        .unwrap_or(value);
    let surely = search
        .boundary(value, Reading::surely_meets, step, INTERVAL_PRECISION)?
        .unwrap_or(setting.limit());
    let interval95 = if setting.largest() {
        [surely.min(value), could.max(value)]
    } else {
        [could.min(value), surely.max(value)]
    };
    let at = search.read(value)?;
    let model = subject.model_at(setting, value)?;
    let pool_money = model.scenario.pool_resources();
    let lending = model.volume;
    Ok(SolveResult {
        schema: SCHEMA.to_string(),
        scenario: subject.scenario.name.clone(),
        currency: subject.scenario.currency.clone(),
        for_key: setting.key().to_string(),
        target: target.text.clone(),
        value,
        interval95,
        achieved: at.value,
        achieved_std_error: match target.metric {
            super::Metric::Total(_, super::Field::Quantile(_)) => None,
            _ => Some(at.se),
        },
        lending,
        pool_money,
        leverage: (pool_money > 0.0).then(|| lending / pool_money),
        paths: opts.paths,
        seed: opts.seed,
        method: if search.mixture.is_some() {
            "importance"
        } else {
            "plain"
        }
        .to_string(),
        evaluations: search.evaluations,
    })
}

/// Schema identifier of several answers (`solve` with several targets or
/// stresses).
pub const SET_SCHEMA: &str = "riskpool.solves.v1";
/// Schema identifier of a shard of solve points (`solve --shard I/N`).
pub const PART_SCHEMA: &str = "riskpool.solve-part.v1";

/// The answers of several solve points, in point order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolveSet {
    /// Always `riskpool.solves.v1`.
    pub schema: String,
    /// One answer per point: every stress (or none) times every target.
    pub results: Vec<SolvePoint>,
}

/// One solve point and its answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolvePoint {
    /// The stress applied, if any.
    pub stress: Option<String>,
    /// The answer.
    pub answer: SolveResult,
}

/// One shard's solve points: points `k` (from 0) with `k mod N = I - 1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolvePart {
    /// Always `riskpool.solve-part.v1`.
    pub schema: String,
    /// riskpool's version.
    pub version: String,
    /// `[I, N]`.
    pub shard: [u64; 2],
    /// Points in the whole solve.
    pub points: usize,
    /// The point index of each result.
    pub indices: Vec<usize>,
    /// This shard's answers.
    pub results: Vec<SolvePoint>,
}

/// Merges solve shard files (`(origin, part)`) into the answers of every
/// point, refusing an incomplete, duplicated or mixed set.
pub fn merge_parts(parts: &[(String, SolvePart)]) -> Result<SolveSet, Error> {
    let Some((first_name, first)) = parts.first() else {
        return Err(InputError::new("merge", "give the solve shard files to merge").into());
    };
    if let Some((name, _)) = parts.iter().find(|(_, p)| p.version != first.version) {
        return Err(InputError::new(
            name,
            format!("comes from another riskpool version than {first_name}"),
        )
        .into());
    }
    let points: Vec<PointPart<SolvePoint>> = parts
        .iter()
        .map(|(name, p)| PointPart {
            name,
            shard: p.shard,
            points: p.points,
            indices: &p.indices,
            rows: &p.results,
        })
        .collect();
    Ok(SolveSet {
        schema: SET_SCHEMA.to_string(),
        results: merge_points("solve", &points)?,
    })
}
