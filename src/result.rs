//! The result file (`riskpool.result.v1`): one serde structure per object of
//! the schema in `spec/interface.md`, documented field by field. No field is
//! ever NaN or infinite: what cannot be computed is `null`.

use serde::{Deserialize, Serialize};

use crate::engine::importance::Plan;
use crate::engine::outcome::slot;
use crate::engine::{Accumulator, BATCH_PATHS, GENERATOR};
use crate::model::Model;
use crate::model::analytic;
use crate::stats::{Probability, QUANTILE_RELATIVE_ERROR, Stat};

/// Schema identifier written in every result file.
pub const SCHEMA: &str = "riskpool.result.v1";

/// A run's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Always `riskpool.result.v1`.
    pub schema: String,
    /// The scenario simulated.
    pub scenario: ScenarioInfo,
    /// Paths simulated.
    pub paths: u64,
    /// Master seed.
    pub seed: u64,
    /// Years in which defaults happen.
    pub horizon_years: u32,
    /// Years the ledger runs (horizon plus lags).
    pub ledger_years: u32,
    /// `plain` or `importance`.
    pub method: String,
    /// Importance-sampling diagnostics; null for plain sampling.
    pub importance: Option<ImportanceInfo>,
    /// The pool running dry.
    pub depletion: Depletion,
    /// Totals over all ledger years.
    pub totals: Totals,
    /// One entry per ledger year.
    pub by_year: Vec<YearEntry>,
    /// How much of the claims the pool covers.
    pub coverage: Coverage,
    /// Plan volume over the pool's money; null when the pool has none.
    pub leverage: Option<f64>,
    /// What the other parties bear.
    pub parties: Parties,
    /// Per bank.
    pub by_bank: Vec<BankEntry>,
    /// Per segment.
    pub by_segment: Vec<SegmentEntry>,
    /// The portfolio and its analytic expectations.
    pub portfolio: PortfolioInfo,
    /// Finer views of two distributions, for charts.
    #[serde(default)]
    pub distributions: Distributions,
    /// What fixes the values for a seed.
    pub engine: EngineInfo,
    /// How this run went (the only part that varies between identical runs).
    pub run: RunInfo,
}

/// All a result needs of the model it was simulated from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// The scenario.
    pub scenario: ScenarioInfo,
    /// Years in which defaults happen.
    pub horizon_years: u32,
    /// Years the ledger runs.
    pub ledger_years: u32,
    /// Plan volume over pool money.
    pub leverage: Option<f64>,
    /// The portfolio and its closed-form expectations.
    pub portfolio: PortfolioInfo,
    /// Whether an insurer takes part.
    pub insurer: bool,
    /// Whether a guarantor takes part.
    pub guarantor: bool,
    /// Bank names.
    pub banks: Vec<String>,
    /// Segment names.
    pub segments: Vec<String>,
}

impl Frame {
    /// The frame of `model`.
    pub fn of(model: &Model) -> Frame {
        let sc = &model.scenario;
        let expect = analytic::expectations(model);
        Frame {
            scenario: ScenarioInfo {
                name: sc.name.clone(),
                sha256: sc.sha256.clone(),
                description: sc.description.clone(),
                currency: sc.currency.clone(),
                stress: sc.stress.as_ref().map(|s| s.name.clone()),
            },
            horizon_years: sc.horizon_years,
            ledger_years: model.ledger_years as u32,
            leverage: model.leverage(),
            portfolio: PortfolioInfo {
                loans: model.portfolio.loans.len() as u64,
                volume: model.volume,
                initial_balance: sc.pool.initial_balance,
                pool_money: sc.pool_resources(),
                expected_loss: expect.total_loss(),
                expected_claims: expect.total_claims(),
            },
            insurer: sc.insurer.is_some(),
            guarantor: sc.guarantor.is_some(),
            banks: model.portfolio.banks.clone(),
            segments: model.portfolio.segments.clone(),
        }
    }
}

/// Identifies the scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// `[scenario] name`.
    pub name: String,
    /// SHA-256 of the resolved scenario (file, overrides, stress, tape).
    pub sha256: String,
    /// `[scenario] description`.
    pub description: String,
    /// Currency label.
    pub currency: String,
    /// The stress applied, if any.
    pub stress: Option<String>,
}

/// Importance-sampling diagnostics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportanceInfo {
    /// Kish's effective sample size, `(sum w)^2 / sum w^2`.
    pub effective_sample_size: f64,
    /// Estimated variance of plain sampling over that of this run, for the
    /// depletion probability at equal paths (null when the run saw no
    /// depletion).
    pub variance_reduction: Option<f64>,
    /// The mixture the global factor's yearly innovations were drawn from.
    pub components: Vec<MixtureComponent>,
}

