//! Checks a parsed scenario and resolves it: defaults filled in, ranges and
//! cross-field rules enforced, every error tied to the key's position.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_spanned::Spanned;
use toml::de::DeTable;

use super::raw::{self, S};
use super::{
    Basis, Compensation, Copula, DEFAULT_BANK, Dependence, Exposure, Insurer, Lgd, MAX_AMOUNT,
    MAX_HORIZON, MAX_LOANS, MAX_PATHS, Method, Pool, Scenario, Segment, ShareRule, Source, Stress,
};
use crate::error::InputError;

/// What validation needs to report errors and resolve paths.
pub(super) struct Ctx<'a> {
    pub source: &'a Source,
    pub table: &'a DeTable<'a>,
    pub base_dir: &'a Path,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, message: impl Into<String>) -> InputError {
        self.source.error_at(self.table, Some(at.span()), message)
    }

    /// A finite amount of money in `[min, MAX_AMOUNT]`.
    fn amount(&self, v: &S<f64>, min: f64) -> Result<f64, InputError> {
        let x = *v.get_ref();
        if !x.is_finite() || x < min || x > MAX_AMOUNT {
            let low = if min > 0.0 {
                "greater than 0".to_string()
            } else {
                "at least 0".to_string()
            };
            return Err(self.err(
                v,
                format!(
                    "must be a finite amount {low} and at most {MAX_AMOUNT:e}, got {}",
                    show(x)
                ),
            ));
        }
        Ok(x)
    }

    /// A strictly positive finite amount.
    fn positive_amount(&self, v: &S<f64>) -> Result<f64, InputError> {
        let x = *v.get_ref();
        if x.is_nan() || x <= 0.0 {
            return Err(self.err(
                v,
                format!("must be a finite amount greater than 0, got {}", show(x)),
            ));
        }
        self.amount(v, 0.0)
    }

    /// A number in `[lo, hi]` (inclusive flags per end).
    fn range(
        &self,
        v: &S<f64>,
        lo: f64,
        lo_incl: bool,
        hi: f64,
        hi_incl: bool,
        what: &str,
    ) -> Result<f64, InputError> {
        let x = *v.get_ref();
        let ok_lo = if lo_incl { x >= lo } else { x > lo };
        let ok_hi = if hi_incl { x <= hi } else { x < hi };
        if !(x.is_finite() && ok_lo && ok_hi) {
            let l = if lo_incl { "[" } else { "(" };
            let h = if hi_incl { "]" } else { ")" };
            return Err(self.err(
                v,
                format!("{what} must be in {l}{lo}, {hi}{h}, got {}", show(x)),
            ));
        }
        Ok(x)
    }

    fn fraction(&self, v: &S<f64>) -> Result<f64, InputError> {
        self.range(v, 0.0, true, 1.0, true, "a fraction")
    }

    fn correlation(&self, v: &S<f64>) -> Result<f64, InputError> {
        self.range(v, 0.0, true, 1.0, false, "a correlation")
    }

    /// A whole number in `[lo, hi]`.
    fn whole(&self, v: &S<i64>, lo: i64, hi: i64, what: &str) -> Result<i64, InputError> {
        let x = *v.get_ref();
        if x < lo || x > hi {
            return Err(self.err(
                v,
                format!("{what} must be a whole number from {lo} to {hi}, got {x}"),
            ));
        }
        Ok(x)
    }

    fn name(&self, v: &S<String>, what: &str) -> Result<String, InputError> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            return Err(self.err(v, format!("{what} must not be empty")));
        }
        if s.contains('.') || s.chars().any(char::is_control) {
            return Err(self.err(v, format!("{what} must not contain dots or control characters (it is used in keys such as segment.NAME.pd), got {s:?}")));
        }
        Ok(s.to_string())
    }
}

fn show(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x}")
    }
}

