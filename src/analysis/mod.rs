//! Decision tools on top of the engine: `solve` (the smallest pool or the
//! largest plan meeting a target) and `sweep` (a grid of designs).
//!
//! `solve` changes a setting without re-reading the scenario or its tape:
//! [`Subject`] keeps the loans as read and builds each candidate's model
//! from them (with every check a scenario gets), the pool's settings
//! changed, or for `plan.scale` every exposure multiplied (shares, tiers
//! and caps then apply to the scaled loans). `sweep` reads each point like
//! a scenario with `--set` overrides.

pub mod solve;
pub mod sweep;

use crate::engine::importance::Plan;
use crate::engine::path::Mixture;
use crate::engine::{self, Accumulator, NoProgress, RunOptions};
use crate::error::{Error, InputError};
use crate::model::{Model, Portfolio};
use crate::result::{RunInfo, RunResult};
use crate::scenario::{MAX_AMOUNT, Scenario};
use crate::stats::ONE;

/// The settings `solve` can search over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `pool.initial_balance`.
    InitialBalance,
    /// `pool.annual_top_up` (the same amount every ledger year after the
    /// first, like a scalar top-up).
    AnnualTopUp,
    /// `plan.scale`: every loan's exposure multiplied by it.
    PlanScale,
}

/// The keys `solve --for` accepts.
pub const SETTINGS: &str = "pool.initial_balance, pool.annual_top_up, plan.scale";

impl Setting {
    /// Parses a `--for` key.
    pub fn parse(key: &str) -> Result<Setting, InputError> {
        match key {
            "pool.initial_balance" => Ok(Setting::InitialBalance),
            "pool.annual_top_up" => Ok(Setting::AnnualTopUp),
            "plan.scale" => Ok(Setting::PlanScale),
            other => Err(InputError::new(
                "--for",
                format!("cannot solve for {other:?}; allowed: {SETTINGS}"),
            )),
        }
    }

    /// The key, as written.
    pub fn key(self) -> &'static str {
        match self {
            Setting::InitialBalance => "pool.initial_balance",
            Setting::AnnualTopUp => "pool.annual_top_up",
            Setting::PlanScale => "plan.scale",
        }
    }

    /// Whether the answer is the largest setting meeting the target (more
    /// lending makes things worse) rather than the smallest (more money
    /// makes them better).
    pub fn largest(self) -> bool {
        self == Setting::PlanScale
    }

    /// The largest value the search may try.
    pub fn limit(self) -> f64 {
        match self {
            Setting::PlanScale => 1e6,
            _ => MAX_AMOUNT,
        }
    }
}

/// A scenario whose pool or plan can be changed between runs.
pub struct Subject {
    /// The scenario (with the tape's hash, stress included).
    pub scenario: Scenario,
    /// The loans before any stress (for `plan.scale`).
    portfolio: Portfolio,
    /// The model as given.
    pub model: Model,
}

impl Subject {
    /// Loads the loans and builds the model once.
    pub fn new(scenario: &Scenario) -> Result<Subject, Error> {
        let (scenario, portfolio) = Model::portfolio_of(scenario)?;
        let model = Model::from_portfolio(&scenario, portfolio.clone())?;
        Ok(Subject {
            scenario,
            portfolio,
            model,
        })
    }

    /// The setting's value in the scenario as given.
    pub fn current(&self, setting: Setting) -> f64 {
        let pool = &self.scenario.pool;
        match setting {
            Setting::InitialBalance => pool.initial_balance,
            Setting::AnnualTopUp => pool.top_ups.iter().skip(1).copied().fold(0.0, f64::max),
            Setting::PlanScale => 1.0,
        }
    }

    /// The model with the setting at `x`.
    pub fn model_at(&self, setting: Setting, x: f64) -> Result<Model, Error> {
        let mut scenario = self.scenario.clone();
        let portfolio = match setting {
            Setting::InitialBalance => {
                scenario.pool.initial_balance = x;
                self.portfolio.clone()
            }
            Setting::AnnualTopUp => {
                for (t, top) in scenario.pool.top_ups.iter_mut().enumerate() {
                    *top = if t == 0 { 0.0 } else { x };
                }
                self.portfolio.clone()
            }
            Setting::PlanScale => {
                let mut p = self.portfolio.clone();
                for loan in &mut p.loans {
                    loan.exposure *= x;
                }
                p
            }
        };
        Ok(Model::from_portfolio(&scenario, portfolio)?)
    }
}

/// The figures a target can be set on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Probability the pool runs dry by the end of the last ledger year.
    Depletion,
    /// Expected paid over expected claims.
    Coverage,
    /// Probability every approved claim is paid in full.
    AllPaid,
    /// A figure of `totals`: its mean or a quantile.
    Total(Quantity, Field),
}