/// One component of the importance-sampling mixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureComponent {
    /// Its probability.
    pub probability: f64,
    /// Mean of each default year's global-factor innovation.
    pub global_factor_shift: Vec<f64>,
}

impl ImportanceInfo {
    fn new(acc: &Accumulator, depletion: &Probability, plan: &Plan) -> Self {
        let n = acc.paths as f64;
        let (s1, s2) = acc.weight.sums();
        let effective_sample_size = if s2 > 0.0 { s1 * s1 / s2 } else { 0.0 };
        let p = depletion.estimate;
        let variance_reduction = depletion
            .std_error
            .filter(|&se| se > 0.0 && p > 0.0)
            .map(|se| p * (1.0 - p) / (n * se * se))
            .filter(|r| r.is_finite());
        ImportanceInfo {
            effective_sample_size,
            variance_reduction,
            components: plan
                .mixture
                .components
                .iter()
                .map(|c| MixtureComponent {
                    probability: c.probability,
                    global_factor_shift: c.shift.clone(),
                })
                .collect(),
        }
    }
}

/// Depletion probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Depletion {
    /// Depleted by the end of the last ledger year.
    pub probability: Probability,
    /// Depleted by the end of each ledger year (cumulative).
    pub by_year: Vec<YearProbability>,
    /// First depleted in each ledger year.
    pub first_year: Vec<YearProbability>,
}

/// A probability attached to a ledger year.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct YearProbability {
    /// Ledger year, from 1.
    pub year: u32,
    /// The probability.
    pub probability: Probability,
}

/// Totals over all ledger years.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Principal loss of all parties.
    pub loss: Stat,
    /// Claims on the pool (insurer excess included).
    pub claims: Stat,
    /// Claims left after the bank rules.
    pub approved: Stat,
    /// Claims voided by suspension.
    pub suspended: Stat,
    /// Paid by the pool.
    pub paid: Stat,
    /// Approved but unpaid.
    pub shortfall: Stat,
    /// Recoveries returned to the pool.
    pub recoveries: Stat,
    /// Balance at the end of the last ledger year.
    pub final_balance: Stat,
}

/// One ledger year.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct YearEntry {
    /// Ledger year, from 1.
    pub year: u32,
    /// Principal loss of the defaults of this year (zero after the horizon).
    pub loss: Stat,
    /// Claims of the defaults of this year (zero after the horizon).
    pub claims: Stat,
    /// Approved claims due this year.
    pub approved: Stat,
    /// Suspended claims that would have been due this year.
    pub suspended: Stat,
    /// Paid this year.
    pub paid: Stat,
    /// Approved but unpaid this year.
    pub shortfall: Stat,
    /// Recoveries received this year.
    pub recoveries: Stat,
    /// Balance at the end of the year, after interest.
    pub balance: Stat,
    /// Approved claims due this year exceed the annual budget.
    pub budget_exceeded_probability: Probability,
}

/// Coverage figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// E[paid] / E[claims]; null when no claims are expected.
    pub paid_over_claims: Option<f64>,
    /// Pool money (initial balance plus top-ups) over the analytic expected loss.
    pub pool_over_expected_loss: Option<f64>,
    /// Pool money over the 99% quantile of total loss.
    pub pool_over_loss_p99: Option<f64>,
    /// Every approved claim paid in full.
    pub all_claims_paid_probability: Probability,
}

/// What each party other than the pool bears.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parties {
    /// The banks: loss not paid by the pool, insurer or guarantor.
    pub bank: Stat,
    /// The insurer; null without one.
    pub insurer: Option<Stat>,
    /// The guarantor; null without one.
    pub guarantor: Option<Stat>,
}

/// One bank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BankEntry {
    /// Bank name.
    pub name: String,
    /// Principal loss on its loans.
    pub loss: Stat,
    /// Its claims.
    pub claims: Stat,
    /// Its approved claims.
    pub approved: Stat,
    /// Paid to it.
    pub paid: Stat,
    /// Its claims voided by suspension.
    pub suspended: Stat,
    /// Suspended in any year.
    pub suspended_probability: Probability,
    /// Contribution to the 99% expected shortfall of total claims.
    pub claims_es99_contribution: Option<f64>,
}