pub(super) fn scenario(ctx: &Ctx<'_>, raw: raw::RawScenario) -> Result<Scenario, InputError> {
    let meta = raw.scenario.get_ref();
    let horizon = ctx.whole(
        &meta.horizon_years,
        1,
        i64::from(MAX_HORIZON),
        "horizon_years",
    )? as u32;
    let name = match &meta.name {
        Some(n) => {
            let s = n.get_ref().trim();
            if s.is_empty() {
                return Err(ctx.err(n, "the scenario name must not be empty"));
            }
            s.to_string()
        }
        None => Path::new(&ctx.source.origin).file_stem().map_or_else(
            || "scenario".to_string(),
            |s| s.to_string_lossy().into_owned(),
        ),
    };
    let description = meta
        .description
        .as_ref()
        .map(|d| d.get_ref().trim().to_string())
        .unwrap_or_default();
    let currency = match &meta.currency {
        Some(c) => {
            let s = c.get_ref().trim();
            if s.is_empty() || s.len() > 12 {
                return Err(ctx.err(c, "currency must be a short label such as \"CNY\""));
            }
            s.to_string()
        }
        None => "CNY".to_string(),
    };

    let (paths, seed, method) = simulation(ctx, raw.simulation.as_ref().map(Spanned::get_ref))?;
    let compensation = compensation(ctx, raw.compensation.get_ref())?;
    let mut ledger_years = horizon;
    let pool_raw = raw.pool.get_ref();
    let claim_lag = match &pool_raw.claim_lag_years {
        Some(v) => ctx.whole(v, 0, 10, "claim_lag_years")? as u32,
        None => 0,
    };
    ledger_years += claim_lag;
    if compensation.returns_recoveries() {
        ledger_years += compensation.recovery_lag_years;
    }
    let how = if ledger_years == horizon + claim_lag {
        format!("horizon {horizon} + claim lag {claim_lag}")
    } else {
        format!(
            "horizon {horizon} + claim lag {claim_lag} + recovery lag {}",
            compensation.recovery_lag_years
        )
    };
    let pool = pool(ctx, pool_raw, claim_lag, &how, ledger_years)?;
    let insurer = raw
        .insurer
        .as_ref()
        .map(|i| insurer(ctx, i.get_ref()))
        .transpose()?;
    let guarantor = raw
        .guarantor
        .as_ref()
        .map(|g| ctx.fraction(&g.get_ref().share))
        .transpose()?;
    check_party_shares(ctx, &raw, &compensation, insurer.as_ref(), guarantor)?;
    let dependence = dependence(ctx, raw.dependence.as_ref().map(Spanned::get_ref))?;

    let portfolio = raw.portfolio.as_ref().map(Spanned::get_ref);
    let portfolio_seed = match portfolio.and_then(|p| p.seed.as_ref()) {
        Some(s) => ctx.whole(s, 0, i64::MAX, "the portfolio seed")? as u64,
        None => 1,
    };
    let tape = match portfolio.and_then(|p| p.tape.as_ref()) {
        Some(t) => {
            if !raw.segment.is_empty() {
                return Err(ctx.err(t, "give either a loan tape or [[segment]] tables, not both"));
            }
            let rel = t.get_ref().trim();
            if rel.is_empty() {
                return Err(ctx.err(t, "the tape path must not be empty"));
            }
            Some(ctx.base_dir.join(rel))
        }
        None => None,
    };
    if tape.is_none() && raw.segment.is_empty() {
        return Err(InputError::new(
            &ctx.source.origin,
            "the scenario has no loans: add [[segment]] tables or [portfolio] tape = \"loans.csv\"",
        ));
    }
    let mut segments = Vec::with_capacity(raw.segment.len());
    let mut seen = BTreeSet::new();
    let mut total_loans: u64 = 0;
    for seg in &raw.segment {
        let s = segment(ctx, seg.get_ref(), &dependence)?;
        if !seen.insert(s.name.clone()) {
            return Err(ctx.err(
                &seg.get_ref().name,
                format!(
                    "segment name `{}` is used twice; names must be unique",
                    s.name
                ),
            ));
        }
        total_loans += s.loans;
        if total_loans > MAX_LOANS {
            return Err(ctx.err(
                &seg.get_ref().loans,
                format!("the portfolio may hold at most {MAX_LOANS} loans"),
            ));
        }
        segments.push(s);
    }
    let stresses = stresses(ctx, &raw.stress, horizon, &dependence, &segments)?;

    Ok(Scenario {
        name,
        description,
        currency,
        horizon_years: horizon,
        paths,
        seed,
        method,
        pool,
        compensation,
        insurer,
        guarantor,
        dependence,
        portfolio_seed,
        segments,
        tape,
        stresses,
        stress: None,
        sha256: String::new(),
        origin: ctx.source.origin.clone(),
    })
}

