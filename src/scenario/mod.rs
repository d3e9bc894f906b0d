//! Scenario files: reading, `--set` overrides, and validation into an
//! immutable, resolved [`Scenario`].
//!
//! Every check happens here, once, so the engine's hot loop never sees a bad
//! value. Every error names the file, line and column, the key, and what is
//! allowed.

pub mod raw;
pub mod source;
mod validate;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toml::de::DeTable;

use crate::error::InputError;
pub use source::Source;

/// Largest amount of money (in the scenario's currency) any single key may hold.
pub const MAX_AMOUNT: f64 = 1e15;
/// Longest horizon, in years.
pub const MAX_HORIZON: u32 = 100;
/// Largest number of simulated paths.
pub const MAX_PATHS: u64 = 1_000_000_000_000;
/// Largest number of loans in a portfolio.
pub const MAX_LOANS: u64 = 50_000_000;
/// Largest plan volume (total exposure).
pub const MAX_VOLUME: f64 = 1e17;
/// Largest amount any figure of a path may reach (a balance grown by
/// interest, claims over the horizon): keeps every sum exact.
pub const MAX_FIGURE: f64 = 1e20;
/// Smallest PD the Student-t copula's quantile is computed for.
pub const MIN_T_PD: f64 = 1e-15;

/// How paths are sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Plain Monte Carlo.
    Plain,
    /// Importance sampling of the systematic factors.
    Importance,
    /// Importance sampling when the depletion event is rare, else plain.
    Auto,
}

impl Method {
    /// The name used in scenario files and result files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Plain => "plain",
            Method::Importance => "importance",
            Method::Auto => "auto",
        }
    }
}

/// A validated, resolved scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `[scenario] name` (the file's stem when not given).
    pub name: String,
    /// `[scenario] description`.
    pub description: String,
    /// Currency label for reports (`CNY` by default).
    pub currency: String,
    /// Years in which defaults happen, `H`.
    pub horizon_years: u32,
    /// Paths to simulate.
    pub paths: u64,
    /// Master seed of the simulated paths.
    pub seed: u64,
    /// Sampling method as requested.
    pub method: Method,
    /// The pool's ledger rules.
    pub pool: Pool,
    /// The compensation rules.
    pub compensation: Compensation,
    /// The insurer layer, if any.
    pub insurer: Option<Insurer>,
    /// The guarantor's share, if any.
    pub guarantor: Option<f64>,
    /// The default-dependence model.
    pub dependence: Dependence,
    /// Seed of the portfolio's generated attributes.
    pub portfolio_seed: u64,
    /// The loan segments (empty when a tape is given).
    pub segments: Vec<Segment>,
    /// The loan tape, when the portfolio is read from one.
    pub tape: Option<PathBuf>,
    /// Stresses defined in the file (applied only when named).
    pub stresses: Vec<Stress>,
    /// The stress applied to this resolved scenario, if any.
    pub stress: Option<Stress>,
    /// SHA-256 of the resolved scenario: file text, overrides and stress;
    /// the model adds the tape's bytes when it reads them.
    pub sha256: String,
    /// How the scenario file is named in messages.
    pub origin: String,
}

impl Scenario {
    /// Ledger years `L`: the horizon plus the claim lag, plus the recovery lag
    /// when recoveries still come back after the last claim.
    pub fn ledger_years(&self) -> u32 {
        let mut l = self.horizon_years + self.pool.claim_lag_years;
        if self.compensation.returns_recoveries() {
            l += self.compensation.recovery_lag_years;
        }
        l
    }

    /// Money the pool is given over the ledger: initial balance plus top-ups.
    pub fn pool_resources(&self) -> f64 {
        self.pool.initial_balance + self.pool.top_ups.iter().sum::<f64>()
    }
}

/// `[pool]`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Balance at the start of year 1.
    pub initial_balance: f64,
    /// Top-up at the start of each ledger year (index 0 is year 1).
    pub top_ups: Vec<f64>,
    /// Interest earned by the balance left at the end of each year.
    pub interest_rate: f64,
    /// Most the pool pays in one year, if capped.
    pub annual_budget: Option<f64>,
    /// Years between a default and the payment of its claim.
    pub claim_lag_years: u32,
    /// Whether the pool stops for good the first year it is depleted.
    pub close_when_depleted: bool,
}

/// Loss basis of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Exposure times LGD.
    PrincipalLoss,
    /// The whole exposure; recoveries may flow back later.
    OutstandingPrincipal,
}

