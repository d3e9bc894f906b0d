//! One self-contained HTML page of a result: the scenario in words, the
//! headline answers, the tables and the charts inline (SVG). No scripts, no
//! fonts, nothing fetched from anywhere: it can be mailed as it is.

use std::fmt::Write as _;

use super::charts::run_charts;
use super::{amount_words, count, currency_word, millions, percent};
use crate::error::Error;
use crate::result::RunResult;
use crate::stats::{Probability, Stat};

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn interval(p: &Probability) -> String {
    format!("{} to {}", percent(p.ci95[0]), percent(p.ci95[1]))
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.8em;margin-bottom:.1em}h2{font-size:1.3em;margin-top:1.8em;border-bottom:2px solid #1f64aa;padding-bottom:.2em}
.sub{color:#555;margin-top:0}.answers{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:.8em;margin:1em 0}
.card{border:1px solid #cdd;border-radius:6px;padding:.7em .9em;background:#f6f9fc}.card b{display:block;font-size:1.5em;color:#1f64aa}
table{border-collapse:collapse;margin:.6em 0;min-width:60%}th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#eef3f8}figure{margin:1.2em 0}figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}.foot{color:#666;font-size:.85em;margin-top:3em;border-top:1px solid #ccc;padding-top:.6em}";

fn money_row(out: &mut String, label: &str, s: &Stat) {
    let _ = writeln!(
        out,
        "<tr><td>{label}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        millions(s.mean),
        millions(s.quantiles.p95),
        millions(s.quantiles.p99),
        millions(s.quantiles.p99_9),
        millions(s.expected_shortfall.p99),
    );
}

/// The page, as HTML text.
pub fn page(r: &RunResult) -> Result<String, Error> {
    let cur = currency_word(&r.scenario.currency);
    let p = &r.portfolio;
    let d = &r.depletion.probability;
    let mut h = String::new();
    let title = match &r.scenario.stress {
        Some(s) => format!("{} (stress {})", r.scenario.name, s),
        None => r.scenario.name.clone(),
    };
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}: will the pool last?</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        esc(&title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
    if !r.scenario.description.is_empty() {
        let _ = writeln!(h, "<p class=\"sub\">{}</p>", esc(&r.scenario.description));
    }

    // The scenario in words.
    let leverage = r.leverage.map_or_else(
        || "no pool money".to_string(),
        |l| format!("{l:.1} times the pool's money"),
    );
    let _ = writeln!(h, "<h2>The scenario</h2>");
    let _ = writeln!(
        h,
        "<p>A risk-compensation pool of <b>{} {cur}</b> ({} {cur} with its scheduled top-ups) stands behind <b>{} {cur}</b> of bank lending in {} loans, over {} year{} of defaults and {} ledger year{}: the lending is {leverage}. \
         In closed form the loans are expected to lose {} {cur} of principal, of which {} {cur} would be claimed from the pool.</p>",
        amount_words(p.initial_balance),
        amount_words(p.pool_money),
        amount_words(p.volume),
        count(p.loans),
        r.horizon_years,
        if r.horizon_years == 1 { "" } else { "s" },
        r.ledger_years,
        if r.ledger_years == 1 { "" } else { "s" },
        amount_words(p.expected_loss),
        amount_words(p.expected_claims),
    );
    let method = match &r.importance {
        Some(is) => format!(
            "importance sampling: effective sample {}{}",
            count(is.effective_sample_size.round() as u64),
            is.variance_reduction.map_or_else(String::new, |v| format!(
                ", variance of the depletion estimate {v:.0} times smaller than plain sampling's"
            ))
        ),
        None => "plain Monte Carlo".to_string(),
    };
    let _ = writeln!(
        h,
        "<p>riskpool simulated {} paths of the portfolio's correlated defaults against the pool's rules (seed {}; {method}). Intervals are 95% intervals of the Monte Carlo estimate.</p>",
        count(r.paths),
        r.seed
    );

    // Headline answers.
    let _ = writeln!(h, "<h2>The answers</h2>\n<div class=\"answers\">");
    let card = |h: &mut String, label: &str, value: String, note: String| {
        let _ = writeln!(
            h,
            "<div class=\"card\">{}<b>{}</b>{}</div>",
            esc(label),
            esc(&value),
            esc(&note)
        );
    };
    card(
        &mut h,
        &format!("Chance the pool runs dry within {} years", r.ledger_years),
        percent(d.estimate),
        interval(d),
    );
    card(
        &mut h,
        "Share of claims the pool pays",
        r.coverage
            .paid_over_claims
            .map_or_else(|| "n/a".into(), percent),
        "expected paid over expected claims".into(),
    );
    card(
        &mut h,
        "Every approved claim paid in full",
        percent(r.coverage.all_claims_paid_probability.estimate),
        interval(&r.coverage.all_claims_paid_probability),
    );
    card(
        &mut h,
        "Pool money over expected loss",
        r.coverage
            .pool_over_expected_loss
            .map_or_else(|| "n/a".into(), |x| format!("{x:.2}x")),
        format!(
            "over the 99% loss: {}",
            r.coverage
                .pool_over_loss_p99
                .map_or_else(|| "n/a".into(), |x| format!("{x:.2}x"))
        ),
    );
    let _ = writeln!(h, "</div>");

    // Depletion by year.
    let _ = writeln!(
        h,
        "<h2>When the pool runs dry</h2>\n<table><tr><th>Ledger year</th><th>Run dry by its end</th><th>95% interval</th><th>First runs dry in it</th></tr>"
    );
    for (y, f) in r.depletion.by_year.iter().zip(&r.depletion.first_year) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            y.year,
            percent(y.probability.estimate),
            interval(&y.probability),
            percent(f.probability.estimate)
        );
    }
    let _ = writeln!(h, "</table>");

    // Money.
    let _ = writeln!(
        h,
        "<h2>Money over {} ledger years, million {cur}</h2>\n<table><tr><th></th><th>mean</th><th>95%</th><th>99%</th><th>99.9%</th><th>ES 99%</th></tr>",
        r.ledger_years
    );
    let t = &r.totals;
    money_row(&mut h, "Principal loss (all parties)", &t.loss);
    money_row(&mut h, "Claims on the pool", &t.claims);
    money_row(&mut h, "Suspended (bank rules)", &t.suspended);
    money_row(&mut h, "Paid by the pool", &t.paid);
    money_row(&mut h, "Shortfall (approved, unpaid)", &t.shortfall);
    money_row(&mut h, "Balance at the end", &t.final_balance);
    let _ = writeln!(h, "</table>");

    let _ = writeln!(
        h,
        "<h2>By year, means in million {cur}</h2>\n<table><tr><th>Year</th><th>claims</th><th>paid</th><th>shortfall</th><th>balance</th><th>budget exceeded</th></tr>"
    );
    for y in &r.by_year {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            y.year,
            millions(y.claims.mean),
            millions(y.paid.mean),
            millions(y.shortfall.mean),
            millions(y.balance.mean),
            percent(y.budget_exceeded_probability.estimate)
        );
    }
    let _ = writeln!(h, "</table>");

    let es = t.claims.expected_shortfall.p99;
    let share = |c: Option<f64>| match c {
        Some(c) if es > 0.0 => percent(c / es),
        _ => "n/a".into(),
    };
    let _ = writeln!(
        h,
        "<h2>By segment, means in million {cur}</h2>\n<table><tr><th>Segment</th><th>loss</th><th>claims</th><th>paid</th><th>share of ES99</th></tr>"
    );
    for s in &r.by_segment {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            millions(s.loss.mean),
            millions(s.claims.mean),
            millions(s.paid.mean),
            share(s.claims_es99_contribution)
        );
    }
    let _ = writeln!(h, "</table>");
    let _ = writeln!(
        h,
        "<h2>By bank, means in million {cur}</h2>\n<table><tr><th>Bank</th><th>claims</th><th>suspended</th><th>paid</th><th>chance suspended</th><th>share of ES99</th></tr>"
    );
    for b in &r.by_bank {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&b.name),
            millions(b.claims.mean),
            millions(b.suspended.mean),
            millions(b.paid.mean),
            percent(b.suspended_probability.estimate),
            share(b.claims_es99_contribution)
        );
    }
    let _ = writeln!(h, "</table>");

    // Charts, inline.
    let _ = writeln!(h, "<h2>Charts</h2>");
    for c in run_charts(r)? {
        let svg = c
            .svg
            .trim_start_matches(|ch| ch != '<')
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        let _ = writeln!(
            h,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            svg.trim(),
            esc(&c.title)
        );
    }

    let _ = writeln!(
        h,
        "<p class=\"foot\">Made by riskpool {} on {} path{}, seed {}. Scenario SHA-256 {}. Values fixed by {}, {} paths per batch; quantiles at most {} above the sample quantile.</p>\n</body>\n</html>",
        esc(&r.run.version),
        count(r.paths),
        if r.paths == 1 { "" } else { "s" },
        r.seed,
        esc(&r.scenario.sha256),
        esc(&r.engine.generator),
        r.engine.batch_paths,
        percent(r.engine.quantile_relative_error),
    );
    Ok(h)
}