fn simulation(
    ctx: &Ctx<'_>,
    sim: Option<&raw::RawSimulation>,
) -> Result<(u64, u64, Method), InputError> {
    let default = raw::RawSimulation::default();
    let sim = sim.unwrap_or(&default);
    let paths = match &sim.paths {
        Some(p) => ctx.whole(p, 1, MAX_PATHS as i64, "paths")? as u64,
        None => 100_000,
    };
    let seed = match &sim.seed {
        Some(s) => ctx.whole(s, 0, i64::MAX, "seed")? as u64,
        None => 1,
    };
    let method = match &sim.method {
        Some(m) => match m.get_ref().as_str() {
            "plain" => Method::Plain,
            "importance" => Method::Importance,
            "auto" => Method::Auto,
            other => return Err(ctx.err(
                m,
                format!(
                    "unknown method `{other}`: allowed are \"plain\", \"importance\" and \"auto\""
                ),
            )),
        },
        None => Method::Auto,
    };
    Ok((paths, seed, method))
}

fn pool(
    ctx: &Ctx<'_>,
    p: &raw::RawPool,
    claim_lag: u32,
    how: &str,
    ledger_years: u32,
) -> Result<Pool, InputError> {
    let initial_balance = ctx.amount(&p.initial_balance, 0.0)?;
    let l = ledger_years as usize;
    let top_ups = match &p.annual_top_up {
        None => vec![0.0; l],
        Some(t) => match t.get_ref() {
            raw::TopUp::Scalar(x) => {
                let x = ctx.amount(&Spanned::new(t.span(), *x), 0.0)?;
                let mut v = vec![x; l];
                v[0] = 0.0;
                v
            }
            raw::TopUp::List(items) => {
                if items.len() != l {
                    return Err(ctx.err(
                        t,
                        format!(
                            "a list of top-ups needs one amount per ledger year: {l} ({how}), got {}",
                            items.len()
                        ),
                    ));
                }
                items
                    .iter()
                    .map(|x| ctx.amount(x, 0.0))
                    .collect::<Result<Vec<_>, _>>()?
            }
        },
    };
    let interest_rate = match &p.interest_rate {
        Some(r) => ctx.range(r, -0.5, true, 1.0, true, "interest_rate")?,
        None => 0.0,
    };
    let annual_budget = p
        .annual_budget
        .as_ref()
        .map(|b| ctx.amount(b, 0.0))
        .transpose()?;
    let close_when_depleted = p.close_when_depleted.as_ref().is_some_and(|b| *b.get_ref());
    Ok(Pool {
        initial_balance,
        top_ups,
        interest_rate,
        annual_budget,
        claim_lag_years: claim_lag,
        close_when_depleted,
    })
}