/// `[compensation]`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Compensation {
    /// Loss basis.
    pub basis: Basis,
    /// Pool share: flat, or by loan size (`(up_to, share)` in increasing `up_to`).
    pub share: ShareRule,
    /// Bonus for a firm's first bank loan.
    pub first_loan_bonus: f64,
    /// Bonus for key-list firms.
    pub key_list_bonus: f64,
    /// Bonus for loans funded by central-bank policy tools.
    pub policy_tool_bonus: f64,
    /// Cap on the share after bonuses.
    pub max_pool_share: f64,
    /// Cap on one loan's claim.
    pub max_claim_per_loan: Option<f64>,
    /// A bank whose yearly default ratio exceeds this gets nothing that year.
    pub suspend_above_npl_ratio: Option<f64>,
    /// A bank's approved claims per year are capped at this share of its
    /// active principal.
    pub bank_annual_cap_ratio: Option<f64>,
    /// Whether the pool's part of recoveries flows back (outstanding basis).
    pub recoveries_return_to_pool: bool,
    /// Years from a claim's payment to its recovery.
    pub recovery_lag_years: u32,
}

impl Compensation {
    /// Whether recoveries flow back into the pool.
    pub fn returns_recoveries(&self) -> bool {
        self.basis == Basis::OutstandingPrincipal && self.recoveries_return_to_pool
    }
}

/// How the pool's share of a loan's loss is set.
#[derive(Clone, Debug, PartialEq)]
pub enum ShareRule {
    /// One share for every loan.
    Flat(f64),
    /// The first tier whose `up_to` is at least the loan's exposure.
    Tiers(Vec<(f64, f64)>),
}

/// `[insurer]`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Insurer {
    /// Share of each loss the insurer bears.
    pub share: f64,
    /// Premium as a share of the year's active principal.
    pub premium_rate: f64,
    /// Share of premiums spent on costs.
    pub cost_ratio: f64,
    /// Whether the pool pays what the insurer's budget cannot.
    pub pool_covers_excess: bool,
}

/// Copula of the latent variables.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Copula {
    /// Gaussian copula.
    Gaussian,
    /// Student-t copula with the given degrees of freedom.
    StudentT(f64),
}

/// `[dependence]`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Dependence {
    /// Copula.
    pub copula: Copula,
    /// Default asset correlation with the global factor (loans of a tape
    /// without their own correlation use it).
    pub correlation: Option<f64>,
    /// Factor persistence `phi` (0: independent years).
    pub factor_persistence: f64,
    /// Sector factor correlations, when sector factors are used.
    pub sectors: Option<std::collections::BTreeMap<String, f64>>,
}

/// A segment's exposure rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Exposure {
    /// Every loan has this exposure.
    Fixed(f64),
    /// Exposures drawn once, lognormal with this median and log-sd.
    Lognormal {
        /// Median exposure.
        median: f64,
        /// Standard deviation of the log exposure.
        sigma: f64,
    },
}

/// Loss given default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lgd {
    /// A fixed fraction.
    Fixed(f64),
    /// Beta-distributed with this mean and sd, drawn per default.
    Beta {
        /// Mean LGD.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
}

impl Lgd {
    /// Mean loss given default.
    pub fn mean(&self) -> f64 {
        match *self {
            Lgd::Fixed(v) => v,
            Lgd::Beta { mean, .. } => mean,
        }
    }

    /// Beta shape parameters `(alpha, beta)` for a Beta LGD.
    pub fn beta_shape(mean: f64, sd: f64) -> (f64, f64) {
        let k = mean * (1.0 - mean) / (sd * sd) - 1.0;
        (mean * k, (1.0 - mean) * k)
    }
}

/// One `[[segment]]`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Segment name (unique).
    pub name: String,
    /// Number of loans.
    pub loans: u64,
    /// Exposure rule.
    pub exposure: Exposure,
    /// Total the generated exposures are scaled to, if given.
    pub total_exposure: Option<f64>,
    /// Annual probability of default.
    pub pd: f64,
    /// Loss given default.
    pub lgd: Lgd,
    /// Asset correlation with the global factor.
    pub correlation: f64,
    /// Sector label.
    pub sector: Option<String>,
    /// Term in years.
    pub term_years: u32,
    /// Whether matured or defaulted loans are replaced next year.
    pub renew: bool,
    /// Banks and the share of the segment's loans each holds.
    pub banks: Vec<(String, f64)>,
    /// Share of loans flagged as a firm's first loan.
    pub first_loan_fraction: f64,
    /// Share of loans flagged as key-list firms.
    pub key_list_fraction: f64,
    /// Share of loans funded by policy tools.
    pub policy_tool_fraction: f64,
}