/// A figure of `totals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Loss,
    Claims,
    Approved,
    Suspended,
    Paid,
    Shortfall,
    Recoveries,
    FinalBalance,
}

/// Which summary of a quantity: the mean or a quantile (as a level).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field {
    Mean,
    Quantile(f64),
}

const QUANTITIES: [(&str, Quantity); 8] = [
    ("loss", Quantity::Loss),
    ("claims", Quantity::Claims),
    ("approved", Quantity::Approved),
    ("suspended", Quantity::Suspended),
    ("paid", Quantity::Paid),
    ("shortfall", Quantity::Shortfall),
    ("recoveries", Quantity::Recoveries),
    ("final_balance", Quantity::FinalBalance),
];

const FIELDS: [(&str, Field); 6] = [
    ("mean", Field::Mean),
    ("p50", Field::Quantile(0.5)),
    ("p90", Field::Quantile(0.9)),
    ("p95", Field::Quantile(0.95)),
    ("p99", Field::Quantile(0.99)),
    ("p99_9", Field::Quantile(0.999)),
];

/// The metrics a target may name, for messages.
pub const METRICS: &str = "depletion, coverage, all_paid, or QUANTITY.FIELD with QUANTITY one of loss, claims, approved, suspended, paid, shortfall, recoveries, final_balance and FIELD one of mean, p50, p90, p95, p99, p99_9";

impl Metric {
    fn parse(name: &str) -> Option<Metric> {
        match name {
            "depletion" => Some(Metric::Depletion),
            "coverage" => Some(Metric::Coverage),
            "all_paid" => Some(Metric::AllPaid),
            _ => {
                let (q, f) = name.split_once('.')?;
                let q = QUANTITIES.iter().find(|(n, _)| *n == q)?.1;
                let f = FIELDS.iter().find(|(n, _)| *n == f)?.1;
                Some(Metric::Total(q, f))
            }
        }
    }

    /// Whether the metric is a probability (and so a target below
    /// [`crate::engine::importance::RARE`] is a rare event).
    fn probability(self) -> Option<bool> {
        match self {
            Metric::Depletion => Some(true),
            Metric::AllPaid => Some(false),
            _ => None,
        }
    }
}

/// `<=` or `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    AtMost,
    AtLeast,
}

/// A target such as `depletion<=0.01`.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// As written.
    pub text: String,
    /// The figure.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