fn compensation(ctx: &Ctx<'_>, c: &raw::RawCompensation) -> Result<Compensation, InputError> {
    let basis = match &c.basis {
        Some(b) => match b.get_ref().as_str() {
            "principal_loss" => Basis::PrincipalLoss,
            "outstanding_principal" => Basis::OutstandingPrincipal,
            other => {
                return Err(ctx.err(b, format!("unknown basis `{other}`: allowed are \"principal_loss\" and \"outstanding_principal\"")));
            }
        },
        None => Basis::PrincipalLoss,
    };
    let share = match (&c.pool_share, c.tier.is_empty()) {
        (Some(s), true) => ShareRule::Flat(ctx.fraction(s)?),
        (None, false) => {
            let mut tiers = Vec::with_capacity(c.tier.len());
            let mut last = 0.0;
            for t in &c.tier {
                let t = t.get_ref();
                let up_to = ctx.positive_amount(&t.up_to)?;
                if up_to <= last {
                    return Err(ctx.err(
                        &t.up_to,
                        format!(
                            "tiers must be in increasing order of up_to; {up_to} follows {last}"
                        ),
                    ));
                }
                last = up_to;
                tiers.push((up_to, ctx.fraction(&t.pool_share)?));
            }
            ShareRule::Tiers(tiers)
        }
        (Some(s), false) => {
            return Err(ctx.err(
                s,
                "give either pool_share or [[compensation.tier]] tables, not both",
            ));
        }
        (None, true) => {
            return Err(InputError::new(
                &ctx.source.origin,
                "[compensation] needs pool_share (for example pool_share = 0.5) or [[compensation.tier]] tables",
            )
            .with_key("compensation.pool_share"));
        }
    };
    let bonus = |v: &Option<S<f64>>| {
        v.as_ref()
            .map(|b| ctx.fraction(b))
            .transpose()
            .map(|b| b.unwrap_or(0.0))
    };
    let max_claim_per_loan = c
        .max_claim_per_loan
        .as_ref()
        .map(|v| ctx.amount(v, 0.0))
        .transpose()?;
    let suspend = c
        .suspend_above_npl_ratio
        .as_ref()
        .map(|v| ctx.range(v, 0.0, true, 1.0, false, "suspend_above_npl_ratio"))
        .transpose()?;
    let bank_cap = c
        .bank_annual_cap_ratio
        .as_ref()
        .map(|v| ctx.fraction(v))
        .transpose()?;
    let recoveries = c
        .recoveries_return_to_pool
        .as_ref()
        .is_some_and(|b| *b.get_ref());
    if recoveries
        && basis != Basis::OutstandingPrincipal
        && let Some(r) = &c.recoveries_return_to_pool
    {
        return Err(ctx.err(
            r,
            "recoveries flow back only when claims are on the whole exposure: set basis = \"outstanding_principal\"",
        ));
    }
    let recovery_lag = match &c.recovery_lag_years {
        Some(v) => ctx.whole(v, 1, 10, "recovery_lag_years")? as u32,
        None => 1,
    };
    Ok(Compensation {
        basis,
        share,
        first_loan_bonus: bonus(&c.first_loan_bonus)?,
        key_list_bonus: bonus(&c.key_list_bonus)?,
        policy_tool_bonus: bonus(&c.policy_tool_bonus)?,
        max_pool_share: c
            .max_pool_share
            .as_ref()
            .map(|v| ctx.fraction(v))
            .transpose()?
            .unwrap_or(1.0),
        max_claim_per_loan,
        suspend_above_npl_ratio: suspend,
        bank_annual_cap_ratio: bank_cap,
        recoveries_return_to_pool: recoveries,
        recovery_lag_years: recovery_lag,
    })
}

fn insurer(ctx: &Ctx<'_>, i: &raw::RawInsurer) -> Result<Insurer, InputError> {
    Ok(Insurer {
        share: ctx.fraction(&i.share)?,
        premium_rate: ctx.fraction(&i.premium_rate)?,
        cost_ratio: i
            .cost_ratio
            .as_ref()
            .map(|c| ctx.fraction(c))
            .transpose()?
            .unwrap_or(0.0),
        pool_covers_excess: i
            .pool_covers_insurer_excess
            .as_ref()
            .is_none_or(|b| *b.get_ref()),
    })
}

