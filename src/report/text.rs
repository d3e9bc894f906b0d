//! The text a fund manager reads: the summary of a run (from its result, so
//! a saved result prints the same) and what `check` says about a scenario.

use std::fmt::Write;

use super::{amount_words, count, currency_word, decimal, millions, percent};
use crate::model::Model;
use crate::model::analytic;
use crate::result::RunResult;
use crate::stats::{Probability, Stat};

fn interval(p: &Probability) -> String {
    format!("[{}, {}]", percent(p.ci95[0]), percent(p.ci95[1]))
}

fn money_row(out: &mut String, label: &str, s: &Stat) {
    let _ = writeln!(
        out,
        "  {label:<30}{:>11}{:>11}{:>11}{:>11}",
        millions(s.mean),
        millions(s.quantiles.p95),
        millions(s.quantiles.p99),
        millions(s.quantiles.p99_9)
    );
}

/// A part's share of the 99% expected shortfall of claims.
fn es_share(contribution: Option<f64>, es99: f64) -> String {
    match contribution {
        Some(c) if es99 > 0.0 => percent(c / es99),
        _ => "n/a".to_string(),
    }
}

/// The summary of a run.
pub fn summary(r: &RunResult) -> String {
    let mut out = String::new();
    let unit = currency_word(&r.scenario.currency);
    let _ = writeln!(out, "{}", r.scenario.name);
    if !r.scenario.description.is_empty() {
        let _ = writeln!(out, "{}", r.scenario.description);
    }
    if let Some(stress) = &r.scenario.stress {
        let _ = writeln!(out, "Stress applied: {stress}");
    }
    let _ = writeln!(out);
    let p = &r.portfolio;
    let _ = writeln!(
        out,
        "  Plan        {} {unit} in {} loans over {} year{}",
        amount_words(p.volume),
        count(p.loans),
        r.horizon_years,
        if r.horizon_years == 1 { "" } else { "s" }
    );
    let leverage = r.leverage.map_or_else(
        || "n/a: the pool has no money".to_string(),
        |l| format!("{l:.1}x"),
    );
    let _ = writeln!(
        out,
        "  Pool        {} {unit} initially, {} {unit} with top-ups (leverage {leverage})",
        amount_words(p.initial_balance),
        amount_words(p.pool_money)
    );
    let _ = writeln!(
        out,
        "  Expected    loss {} {unit}, claims {} {unit} (closed form)",
        amount_words(p.expected_loss),
        amount_words(p.expected_claims)
    );
    let method = match r.method.as_str() {
        "importance" => "importance-sampled",
        _ => "plain Monte Carlo",
    };
    let _ = writeln!(
        out,
        "  Simulated   {} paths, seed {}, {method}, {:.1} s on {} thread{}",
        count(r.paths),
        r.seed,
        r.run.elapsed_seconds,
        r.run.threads,
        if r.run.threads == 1 { "" } else { "s" }
    );
    if let Some(is) = &r.importance {
        let reduction = is
            .variance_reduction
            .map_or_else(|| "not measurable".to_string(), |v| format!("{v:.0}x"));
        let _ = writeln!(
            out,
            "              (global factor shifted; effective sample {}, variance of the\n               depletion estimate {reduction} smaller than plain sampling's)",
            count(is.effective_sample_size.round() as u64),
        );
    }

    let _ = writeln!(out, "\nWill the pool last?");
    let _ = writeln!(
        out,
        "  {:<30}{:>11}  95% interval",
        "Chance it has run dry", "estimate"
    );
    for y in &r.depletion.by_year {
        let label = format!("by the end of year {}", y.year);
        let _ = writeln!(
            out,
            "    {label:<28}{:>11}  {}",
            percent(y.probability.estimate),
            interval(&y.probability)
        );
    }
    let firsts: Vec<String> = r
        .depletion
        .first_year
        .iter()
        .map(|y| format!("year {} {}", y.year, percent(y.probability.estimate)))
        .collect();
    let _ = writeln!(out, "  First runs dry in             {}", firsts.join(", "));
    let all = &r.coverage.all_claims_paid_probability;
    let _ = writeln!(
        out,
        "  Every approved claim paid in full: {} {}",
        percent(all.estimate),
        interval(all)
    );

    let _ = writeln!(
        out,
        "\nMoney over {} ledger year{}, million {unit}",
        r.ledger_years,
        if r.ledger_years == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "  {:<30}{:>11}{:>11}{:>11}{:>11}",
        "", "mean", "95%", "99%", "99.9%"
    );
    let t = &r.totals;
    money_row(&mut out, "Principal loss (all parties)", &t.loss);
    money_row(&mut out, "Claims on the pool", &t.claims);
    if t.suspended.mean > 0.0 || t.claims.mean - t.approved.mean > 1e-9 * t.claims.mean {
        money_row(&mut out, "Approved after bank rules", &t.approved);
        money_row(&mut out, "Suspended", &t.suspended);
    }
    money_row(&mut out, "Paid by the pool", &t.paid);
    money_row(&mut out, "Shortfall (approved, unpaid)", &t.shortfall);
    if t.recoveries.mean > 0.0 {
        money_row(&mut out, "Recoveries returned", &t.recoveries);
    }
    let _ = writeln!(
        out,
        "  Final balance: mean {}, median {} million {unit}",
        millions(t.final_balance.mean),
        millions(t.final_balance.quantiles.p50)
    );

    let budget = r
        .by_year
        .iter()
        .any(|y| y.budget_exceeded_probability.estimate > 0.0);
    let _ = writeln!(out, "\nBy year, means in million {unit}");
    let _ = write!(
        out,
        "  {:<30}{:>11}{:>11}{:>11}{:>11}",
        "", "claims", "paid", "shortfall", "balance"
    );
    let _ = writeln!(out, "{}", if budget { "  P(claims > budget)" } else { "" });
    for y in &r.by_year {
        let _ = write!(
            out,
            "  {:<30}{:>11}{:>11}{:>11}{:>11}",
            format!("year {}", y.year),
            millions(y.claims.mean),
            millions(y.paid.mean),
            millions(y.shortfall.mean),
            millions(y.balance.mean),
        );
        if budget {
            let _ = write!(
                out,
                "  {:>18}",
                percent(y.budget_exceeded_probability.estimate)
            );
        }
        let _ = writeln!(out);
    }

    let c = &r.coverage;
    let _ = writeln!(out, "\nCoverage");
    let fmt_ratio = |x: Option<f64>, pct: bool| match x {
        Some(v) if pct => percent(v),
        Some(v) => format!("{v:.2}x"),
        None => "n/a".to_string(),
    };
    let _ = writeln!(
        out,
        "  Paid / claims                 {}",
        fmt_ratio(c.paid_over_claims, true)
    );
    let _ = writeln!(
        out,
        "  Pool money / expected loss    {}",
        fmt_ratio(c.pool_over_expected_loss, false)
    );
    let _ = writeln!(
        out,
        "  Pool money / 99% loss         {}",
        fmt_ratio(c.pool_over_loss_p99, false)
    );

    let es99 = r.totals.claims.expected_shortfall.p99;
    if r.by_bank.len() > 1 || r.by_bank.iter().any(|b| b.suspended.mean > 0.0) {
        let _ = writeln!(out, "\nBy bank, means in million {unit}");
        let _ = writeln!(
            out,
            "  {:<30}{:>11}{:>11}{:>11}{:>14}{:>14}",
            "", "claims", "paid", "suspended", "P(suspended)", "share of ES99"
        );
        for b in &r.by_bank {
            let _ = writeln!(
                out,
                "  {:<30}{:>11}{:>11}{:>11}{:>14}{:>14}",
                b.name,
                millions(b.claims.mean),
                millions(b.paid.mean),
                millions(b.suspended.mean),
                percent(b.suspended_probability.estimate),
                es_share(b.claims_es99_contribution, es99)
            );
        }
    }
    if r.by_segment.len() > 1 {
        let _ = writeln!(out, "\nBy segment, means in million {unit}");
        let _ = writeln!(
            out,
            "  {:<30}{:>11}{:>11}{:>11}{:>14}",
            "", "loss", "claims", "paid", "share of ES99"
        );
        for s in &r.by_segment {
            let _ = writeln!(
                out,
                "  {:<30}{:>11}{:>11}{:>11}{:>14}",
                s.name,
                millions(s.loss.mean),
                millions(s.claims.mean),
                millions(s.paid.mean),
                es_share(s.claims_es99_contribution, es99)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nQuantiles come from a sketch: at most {}% above the sample quantile.\n\
         ES99: the mean of the worst 1% of paths; a share of ES99 is what a part \
         contributes to it.",
        r.engine.quantile_relative_error * 100.0
    );
    out
}

/// What `check` prints: the scenario as resolved, with closed-form figures.
pub fn check(model: &Model) -> String {
    let sc = &model.scenario;
    let unit = currency_word(&sc.currency);
    let e = analytic::expectations(model);
    let mut out = String::new();
    let _ = writeln!(out, "{}: valid", sc.origin);
    let _ = writeln!(out, "{}", sc.name);
    if !sc.description.is_empty() {
        let _ = writeln!(out, "{}", sc.description);
    }
    if let Some(s) = &sc.stress {
        let _ = writeln!(out, "Stress applied: {}", s.name);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  Horizon      {} year{} of defaults, ledger runs {} year{} (claim lag {})",
        sc.horizon_years,
        if sc.horizon_years == 1 { "" } else { "s" },
        model.ledger_years,
        if model.ledger_years == 1 { "" } else { "s" },
        sc.pool.claim_lag_years
    );
    let _ = writeln!(
        out,
        "  Simulation   {} paths, seed {}, method {}",
        count(sc.paths),
        sc.seed,
        sc.method.name()
    );
    let dep = &sc.dependence;
    let copula = match dep.copula {
        crate::scenario::Copula::Gaussian => "Gaussian".to_string(),
        crate::scenario::Copula::StudentT(nu) => format!("Student-t, {nu} degrees of freedom"),
    };
    let _ = writeln!(
        out,
        "  Dependence   {copula} copula, {} sector factor{}, factor persistence {}",
        model.factors.sector_factors,
        if model.factors.sector_factors == 1 {
            ""
        } else {
            "s"
        },
        dep.factor_persistence
    );
    let _ = writeln!(
        out,
        "  Loans        {} in {} group{} of equal conditional PD",
        count(model.portfolio.loans.len() as u64),
        model.groups.len(),
        if model.groups.len() == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "  Volume       {} {unit}", amount_words(model.volume));
    let pool = &sc.pool;
    let _ = writeln!(
        out,
        "  Pool         {} {unit} initially; {} {unit} of top-ups; interest {}%; budget {}",
        amount_words(pool.initial_balance),
        amount_words(pool.top_ups.iter().sum()),
        pool.interest_rate * 100.0,
        pool.annual_budget.map_or_else(
            || "none".to_string(),
            |b| format!("{} {unit} a year", amount_words(b))
        )
    );
    let _ = writeln!(
        out,
        "  Leverage     {}",
        model.leverage().map_or_else(
            || "n/a (the pool has no money)".to_string(),
            |l| format!("{l:.1}x")
        )
    );

    let _ = writeln!(
        out,
        "\nSegments{:>22}{:>16}{:>8}{:>8}{:>8}  banks",
        "loans", "volume (M)", "PD", "LGD", "corr"
    );
    // One pass over the loans: count, volume, exposure-weighted PD, LGD
    // and correlation, and the banks of each segment.
    let segments = model.portfolio.segments.len();
    let mut agg = vec![[0.0f64; 5]; segments];
    let mut seg_banks: Vec<Vec<usize>> = vec![Vec::new(); segments];
    for l in &model.portfolio.loans {
        let a = &mut agg[l.segment];
        a[0] += 1.0;
        a[1] += l.exposure;
        a[2] += l.exposure * l.pd;
        a[3] += l.exposure * l.lgd.mean();
        a[4] += l.exposure * l.correlation;
        if !seg_banks[l.segment].contains(&l.bank) {
            seg_banks[l.segment].push(l.bank);
        }
    }
    const SHOWN: usize = 30;
    for (i, name) in model.portfolio.segments.iter().enumerate().take(SHOWN) {
        let a = agg[i];
        let w = a[1].max(f64::MIN_POSITIVE);
        let mut banks: Vec<&str> = seg_banks[i]
            .iter()
            .map(|&b| model.portfolio.banks[b].as_str())
            .collect();
        banks.sort_unstable();
        let _ = writeln!(
            out,
            "  {name:<26}{:>7}{:>16}{:>8}{:>8}{:>8}  {}",
            count(a[0] as u64),
            millions(a[1]),
            percent(a[2] / w),
            percent(a[3] / w),
            format!("{:.3}", a[4] / w),
            banks.join(", ")
        );
    }
    if segments > SHOWN {
        let _ = writeln!(out, "  ... and {} more segments", segments - SHOWN);
    }
    let _ = writeln!(
        out,
        "  (PD, LGD and correlation are exposure-weighted means.)"
    );

    let _ = writeln!(
        out,
        "\nExpected, in closed form (million {unit})     loss     claims   defaults"
    );
    for t in 0..model.horizon {
        let _ = writeln!(
            out,
            "  year {:<36}{:>9}{:>11}{:>11}",
            t + 1,
            millions(e.loss[t]),
            millions(e.claims[t]),
            super::decimal(e.defaults[t], 1)
        );
    }
    let _ = writeln!(
        out,
        "  {:<41}{:>9}{:>11}{:>11}",
        "all years",
        millions(e.total_loss()),
        millions(e.total_claims()),
        super::decimal(e.defaults.iter().sum::<f64>(), 1)
    );
    let money = sc.pool_resources();
    if e.total_claims() > 0.0 {
        let _ = writeln!(
            out,
            "  Pool money / expected claims: {:.2}x",
            money / e.total_claims()
        );
    }
    if sc.insurer.is_some() {
        let _ = writeln!(
            out,
            "  (Claims exclude the insurer's excess, which depends on each year's total.)"
        );
    }
    for w in &model.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

/// Several runs of one scenario (under different stresses) side by side.
pub fn comparison(results: &[RunResult]) -> String {
    let mut out = String::new();
    let Some(first) = results.first() else {
        return out;
    };
    let unit = currency_word(&first.scenario.currency);
    let _ = writeln!(out, "{}", first.scenario.name);
    let sampling = if results.iter().any(|r| r.importance.is_some()) {
        "importance sampling fitted to each stress (--method plain puts every stress on the same random numbers)"
    } else {
        "the same random numbers for every stress"
    };
    let _ = writeln!(
        out,
        "Stresses side by side: {} paths each, seed {}, {sampling}\n",
        count(first.paths),
        first.seed
    );
    let names: Vec<String> = results
        .iter()
        .map(|r| {
            r.scenario
                .stress
                .clone()
                .unwrap_or_else(|| "as written".to_string())
        })
        .collect();
    let width = names.iter().map(String::len).max().unwrap_or(0).max(12) + 2;
    let _ = write!(out, "  {:<36}", "");
    for n in &names {
        let _ = write!(out, "{n:>width$}");
    }
    let _ = writeln!(out);
    let mut row = |label: &str, f: &dyn Fn(&RunResult) -> String| {
        let _ = write!(out, "  {label:<36}");
        for r in results {
            let _ = write!(out, "{:>width$}", f(r));
        }
        let _ = writeln!(out);
    };
    row("Runs dry by the end (probability)", &|r| {
        percent(r.depletion.probability.estimate)
    });
    row("  95% interval, low", &|r| {
        percent(r.depletion.probability.ci95[0])
    });
    row("  95% interval, high", &|r| {
        percent(r.depletion.probability.ci95[1])
    });
    row(&format!("Expected loss (million {unit})"), &|r| {
        millions(r.totals.loss.mean)
    });
    row(&format!("Expected claims (million {unit})"), &|r| {
        millions(r.totals.claims.mean)
    });
    row(&format!("99% claims (million {unit})"), &|r| {
        millions(r.totals.claims.quantiles.p99)
    });
    row(&format!("Expected paid (million {unit})"), &|r| {
        millions(r.totals.paid.mean)
    });
    row(&format!("Expected shortfall (million {unit})"), &|r| {
        millions(r.totals.shortfall.mean)
    });
    row(&format!("Expected suspended (million {unit})"), &|r| {
        millions(r.totals.suspended.mean)
    });
    row("Paid / claims", &|r| {
        r.coverage
            .paid_over_claims
            .map_or_else(|| "n/a".into(), percent)
    });
    row("Every claim paid in full", &|r| {
        percent(r.coverage.all_claims_paid_probability.estimate)
    });
    row(&format!("Final balance, mean (million {unit})"), &|r| {
        millions(r.totals.final_balance.mean)
    });
    out
}

/// An amount or a plan scale, as `solve` and `sweep` print it.
fn setting_words(key: &str, x: f64, unit: &str) -> String {
    if key == "plan.scale" {
        format!("{}x the plan", decimal(x, 4))
    } else {
        format!("{} {unit}", amount_words(x))
    }
}

/// The answer of `riskpool solve`.
pub fn solved(s: &crate::analysis::solve::SolveResult, currency: &str) -> String {
    let unit = currency_word(currency);
    let mut out = String::new();
    let what = if s.for_key == "plan.scale" {
        "Largest"
    } else {
        "Smallest"
    };
    let _ = writeln!(out, "{}", s.scenario);
    let _ = writeln!(
        out,
        "  {what} {} meeting {}: {}",
        s.for_key,
        s.target,
        setting_words(&s.for_key, s.value, &unit)
    );
    let _ = writeln!(
        out,
        "  Settings the simulation cannot tell apart from it (95%): {} to {}",
        setting_words(&s.for_key, s.interval95[0], &unit),
        setting_words(&s.for_key, s.interval95[1], &unit)
    );
    let achieved = if s.target.starts_with("depletion")
        || s.target.starts_with("all_paid")
        || s.target.starts_with("coverage")
    {
        percent(s.achieved)
    } else {
        format!("{} {unit}", amount_words(s.achieved))
    };
    let se = s.achieved_std_error.map_or_else(String::new, |e| {
        if s.target.starts_with("depletion")
            || s.target.starts_with("all_paid")
            || s.target.starts_with("coverage")
        {
            format!(" (standard error {})", percent(e))
        } else {
            format!(" (standard error {} {unit})", amount_words(e))
        }
    });
    let _ = writeln!(out, "  There: {achieved}{se}");
    let leverage = s.leverage.map_or_else(
        || "no pool money".to_string(),
        |l| format!("leverage {l:.1}x"),
    );
    let _ = writeln!(
        out,
        "  Lending {} {unit}, pool money {} {unit}, {leverage}",
        amount_words(s.lending),
        amount_words(s.pool_money)
    );
    let _ = writeln!(
        out,
        "  {} candidates of {} paths each, seed {}, {} sampling on common random numbers",
        s.evaluations,
        count(s.paths),
        s.seed,
        s.method
    );
    out
}

/// The rows of `riskpool sweep`.
pub fn swept(s: &crate::analysis::sweep::SweepResult, currency: &str) -> String {
    let unit = currency_word(currency);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} points, {} paths each, seed {}",
        s.scenario,
        s.rows.len(),
        count(s.paths),
        s.seed
    );
    let _ = writeln!(out, "Money in million {unit}");
    let width: Vec<usize> = s
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            s.rows
                .iter()
                .map(|r| r.values[i].len())
                .chain([k.len()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    let mut head = String::from(" ");
    for (k, w) in s.keys.iter().zip(&width) {
        let _ = write!(head, " {k:>w$}");
    }
    let _ = writeln!(
        out,
        "{head} {:>10} {:>22} {:>9} {:>10} {:>10} {:>10} {:>9}",
        "run dry", "95% interval", "paid/cl.", "claims", "claims 99%", "shortfall", "leverage"
    );
    for r in &s.rows {
        let mut line = String::from(" ");
        for (v, w) in r.values.iter().zip(&width) {
            let _ = write!(line, " {v:>w$}");
        }
        let _ = writeln!(
            out,
            "{line} {:>10} {:>22} {:>9} {:>10} {:>10} {:>10} {:>9}",
            percent(r.depletion),
            format!(
                "[{}, {}]",
                percent(r.depletion_ci95[0]),
                percent(r.depletion_ci95[1])
            ),
            r.paid_over_claims.map_or_else(|| "n/a".into(), percent),
            millions(r.claims_mean),
            millions(r.claims_p99),
            millions(r.shortfall_mean),
            r.leverage
                .map_or_else(|| "n/a".into(), |l| format!("{l:.1}x")),
        );
    }
    out
}