impl Target {
    /// Parses `METRIC<=X` or `METRIC>=X`.
    pub fn parse(text: &str) -> Result<Target, InputError> {
        let bad = |why: String| InputError::new(format!("--target {text}"), why);
        let (name, op, bound) = if let Some((n, b)) = text.split_once("<=") {
            (n, Op::AtMost, b)
        } else if let Some((n, b)) = text.split_once(">=") {
            (n, Op::AtLeast, b)
        } else {
            return Err(bad(
                "write METRIC<=X or METRIC>=X, e.g. depletion<=0.01".into()
            ));
        };
        let name = name.trim();
        let metric = Metric::parse(name)
            .ok_or_else(|| bad(format!("unknown metric {name:?}; allowed: {METRICS}")))?;
        let bound: f64 = bound
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| bad(format!("the bound {:?} is not a number", bound.trim())))?;
        if !bound.is_finite() {
            return Err(bad("the bound must be finite".into()));
        }
        if matches!(
            metric,
            Metric::Depletion | Metric::AllPaid | Metric::Coverage
        ) && !(0.0..=1.0).contains(&bound)
        {
            return Err(bad(format!(
                "{name} is a fraction: the bound must be in [0, 1], got {bound}"
            )));
        }
        Ok(Target {
            text: text.to_string(),
            metric,
            op,
            bound,
        })
    }

    /// Whether the target is about a rare event: a depletion probability
    /// below 1%, or a probability of full payment above 99%.
    pub fn rare(&self) -> bool {
        let rare = crate::engine::importance::RARE;
        match (self.metric.probability(), self.op) {
            (Some(true), Op::AtMost) => self.bound < rare,
            (Some(false), Op::AtLeast) => 1.0 - self.bound < rare,
            _ => false,
        }
    }

    /// Reads the target off a run: the figure, and the margin by which the
    /// run misses it (`<= 0` when met) with its standard error.
    pub fn read(&self, r: &RunResult, acc: &Accumulator) -> Reading {
        let n = r.paths.max(1) as f64;
        let t = &r.totals;
        let stat = |q: Quantity| match q {
            Quantity::Loss => &t.loss,
            Quantity::Claims => &t.claims,
            Quantity::Approved => &t.approved,
            Quantity::Suspended => &t.suspended,
            Quantity::Paid => &t.paid,
            Quantity::Shortfall => &t.shortfall,
            Quantity::Recoveries => &t.recoveries,
            Quantity::FinalBalance => &t.final_balance,
        };
        let signed = |value: f64, se: f64| {
            let margin = match self.op {
                Op::AtMost => value - self.bound,
                Op::AtLeast => self.bound - value,
            };
            Reading { value, margin, se }
        };
        match self.metric {
            Metric::Depletion => {
                let p = &r.depletion.probability;
                signed(p.estimate, p.std_error.unwrap_or(0.0))
            }
            Metric::AllPaid => {
                let p = &r.coverage.all_claims_paid_probability;
                signed(p.estimate, p.std_error.unwrap_or(0.0))
            }
            Metric::Coverage => {
                // E[paid] / E[claims]; the error treats the two means as
                // independent, which overstates it (they move together).
                let (paid, claims) = (&t.paid, &t.claims);
                let c = if claims.mean > 0.0 {
                    paid.mean / claims.mean
                } else {
                    1.0
                };
                let se = if claims.mean > 0.0 {
                    let sp = paid.std_error.unwrap_or(0.0);
                    let sc = claims.std_error.unwrap_or(0.0);
                    (sp * sp + c * c * sc * sc).sqrt() / claims.mean
                } else {
                    0.0
                };
                signed(c, se)
            }
            Metric::Total(q, Field::Mean) => {
                let s = stat(q);
                signed(s.mean, s.std_error.unwrap_or(0.0))
            }
            Metric::Total(q, Field::Quantile(level)) => {
                // "The level-quantile is at most X" means "at most 1 - level
                // of the (weighted) paths lie above X": compare that
                // fraction, whose error is binomial on the effective sample.
                let qs = &stat(q).quantiles;
                let value = [(0.5, qs.p50), (0.9, qs.p90), (0.95, qs.p95), (0.99, qs.p99)]
                    .iter()
                    .find(|(l, _)| *l == level)
                    .map_or(qs.p99_9, |p| p.1);
                let index = acc.layout.total(quantity_slot(q));
                let total = u128::from(r.paths) * ONE;
                let above = acc.stat(index).sketch().fraction_above(self.bound, total);
                let ess = r
                    .importance
                    .as_ref()
                    .map_or(n, |i| i.effective_sample_size.max(1.0));
                let se = (above * (1.0 - above) / ess).max(0.0).sqrt();
                let margin = match self.op {
                    Op::AtMost => above - (1.0 - level),
                    Op::AtLeast => (1.0 - level) - above,
                };
                Reading { value, margin, se }
            }
        }
    }
}

fn quantity_slot(q: Quantity) -> usize {
    use crate::engine::outcome::slot;
    match q {
        Quantity::Loss => slot::LOSS,
        Quantity::Claims => slot::CLAIMS,
        Quantity::Approved => slot::APPROVED,
        Quantity::Suspended => slot::SUSPENDED,
        Quantity::Paid => slot::PAID,
        Quantity::Shortfall => slot::SHORTFALL,
        Quantity::Recoveries => slot::RECOVERIES,
        Quantity::FinalBalance => slot::BALANCE,
    }
}

/// A target read off one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// The figure the target names.
    pub value: f64,
    /// By how much the run misses the target (`<= 0`: met), in the units
    /// of the comparison (a probability for quantile targets).
    pub margin: f64,
    /// Standard error of `margin`.
    pub se: f64,
}

impl Reading {
    /// The run meets the target.
    pub fn meets(&self) -> bool {
        self.margin <= 0.0
    }

    /// The target might be met: the run cannot tell at 95%.
    pub fn could_meet(&self) -> bool {
        self.margin - 1.96 * self.se <= 0.0
    }

    /// The target is met even allowing for Monte Carlo error at 95%.
    pub fn surely_meets(&self) -> bool {
        self.margin + 1.96 * self.se <= 0.0
    }
}

/// Runs `model` with plain sampling, or with the fixed `mixture`.
pub fn evaluate(
    model: &Model,
    opts: &RunOptions,
    mixture: Option<&Mixture>,
) -> Result<(RunResult, Accumulator), Error> {
    let started = std::time::Instant::now();
    let acc = engine::simulate_shifted(model, opts, mixture, &NoProgress)?;
    let plan = Plan {
        importance: mixture.is_some(),
        mixture: mixture.cloned().unwrap_or_default(),
        pilot: None,
    };
    let info = RunInfo {
        threads: engine::thread_count(opts.threads),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let r = RunResult::new(model, &acc, opts.seed, &plan, info);
    Ok((r, acc))
}