/// Pool, insurer and guarantor shares may add up to at most 1.
fn check_party_shares(
    ctx: &Ctx<'_>,
    raw: &raw::RawScenario,
    comp: &Compensation,
    insurer: Option<&Insurer>,
    guarantor: Option<f64>,
) -> Result<(), InputError> {
    let pool_max = match &comp.share {
        ShareRule::Flat(s) => {
            (s + comp.first_loan_bonus + comp.key_list_bonus + comp.policy_tool_bonus)
                .min(comp.max_pool_share)
        }
        ShareRule::Tiers(t) => {
            let top = t.iter().map(|x| x.1).fold(0.0, f64::max);
            (top + comp.first_loan_bonus + comp.key_list_bonus + comp.policy_tool_bonus)
                .min(comp.max_pool_share)
        }
    };
    let others = insurer.map_or(0.0, |i| i.share) + guarantor.unwrap_or(0.0);
    if pool_max + others > 1.0 + 1e-12 {
        let at = raw
            .insurer
            .as_ref()
            .map(|i| i.span())
            .or_else(|| raw.guarantor.as_ref().map(|g| g.span()))
            .unwrap_or_else(|| raw.compensation.span());
        return Err(ctx.source.error_at(
            ctx.table,
            Some(at),
            format!(
                "pool ({pool_max}), insurer and guarantor shares add up to {}, more than 1; the bank bears what is left, so they may add up to at most 1",
                pool_max + others
            ),
        ));
    }
    Ok(())
}

fn dependence(ctx: &Ctx<'_>, d: Option<&raw::RawDependence>) -> Result<Dependence, InputError> {
    let default = raw::RawDependence::default();
    let d = d.unwrap_or(&default);
    let copula = match &d.copula {
        None => Copula::Gaussian,
        Some(c) => match c.get_ref().as_str() {
            "gaussian" => Copula::Gaussian,
            "t" => {
                let Some(nu) = &d.degrees_of_freedom else {
                    return Err(ctx.err(
                        c,
                        "a t copula needs degrees_of_freedom (greater than 2, for example 5)",
                    ));
                };
                Copula::StudentT(ctx.range(nu, 2.0, false, 1e6, true, "degrees_of_freedom")?)
            }
            other => {
                return Err(ctx.err(
                    c,
                    format!("unknown copula `{other}`: allowed are \"gaussian\" and \"t\""),
                ));
            }
        },
    };
    if let (Copula::Gaussian, Some(nu)) = (copula, &d.degrees_of_freedom) {
        return Err(ctx.err(nu, "degrees_of_freedom applies only to copula = \"t\""));
    }
    let correlation = d
        .correlation
        .as_ref()
        .map(|c| ctx.correlation(c))
        .transpose()?;
    let factor_persistence = match &d.factor_persistence {
        Some(p) => ctx.range(p, -1.0, false, 1.0, false, "factor_persistence")?,
        None => 0.0,
    };
    let sectors = match &d.sectors {
        None => None,
        Some(map) => {
            let mut out = BTreeMap::new();
            for (name, rho) in map.get_ref() {
                let r = ctx.correlation(rho)?;
                let key = ctx.name(&Spanned::new(rho.span(), name.clone()), "a sector name")?;
                if key != *name {
                    return Err(ctx.err(rho, format!("sector name {name:?} has spaces around it")));
                }
                // Global plus sector correlation is checked per loan, where
                // the loan's own global correlation is known.
                out.insert(key, r);
            }
            Some(out)
        }
    };
    Ok(Dependence {
        copula,
        correlation,
        factor_persistence,
        sectors,
    })
}