/// One `[[stress]]`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Stress {
    /// Name used with `--stress`.
    pub name: String,
    /// What it represents.
    pub description: String,
    /// Multiplier on the PD of every loan it applies to.
    pub pd_multiplier: f64,
    /// Replacement global correlation for the loans it applies to.
    pub correlation: Option<f64>,
    /// Years (1-based) whose global factor is pinned to a quantile.
    pub global_factor: Vec<(u32, f64)>,
    /// Sectors whose loans the PD multiplier and correlation apply to
    /// (empty: every loan).
    pub sectors: Vec<String>,
    /// Replacement factor persistence.
    pub factor_persistence: Option<f64>,
}

/// Name of the bank used when a scenario names none.
pub const DEFAULT_BANK: &str = "all banks";

/// Reads and validates a scenario file, applying `--set` overrides.
pub fn load(path: &Path, overrides: &[String]) -> Result<Scenario, InputError> {
    let origin = path.display().to_string();
    let text = read_text(path, &origin, "scenario")?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &origin, &base_dir, overrides)
}

/// Validates scenario text. `origin` names it in messages and `base_dir`
/// resolves relative paths (a tape).
pub fn parse(
    text: &str,
    origin: &str,
    base_dir: &Path,
    overrides: &[String],
) -> Result<Scenario, InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(
            origin,
            "the file is empty: a scenario needs [scenario], [pool], [compensation] and [[segment]] tables (see docs/scenarios.md)",
        ));
    }
    let mut source = Source::new(origin, text);
    let parsed = DeTable::parse(text).map_err(|e| {
        let empty = DeTable::new();
        let message = first_line(e.message());
        source.error_at(&empty, e.span(), format!("not valid TOML: {message}"))
    })?;
    let span = parsed.span();
    let mut table = parsed.into_inner();
    source::apply_overrides(&mut source, &mut table, overrides)?;
    let lookup = table.clone();
    let de = toml::de::Deserializer::from(serde_spanned::Spanned::new(span, table));
    let raw: raw::RawScenario =
        serde::Deserialize::deserialize(de).map_err(|e: toml::de::Error| {
            source.error_at(&lookup, e.span(), explain_serde_error(e.message()))
        })?;
    let ctx = validate::Ctx {
        source: &source,
        table: &lookup,
        base_dir,
    };
    let mut scenario = validate::scenario(&ctx, raw)?;
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    for o in overrides {
        hasher.update(b"\n--set ");
        hasher.update(o.as_bytes());
    }
    scenario.sha256 = hex(&hasher.finalize());
    Ok(scenario)
}

impl Scenario {
    /// This scenario with the stress `name` applied (its PD multiplier,
    /// correlation and pinned factor years take effect when the model is
    /// built). The hash changes with it.
    pub fn with_stress(&self, name: &str) -> Result<Scenario, InputError> {
        let Some(stress) = self.stresses.iter().find(|s| s.name == name).cloned() else {
            let known: Vec<&str> = self.stresses.iter().map(|s| s.name.as_str()).collect();
            let allowed = if known.is_empty() {
                "the scenario defines no [[stress]]".to_string()
            } else {
                format!("defined: {}", known.join(", "))
            };
            return Err(InputError::new(
                format!("--stress {name}"),
                format!("no stress named `{name}` ({allowed})"),
            ));
        };
        let mut out = self.clone();
        let mut hasher = Sha256::new();
        hasher.update(self.sha256.as_bytes());
        hasher.update(b"\n--stress ");
        hasher.update(name.as_bytes());
        out.sha256 = hex(&hasher.finalize());
        out.stress = Some(stress);
        Ok(out)
    }
}

/// Reads a text input, turning every way it can fail into a clear message.
pub fn read_text(path: &Path, origin: &str, what: &str) -> Result<String, InputError> {
    if path.is_dir() {
        return Err(InputError::new(
            origin,
            format!("is a directory, not a {what} file"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        InputError::new(origin, format!("cannot read the {what} file: {why}"))
    })?;
    if bytes.contains(&0) {
        return Err(InputError::new(
            origin,
            format!("is a binary file, not a {what} file (it contains NUL bytes)"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        InputError::new(
            origin,
            format!(
                "is not UTF-8 text (invalid byte at offset {at}); save the {what} file as UTF-8"
            ),
        )
    })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_string()
}

/// Rewords serde's messages for people who edit TOML by hand.
fn explain_serde_error(message: &str) -> String {
    let message = first_line(message);
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!("unknown key {rest}");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing required key {rest}");
    }
    message
        .replace("invalid type: ", "wrong type: ")
        .replace("floating point", "a decimal number")
        .replace("expected i64", "expected a whole number")
        .replace("expected f64", "expected a number")
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