/// One segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Segment name.
    pub name: String,
    /// Principal loss.
    pub loss: Stat,
    /// Claims.
    pub claims: Stat,
    /// Paid by the pool.
    pub paid: Stat,
    /// Contribution to the 99% expected shortfall of total claims.
    pub claims_es99_contribution: Option<f64>,
}

/// The portfolio and its closed-form expectations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortfolioInfo {
    /// Number of loans.
    pub loans: u64,
    /// Total exposure (plan volume).
    pub volume: f64,
    /// Pool's initial balance.
    pub initial_balance: f64,
    /// Initial balance plus all scheduled top-ups.
    pub pool_money: f64,
    /// Analytic expected principal loss over the horizon.
    pub expected_loss: f64,
    /// Analytic expected claims (own shares, per-loan caps) over the horizon.
    pub expected_claims: f64,
}

/// Levels of the claims quantile curve in [`Distributions::claims`], in
/// ten-thousandths.
pub const CURVE_LEVELS: [u128; 27] = [
    10, 100, 500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 7500, 8000, 8500, 9000, 9250, 9500,
    9600, 9700, 9750, 9800, 9850, 9900, 9950, 9975, 9990, 9995, 9999,
];

/// Levels of the balance fan in [`Distributions::balance_fan`], in
/// ten-thousandths: 1, 5, 10, 25, 50, 75, 90, 95 and 99%.
pub const FAN_LEVELS: [u128; 9] = [100, 500, 1000, 2500, 5000, 7500, 9000, 9500, 9900];

/// Quantile curves for charts (the same sketches as the reported quantiles).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Distributions {
    /// Total claims over the ledger years: `[level, quantile]` pairs at
    /// [`CURVE_LEVELS`].
    pub claims: Vec<[f64; 2]>,
    /// Per ledger year, the balance at the end of the year: `[level,
    /// quantile]` pairs at [`FAN_LEVELS`].
    pub balance_fan: Vec<Vec<[f64; 2]>>,
}

/// What fixes the values for a seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// Random generator and how streams are derived.
    pub generator: String,
    /// Paths per batch.
    pub batch_paths: u64,
    /// Upper bound on the relative error of reported quantiles.
    pub quantile_relative_error: f64,
    /// Versions of the crates that generate the random values.
    pub crates: Vec<String>,
}

/// Facts about this particular run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Worker threads.
    pub threads: usize,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
    /// riskpool's version.
    pub version: String,
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    let r = num / den;
    (den > 0.0 && r.is_finite()).then_some(r)
}

impl RunResult {
    /// Builds the result of `acc`, simulated from `model` with `seed`.
    pub fn new(
        model: &Model,
        acc: &Accumulator,
        seed: u64,
        plan: &Plan,
        run: RunInfo,
    ) -> RunResult {
        Self::from_frame(&Frame::of(model), acc, seed, plan, run)
    }