fn segment(ctx: &Ctx<'_>, s: &raw::RawSegment, dep: &Dependence) -> Result<Segment, InputError> {
    let name = ctx.name(&s.name, "a segment name")?;
    let loans = ctx.whole(&s.loans, 1, MAX_LOANS as i64, "loans")? as u64;
    let exposure = match s.exposure.get_ref() {
        raw::ExposureSpec::Fixed(x) => {
            Exposure::Fixed(ctx.positive_amount(&Spanned::new(s.exposure.span(), *x))?)
        }
        raw::ExposureSpec::Lognormal(l) => Exposure::Lognormal {
            median: ctx.positive_amount(&l.median)?,
            sigma: ctx.range(&l.sigma, 0.0, true, 5.0, true, "sigma")?,
        },
    };
    let total_exposure = s
        .total_exposure
        .as_ref()
        .map(|t| ctx.positive_amount(t))
        .transpose()?;
    let pd = ctx.range(
        &s.pd,
        0.0,
        false,
        1.0,
        false,
        "pd (an annual probability of default)",
    )?;
    let lgd = match s.lgd.get_ref() {
        raw::LgdSpec::Fixed(x) => Lgd::Fixed(ctx.fraction(&Spanned::new(s.lgd.span(), *x))?),
        raw::LgdSpec::Beta(b) => {
            let mean = ctx.range(&b.mean, 0.0, false, 1.0, false, "the mean of a Beta LGD")?;
            let sd = ctx.range(&b.sd, 0.0, false, 1.0, false, "the sd of a Beta LGD")?;
            let limit = (mean * (1.0 - mean)).sqrt();
            if sd >= limit {
                return Err(ctx.err(
                    &b.sd,
                    format!("a Beta LGD with mean {mean} needs sd below sqrt(mean x (1 - mean)) = {limit:.4}, got {sd}"),
                ));
            }
            let (alpha, beta) = Lgd::beta_shape(mean, sd);
            if !(alpha.is_finite() && beta.is_finite()) || alpha.max(beta) > 1e6 {
                return Err(ctx.err(
                    &b.sd,
                    format!(
                        "an sd of {sd} makes this Beta LGD practically fixed: write lgd = {mean}"
                    ),
                ));
            }
            Lgd::Beta { mean, sd }
        }
    };
    let correlation = match (&s.correlation, dep.correlation) {
        (Some(c), _) => ctx.correlation(c)?,
        (None, Some(c)) => c,
        (None, None) => {
            return Err(ctx.err(
                &s.name,
                format!("segment `{name}` has no correlation: set [dependence] correlation, or correlation in this segment"),
            ));
        }
    };
    let sector = match &s.sector {
        Some(sec) => {
            let label = sec.get_ref().trim().to_string();
            if label.is_empty() {
                return Err(ctx.err(sec, "sector must not be empty"));
            }
            if let Some(sectors) = &dep.sectors {
                let Some(rho_s) = sectors.get(&label) else {
                    let known: Vec<&str> = sectors.keys().map(String::as_str).collect();
                    return Err(ctx.err(
                        sec,
                        format!(
                            "sector `{label}` is not listed in [dependence.sectors] (listed: {}); list it there, with 0 for a sector without a factor of its own",
                            known.join(", ")
                        ),
                    ));
                };
                if correlation + rho_s >= 1.0 {
                    return Err(ctx.err(
                        sec,
                        format!("global correlation {correlation} plus sector correlation {rho_s} of `{label}` must be below 1"),
                    ));
                }
            }
            Some(label)
        }
        None => None,
    };
    let term_years = match &s.term_years {
        Some(t) => ctx.whole(t, 1, 50, "term_years")? as u32,
        None => 1,
    };
    let renew = s.renew.as_ref().is_none_or(|r| *r.get_ref());
    let banks = match (&s.bank, &s.banks) {
        (Some(b), Some(_)) => return Err(ctx.err(b, "give either bank or banks, not both")),
        (Some(b), None) => vec![(ctx.name(b, "a bank name")?, 1.0)],
        (None, Some(map)) => {
            if map.get_ref().is_empty() {
                return Err(ctx.err(map, "banks must name at least one bank, for example banks = { \"Bank A\" = 0.6, \"Bank B\" = 0.4 }"));
            }
            let mut out = Vec::new();
            for (bank, w) in map.get_ref() {
                let w_val = *w.get_ref();
                if !(w_val.is_finite() && w_val > 0.0) {
                    return Err(ctx.err(
                        w,
                        format!(
                            "a bank's weight must be a positive number, got {}",
                            show(w_val)
                        ),
                    ));
                }
                let bank_name = ctx.name(&Spanned::new(w.span(), bank.clone()), "a bank name")?;
                out.push((bank_name, w_val));
            }
            // Scale by the largest weight first, so that the sum cannot
            // overflow whatever the weights.
            let largest = out.iter().map(|b| b.1).fold(0.0, f64::max);
            let total: f64 = out.iter().map(|b| b.1 / largest).sum();
            for b in &mut out {
                b.1 = b.1 / largest / total;
            }
            out
        }
        (None, None) => vec![(DEFAULT_BANK.to_string(), 1.0)],
    };
    let frac = |v: &Option<S<f64>>| {
        v.as_ref()
            .map(|f| ctx.fraction(f))
            .transpose()
            .map(|f| f.unwrap_or(0.0))
    };
    Ok(Segment {
        name,
        loans,
        exposure,
        total_exposure,
        pd,
        lgd,
        correlation,
        sector,
        term_years,
        renew,
        banks,
        first_loan_fraction: frac(&s.first_loan_fraction)?,
        key_list_fraction: frac(&s.key_list_fraction)?,
        policy_tool_fraction: frac(&s.policy_tool_fraction)?,
    })
}