    /// Builds the result of `acc` from the model's [`Frame`] (all a result
    /// needs of the model; shard files carry it so `merge` needs no
    /// scenario).
    pub fn from_frame(
        frame: &Frame,
        acc: &Accumulator,
        seed: u64,
        plan: &Plan,
        run: RunInfo,
    ) -> RunResult {
        let n = acc.paths;
        let weighted = plan.importance;
        let stat = |a: &crate::stats::StatAcc| a.summary(n);
        let prob = |a: &crate::stats::ProbAcc| a.summary(n, weighted);
        let lay = acc.layout;
        let at = |i: usize| stat(acc.stat(i));
        let totals = Totals {
            loss: at(lay.total(slot::LOSS)),
            claims: at(lay.total(slot::CLAIMS)),
            approved: at(lay.total(slot::APPROVED)),
            suspended: at(lay.total(slot::SUSPENDED)),
            paid: at(lay.total(slot::PAID)),
            shortfall: at(lay.total(slot::SHORTFALL)),
            recoveries: at(lay.total(slot::RECOVERIES)),
            final_balance: at(lay.total(slot::BALANCE)),
        };
        let by_year = acc
            .budget_exceeded
            .iter()
            .enumerate()
            .map(|(t, b)| YearEntry {
                year: t as u32 + 1,
                loss: at(lay.year(t, slot::LOSS)),
                claims: at(lay.year(t, slot::CLAIMS)),
                approved: at(lay.year(t, slot::APPROVED)),
                suspended: at(lay.year(t, slot::SUSPENDED)),
                paid: at(lay.year(t, slot::PAID)),
                shortfall: at(lay.year(t, slot::SHORTFALL)),
                recoveries: at(lay.year(t, slot::RECOVERIES)),
                balance: at(lay.year(t, slot::BALANCE)),
                budget_exceeded_probability: prob(b),
            })
            .collect();
        let year_probs = |v: &[crate::stats::ProbAcc]| {
            v.iter()
                .enumerate()
                .map(|(i, p)| YearProbability {
                    year: i as u32 + 1,
                    probability: prob(p),
                })
                .collect::<Vec<_>>()
        };
        let by_year_depl = year_probs(&acc.depleted_by);
        let depletion = Depletion {
            probability: by_year_depl
                .last()
                .map(|y| y.probability.clone())
                .unwrap_or_default(),
            by_year: by_year_depl,
            first_year: year_probs(&acc.first_depletion),
        };
        let pool_money = frame.portfolio.pool_money;
        let coverage = Coverage {
            paid_over_claims: ratio(totals.paid.mean, totals.claims.mean),
            pool_over_expected_loss: ratio(pool_money, frame.portfolio.expected_loss),
            pool_over_loss_p99: ratio(pool_money, totals.loss.quantiles.p99),
            all_claims_paid_probability: prob(&acc.some_unpaid).complement(),
        };
        let parties = Parties {
            bank: at(lay.party(slot::party::BANK)),
            insurer: frame.insurer.then(|| at(lay.party(slot::party::INSURER))),
            guarantor: frame
                .guarantor
                .then(|| at(lay.party(slot::party::GUARANTOR))),
        };
        let parts = acc.claim_parts.expected_shortfall(99, 100, n);
        let segments = frame.segments.len();
        let part = |i: usize| parts.as_ref().map(|p| p[i]);
        let by_bank = frame
            .banks
            .iter()
            .zip(&acc.bank_suspended)
            .enumerate()
            .map(|(i, (name, s))| BankEntry {
                name: name.clone(),
                loss: at(lay.bank(i, slot::bank::LOSS)),
                claims: at(lay.bank(i, slot::bank::CLAIMS)),
                approved: at(lay.bank(i, slot::bank::APPROVED)),
                paid: at(lay.bank(i, slot::bank::PAID)),
                suspended: at(lay.bank(i, slot::bank::SUSPENDED)),
                suspended_probability: prob(s),
                claims_es99_contribution: part(segments + i),
            })
            .collect();
        let by_segment = frame
            .segments
            .iter()
            .enumerate()
            .map(|(i, name)| SegmentEntry {
                name: name.clone(),
                loss: at(lay.segment(i, slot::segment::LOSS)),
                claims: at(lay.segment(i, slot::segment::CLAIMS)),
                paid: at(lay.segment(i, slot::segment::PAID)),
                claims_es99_contribution: part(i),
            })
            .collect();
        RunResult {
            schema: SCHEMA.to_string(),
            scenario: frame.scenario.clone(),
            paths: n,
            seed,
            horizon_years: frame.horizon_years,
            ledger_years: frame.ledger_years,
            method: if weighted { "importance" } else { "plain" }.to_string(),
            importance: weighted.then(|| ImportanceInfo::new(acc, &depletion.probability, plan)),
            depletion,
            totals,
            by_year,
            coverage,
            leverage: frame.leverage,
            parties,
            by_bank,
            by_segment,
            portfolio: frame.portfolio.clone(),
            distributions: {
                let total = u128::from(n) * crate::stats::ONE;
                let curve = |i: usize, levels: &[u128]| -> Vec<[f64; 2]> {
                    if n == 0 {
                        return Vec::new();
                    }
                    let bins = acc.stat(i).sketch().bins();
                    levels
                        .iter()
                        .filter_map(|&l| {
                            let q = crate::stats::Sketch::quantile_of(&bins, l, 10_000, total)?;
                            Some([l as f64 / 10_000.0, q])
                        })
                        .collect()
                };
                Distributions {
                    claims: curve(lay.total(slot::CLAIMS), &CURVE_LEVELS),
                    balance_fan: (0..frame.ledger_years as usize)
                        .map(|t| curve(lay.year(t, slot::BALANCE), &FAN_LEVELS))
                        .collect(),
                }
            },
            engine: EngineInfo {
                generator: GENERATOR.to_string(),
                batch_paths: BATCH_PATHS,
                quantile_relative_error: QUANTILE_RELATIVE_ERROR,
                crates: vec![
                    "rand 0.10.4".to_string(),
                    "rand_distr 0.6.0".to_string(),
                    "statrs 0.19.1".to_string(),
                    "libm 0.2".to_string(),
                ],
            },
            run,
        }
    }
}