fn stresses(
    ctx: &Ctx<'_>,
    raw: &[S<raw::RawStress>],
    horizon: u32,
    dependence: &Dependence,
    segments: &[Segment],
) -> Result<Vec<Stress>, InputError> {
    let mut out: Vec<Stress> = Vec::new();
    for s in raw {
        let s = s.get_ref();
        let name = ctx.name(&s.name, "a stress name")?;
        if out.iter().any(|o| o.name == name) {
            return Err(ctx.err(
                &s.name,
                format!("stress name `{name}` is used twice; names must be unique"),
            ));
        }
        let pd_multiplier = match &s.pd_multiplier {
            Some(m) => ctx.range(m, 0.0, false, 1000.0, true, "pd_multiplier")?,
            None => 1.0,
        };
        let correlation = s
            .correlation
            .as_ref()
            .map(|c| ctx.correlation(c))
            .transpose()?;
        let mut pins = Vec::new();
        if let Some(g) = &s.global_factor {
            let list: Vec<&raw::RawPin> = match g.get_ref() {
                raw::PinSpec::One(p) => vec![p],
                raw::PinSpec::Many(v) => v.iter().map(Spanned::get_ref).collect(),
            };
            for p in list {
                let year = ctx.whole(&p.year, 1, i64::from(horizon), "the pinned year")? as u32;
                let q = ctx.range(&p.quantile, 0.0, false, 1.0, false, "the pinned quantile")?;
                if pins.iter().any(|(y, _)| *y == year) {
                    return Err(ctx.err(&p.year, format!("year {year} is pinned twice")));
                }
                pins.push((year, q));
            }
        }
        let mut sectors = Vec::new();
        if let Some(list) = &s.sectors {
            if list.get_ref().is_empty() {
                return Err(ctx.err(list, "sectors must name at least one sector (leave the key out to stress every loan)"));
            }
            for sec in list.get_ref() {
                let label = ctx.name(sec, "a sector name")?;
                if let Some(known) = &dependence.sectors
                    && !known.contains_key(&label)
                {
                    return Err(ctx.err(
                        sec,
                        format!("sector `{label}` is not listed in [dependence.sectors]"),
                    ));
                }
                if !segments.is_empty()
                    && !segments
                        .iter()
                        .any(|g| g.sector.as_deref() == Some(label.as_str()))
                {
                    return Err(ctx.err(sec, format!("no segment is in sector `{label}`")));
                }
                sectors.push(label);
            }
        }
        let factor_persistence = s
            .factor_persistence
            .as_ref()
            .map(|p| ctx.range(p, -1.0, false, 1.0, false, "factor_persistence"))
            .transpose()?;
        out.push(Stress {
            name,
            description: s
                .description
                .as_ref()
                .map(|d| d.get_ref().trim().to_string())
                .unwrap_or_default(),
            pd_multiplier,
            correlation,
            global_factor: pins,
            sectors,
            factor_persistence,
        });
    }
    Ok(out)
}
