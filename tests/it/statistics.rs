//! The engine against exact answers: binomial mixtures over the factor
//! (Gaussian and t copulas, two segments, sector factors, persistent
//! factors), the exact multi-year ledger, the Vasicek large pool, closed-form
//! means, and hand-made paths. Fixed seeds; tolerances of 4 reported
//! standard errors; reported errors checked against the exact ones.

use crate::exact::{self, LedgerSpec};
use crate::{assert_error_right, assert_quantile, assert_within, model_of, run_text};
use riskpool::result::RunResult;
use riskpool::stats::Stat;

const LEVELS: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

fn quantiles(s: &Stat) -> [f64; 5] {
    let q = &s.quantiles;
    [q.p50, q.p90, q.p95, q.p99, q.p99_9]
}

/// Checks a money statistic against its exact distribution on `unit` multiples.
fn check_stat(what: &str, s: &Stat, pmf: &[f64], unit: f64, paths: u64) {
    let (mean, var) = exact::moments(pmf, unit);
    let sd = var.sqrt();
    let se = sd / (paths as f64).sqrt();
    assert_within(&format!("{what} mean"), s.mean, mean, se, 4.0);
    assert_error_right(&format!("{what} mean"), s.std_error, se, 0.03);
    assert!(
        (s.std_dev / sd - 1.0).abs() < 0.03,
        "{what} sd {} vs exact {sd}",
        s.std_dev
    );
    for (x, a) in quantiles(s).into_iter().zip(LEVELS) {
        assert_quantile(&format!("{what} p{a}"), pmf, unit, x, a, paths);
    }
    for (es, q) in [
        (s.expected_shortfall.p95, 0.95),
        (s.expected_shortfall.p99, 0.99),
    ] {
        let want = exact::expected_shortfall(pmf, unit, q);
        // The error of a tail mean over N (1 - q) paths, with room for the
        // estimated boundary.
        let tail_sd = sd.max(unit);
        let tol = 5.0 * tail_sd / (paths as f64 * (1.0 - q)).sqrt();
        assert!(
            (es - want).abs() <= tol,
            "{what} ES{q}: {es} vs exact {want} (tolerance {tol})"
        );
    }
}

/// Checks a probability against its exact value, and its reported error.
fn check_probability(what: &str, p: &riskpool::stats::Probability, exact_p: f64, paths: u64) {
    let se = (exact_p * (1.0 - exact_p) / paths as f64).sqrt();
    assert_within(what, p.estimate, exact_p, se, 4.0);
    if exact_p * paths as f64 > 200.0 {
        assert_error_right(what, p.std_error, se, 0.08);
    }
    assert!(
        p.ci95[0] <= p.estimate && p.estimate <= p.ci95[1],
        "{what}: estimate outside its interval"
    );
}

fn tail(pmf: &[f64], above: usize) -> f64 {
    pmf[above + 1..].iter().sum()
}

fn homogeneous(n: usize, pd: f64, rho: f64, pool: f64, extra: &str) -> String {
    format!(
        r#"
[scenario]
name = "homogeneous"
horizon_years = 1
[pool]
initial_balance = {pool}
[compensation]
pool_share = 0.5
[dependence]
correlation = {rho}
{extra}
[[segment]]
name = "all"
loans = {n}
exposure = 1_000_000
pd = {pd}
lgd = 0.6
"#
    )
}

#[test]
fn one_year_gaussian_portfolio_matches_the_binomial_mixture() {
    let (n, pd, rho, paths) = (1000, 0.02, 0.15, 200_000);
    let unit = 300_000.0; // 0.5 x 0.6 x 1,000,000 per default
    let k0 = 60; // the pool holds 60.5 claims: depleted iff more than 60 default
    let r = run_text(
        &homogeneous(n, pd, rho, (k0 as f64 + 0.5) * unit, ""),
        paths,
        11,
        None,
    );
    let pmf = exact::gaussian_counts(n, pd, rho);

    check_probability("depletion", &r.depletion.probability, tail(&pmf, k0), paths);
    check_stat("claims", &r.totals.claims, &pmf, unit, paths);
    check_stat("loss", &r.totals.loss, &pmf, 2.0 * unit, paths);
    let balance = (k0 as f64 + 0.5) * unit;
    let paid: f64 = pmf
        .iter()
        .enumerate()
        .map(|(k, p)| p * (k as f64 * unit).min(balance))
        .sum();
    let paid_sd = (pmf
        .iter()
        .enumerate()
        .map(|(k, p)| p * (k as f64 * unit).min(balance).powi(2))
        .sum::<f64>()
        - paid * paid)
        .sqrt();
    assert_within(
        "paid",
        r.totals.paid.mean,
        paid,
        paid_sd / (paths as f64).sqrt(),
        4.0,
    );
    let claims = exact::moments(&pmf, unit).0;
    assert!(
        (r.totals.shortfall.mean - (r.totals.claims.mean - r.totals.paid.mean)).abs()
            < 1e-6 * claims
    );
    let short = claims - paid;
    assert_within(
        "shortfall",
        r.totals.shortfall.mean,
        short,
        paid_sd.max(unit) / (paths as f64).sqrt() * 3.0,
        4.0,
    );
    // A year's entry and the one segment repeat the totals.
    assert_eq!(r.by_year[0].claims, r.totals.claims);
    assert!((r.by_segment[0].claims.mean - r.totals.claims.mean).abs() < 1e-6 * claims);
    check_probability(
        "all claims paid",
        &r.coverage.all_claims_paid_probability,
        1.0 - tail(&pmf, k0),
        paths,
    );
}

#[test]
fn one_year_t_copula_matches_the_double_mixture() {
    let (n, pd, rho, nu, paths) = (200, 0.02, 0.15, 5.0, 200_000);
    let unit = 300_000.0;
    let k0 = 15;
    let text = homogeneous(
        n,
        pd,
        rho,
        (k0 as f64 + 0.5) * unit,
        "copula = \"t\"\ndegrees_of_freedom = 5",
    );
    let r = run_text(&text, paths, 12, None);
    let pmf = exact::t_counts(n, pd, rho, nu, 1601, 600);
    check_probability(
        "t depletion",
        &r.depletion.probability,
        tail(&pmf, k0),
        paths,
    );
    check_stat("t claims", &r.totals.claims, &pmf, unit, paths);
}

#[test]
fn two_segments_sharing_the_factor_match_the_convolution() {
    let paths = 200_000;
    let unit = 250_000.0;
    // A: 400 loans of 2,000,000 (claim 0.5 x 0.5 x 2e6 = 2 units), PD 3%.
    // B: 300 loans of 3,000,000 (claim 3 units), PD 1.5%.
    let k0 = 100;
    let text = format!(
        r#"
[scenario]
name = "two segments"
horizon_years = 1
[pool]
initial_balance = {pool}
[compensation]
pool_share = 0.5
[dependence]
correlation = 0.12
[[segment]]
name = "A"
loans = 400
exposure = 2_000_000
pd = 0.03
lgd = 0.5
[[segment]]
name = "B"
loans = 300
exposure = 3_000_000
pd = 0.015
lgd = 0.5
"#,
        pool = (k0 as f64 + 0.5) * unit
    );
    let r = run_text(&text, paths, 13, Some(2));
    let pmf = exact::two_group_units((400, 0.03, 0.12, 2), (300, 0.015, 0.12, 3));
    check_probability("depletion", &r.depletion.probability, tail(&pmf, k0), paths);
    check_stat("claims", &r.totals.claims, &pmf, unit, paths);
    // Segment means in closed form; paid pro rata.
    let mean_a = 400.0 * 0.03 * 2.0 * unit;
    let mean_b = 300.0 * 0.015 * 3.0 * unit;
    let se = r.totals.claims.std_error.unwrap();
    assert_within(
        "segment A claims",
        r.by_segment[0].claims.mean,
        mean_a,
        se,
        4.0,
    );
    assert_within(
        "segment B claims",
        r.by_segment[1].claims.mean,
        mean_b,
        se,
        4.0,
    );
    let paid_sum = r.by_segment[0].paid.mean + r.by_segment[1].paid.mean;
    assert!(
        (paid_sum - r.totals.paid.mean).abs() < 1e-6 * paid_sum,
        "segments' paid add up to the total"
    );
}

#[test]
fn a_sector_factor_adds_its_correlation() {
    // One group loading on the global (0.1) and its sector (0.08) factor
    // is a one-factor portfolio with correlation 0.18.
    let (n, paths, unit, k0) = (500, 100_000, 300_000.0, 40);
    let text = format!(
        r#"
[scenario]
name = "sector"
horizon_years = 1
[pool]
initial_balance = {pool}
[compensation]
pool_share = 0.5
[dependence]
correlation = 0.1
[dependence.sectors]
bio = 0.08
[[segment]]
name = "all"
sector = "bio"
loans = {n}
exposure = 1_000_000
pd = 0.03
lgd = 0.6
"#,
        pool = (k0 as f64 + 0.5) * unit
    );
    let r = run_text(&text, paths, 14, None);
    let pmf = exact::gaussian_counts(n, 0.03, 0.18);
    check_probability(
        "sector depletion",
        &r.depletion.probability,
        tail(&pmf, k0),
        paths,
    );
    check_stat("sector claims", &r.totals.claims, &pmf, unit, paths);
}

#[test]
fn persistent_factors_match_the_two_year_mixture() {
    // Two years with Z_2 = phi Z_1 + sqrt(1 - phi^2) eta: integrate over both.
    let (n, pd, rho, phi, paths, unit) = (100, 0.03, 0.2, 0.6, 200_000, 300_000.0);
    let k0 = 20;
    let text = homogeneous(
        n,
        pd,
        rho,
        (k0 as f64 + 0.5) * unit,
        "factor_persistence = 0.6",
    )
    .replace("horizon_years = 1", "horizon_years = 2");
    let r = run_text(&text, paths, 15, None);
    let rule = exact::normal_rule(801);
    let mut two = vec![0.0; 2 * n + 1];
    for (&z1, &w1) in rule.x.iter().zip(&rule.w) {
        let p1 = exact::binomial_pmf(n, exact::gaussian_pd(pd, rho, z1));
        for (&e, &w2) in rule.x.iter().zip(&rule.w) {
            let z2 = phi * z1 + (1.0 - phi * phi).sqrt() * e;
            let p2 = exact::binomial_pmf(n, exact::gaussian_pd(pd, rho, z2));
            for (a, &pa) in p1.iter().enumerate() {
                if pa < 1e-300 {
                    continue;
                }
                for (b, &pb) in p2.iter().enumerate() {
                    two[a + b] += w1 * w2 * pa * pb;
                }
            }
        }
    }
    // Over two years the pool runs dry iff the claims exceed it in total.
    check_probability(
        "persistent depletion",
        &r.depletion.probability,
        tail(&two, k0),
        paths,
    );
    check_stat("persistent claims", &r.totals.claims, &two, unit, paths);
}

#[test]
fn the_ledger_over_years_matches_the_markov_chain() {
    // Three years of defaults paid a year late (four ledger years), with
    // top-ups, a budget and a binding per-loan cap.
    let (n, pd, rho, paths) = (500, 0.03, 0.2, 200_000);
    let unit = 250_000.0; // 0.5 x 0.6 x 1e6 = 300,000, capped at 250,000
    let spec = LedgerSpec {
        initial_half: 61, // 30.5 units
        top_ups: vec![0, 10, 10, 5],
        budget: Some(40),
        due: vec![false, true, true, true],
    };
    let text = format!(
        r#"
[scenario]
name = "ledger"
horizon_years = 3
[pool]
initial_balance = {initial}
annual_top_up = [0, {t1}, {t1}, {t3}]
annual_budget = {budget}
claim_lag_years = 1
[compensation]
pool_share = 0.5
max_claim_per_loan = 250_000
[dependence]
correlation = {rho}
[[segment]]
name = "all"
loans = {n}
exposure = 1_000_000
pd = {pd}
lgd = 0.6
"#,
        initial = 30.5 * unit,
        t1 = 10.0 * unit,
        t3 = 5.0 * unit,
        budget = 40.0 * unit
    );
    let r = run_text(&text, paths, 16, None);
    let claims = exact::gaussian_counts(n, pd, rho);
    let ans = exact::ledger(&spec, &claims);
    assert_eq!(r.by_year.len(), 4);
    for t in 0..4 {
        let y = &r.by_year[t];
        check_probability(
            &format!("depleted by year {}", t + 1),
            &r.depletion.by_year[t].probability,
            ans.depleted_by[t],
            paths,
        );
        check_probability(
            &format!("first depleted in year {}", t + 1),
            &r.depletion.first_year[t].probability,
            ans.first[t],
            paths,
        );
        check_probability(
            &format!("budget exceeded in year {}", t + 1),
            &y.budget_exceeded_probability,
            ans.budget_exceeded[t],
            paths,
        );
        let se = |s: &Stat| s.std_error.unwrap().max(1.0);
        assert_within(
            &format!("paid in year {}", t + 1),
            y.paid.mean,
            ans.paid[t] * unit,
            se(&y.paid),
            4.0,
        );
        assert_within(
            &format!("shortfall in year {}", t + 1),
            y.shortfall.mean,
            ans.shortfall[t] * unit,
            se(&y.shortfall),
            4.0,
        );
        assert_within(
            &format!("balance in year {}", t + 1),
            y.balance.mean,
            ans.balance[t] * unit,
            se(&y.balance),
            4.0,
        );
    }
    // Year 1 pays nothing: its defaults are due in year 2.
    assert_eq!(r.by_year[0].paid.mean, 0.0);
    assert_eq!(r.by_year[3].claims.mean, 0.0);
}

#[test]
fn a_large_pool_follows_vasicek() {
    let (n, pd, rho, paths) = (100_000, 0.02, 0.1, 100_000);
    let text = format!(
        r#"
[scenario]
name = "vasicek"
horizon_years = 1
[pool]
initial_balance = 0
[compensation]
pool_share = 1.0
[dependence]
correlation = {rho}
[[segment]]
name = "all"
loans = {n}
exposure = 1
pd = {pd}
lgd = 1.0
"#
    );
    let r = run_text(&text, paths, 17, None);
    let tol = 4.0 * (0.999f64 * 0.001 / paths as f64).sqrt() + 2e-4;
    for (x, a) in quantiles(&r.totals.loss).into_iter().zip(LEVELS) {
        let f = exact::vasicek_cdf(x / n as f64, pd, rho);
        let tol = 4.0 * (a * (1.0 - a) / paths as f64).sqrt() + 2e-4;
        assert!(
            (f - a).abs() <= tol,
            "loss fraction quantile {a}: {} has Vasicek CDF {f}",
            x / n as f64
        );
    }
    let q999 = r.totals.loss.quantiles.p99_9 / n as f64;
    let want = exact::vasicek_quantile(0.999, pd, rho);
    assert!(
        (exact::vasicek_cdf(q999, pd, rho) - 0.999).abs() <= tol,
        "{q999} vs {want}"
    );
    // With no money every claim is shortfall, and the pool is depleted
    // exactly when some loan defaults.
    assert!(r.depletion.probability.estimate > 0.99);
}

#[test]
fn closed_form_means_hold_for_the_shipped_scenario() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/guangzhou-2017.toml"
    ))
    .unwrap();
    let r = run_text(&text, 100_000, 3, None);
    let c = &r.totals.claims;
    assert_within(
        "claims vs closed form",
        c.mean,
        r.portfolio.expected_claims,
        c.std_error.unwrap(),
        4.0,
    );
    let l = &r.totals.loss;
    assert_within(
        "loss vs closed form",
        l.mean,
        r.portfolio.expected_loss,
        l.std_error.unwrap(),
        4.0,
    );
}

#[test]
fn beta_lgd_and_caps_match_closed_form_means() {
    let text = r#"
[scenario]
name = "beta"
horizon_years = 2
[pool]
initial_balance = 1e9
[compensation]
pool_share = 0.5
max_claim_per_loan = 1_000_000
[dependence]
correlation = 0.1
[[segment]]
name = "varied"
loans = 800
exposure = { lognormal = { median = 3_000_000, sigma = 0.8 } }
pd = 0.04
lgd = { beta = { mean = 0.55, sd = 0.25 } }
"#;
    let r = run_text(text, 100_000, 18, None);
    let c = &r.totals.claims;
    assert_within(
        "capped Beta claims",
        c.mean,
        r.portfolio.expected_claims,
        c.std_error.unwrap(),
        4.0,
    );
    let l = &r.totals.loss;
    assert_within(
        "Beta loss",
        l.mean,
        r.portfolio.expected_loss,
        l.std_error.unwrap(),
        4.0,
    );
}

#[test]
fn loans_that_are_not_renewed_leave_and_mature() {
    // Non-renewed two-year loans over three years: survivors default in
    // year 2 with PD (1 - PD); none is left in year 3. Without a cap, and
    // with one that binds on the larger loans.
    for cap in ["", "max_claim_per_loan = 1_000_000"] {
        let text = format!(
            r#"
[scenario]
name = "run-off"
horizon_years = 3
[pool]
initial_balance = 1e9
[compensation]
pool_share = 0.5
{cap}
[dependence]
correlation = 0.15
[[segment]]
name = "varied"
loans = 600
exposure = {{ lognormal = {{ median = 2_000_000, sigma = 0.7 }} }}
pd = 0.05
lgd = 0.6
term_years = 2
renew = false
"#
        );
        let r = run_text(&text, 100_000, 19, None);
        let model = model_of(&text);
        let e = riskpool::model::analytic::expectations(&model);
        for t in 0..2 {
            let y = &r.by_year[t];
            assert_within(
                &format!("claims in year {} ({cap})", t + 1),
                y.claims.mean,
                e.claims[t],
                y.claims.std_error.unwrap(),
                4.0,
            );
        }
        assert_eq!(r.by_year[2].claims.mean, 0.0);
        assert_eq!(r.by_year[2].loss.quantiles.p99_9, 0.0);
    }
}

/// A degenerate portfolio in which every loan defaults every year, so one
/// path is known by hand.
fn certain(initial: f64, extra: &str) -> RunResult {
    let text = format!(
        r#"
[scenario]
name = "certain"
horizon_years = 2
[pool]
initial_balance = {initial}
annual_top_up = 1_000_000
claim_lag_years = 1
{extra}
[compensation]
pool_share = 0.5
[dependence]
correlation = 0
[[segment]]
name = "all"
loans = 10
exposure = 1_000_000
pd = 0.999999999999
lgd = 0.5
"#
    );
    run_text(&text, 2048, 20, None)
}

#[test]
fn hand_made_paths_follow_every_ledger_rule() {
    // Claims of 2.5 million each year, due a year later; 1 million top-ups
    // from year 2.
    let r = certain(3_000_000.0, "");
    let paid: Vec<f64> = r.by_year.iter().map(|y| y.paid.mean).collect();
    let balance: Vec<f64> = r.by_year.iter().map(|y| y.balance.mean).collect();
    assert_eq!(paid, vec![0.0, 2_500_000.0, 2_500_000.0]);
    assert_eq!(balance, vec![3_000_000.0, 1_500_000.0, 0.0]);
    // A claim exactly equal to the balance does not deplete it.
    assert_eq!(r.depletion.probability.estimate, 0.0);
    assert_eq!(r.by_year[0].claims.mean, 2_500_000.0);
    assert_eq!(r.by_year[2].claims.mean, 0.0);

    // 0.1 million less: year 3 pays what is there, pro rata.
    let r = certain(2_900_000.0, "");
    assert_eq!(r.by_year[2].paid.mean, 2_400_000.0);
    assert_eq!(r.by_year[2].shortfall.mean, 100_000.0);
    assert_eq!(r.depletion.first_year[2].probability.estimate, 1.0);
    assert_eq!(r.depletion.by_year[1].probability.estimate, 0.0);

    // A budget caps payments without depleting; interest accrues on the rest.
    let r = certain(
        3_000_000.0,
        "annual_budget = 2_000_000\ninterest_rate = 0.1",
    );
    assert_eq!(r.by_year[1].paid.mean, 2_000_000.0);
    assert_eq!(r.by_year[1].budget_exceeded_probability.estimate, 1.0);
    let y2 = (3_000_000.0 * 1.1 + 1_000_000.0 - 2_000_000.0) * 1.1;
    assert!((r.by_year[1].balance.mean - y2).abs() < 1e-6);
    assert_eq!(r.depletion.probability.estimate, 0.0);

    // A closed pool pays nothing after it runs dry, even with top-ups.
    let r = certain(1_000_000.0, "close_when_depleted = true");
    assert_eq!(r.by_year[1].paid.mean, 2_000_000.0);
    assert_eq!(r.by_year[2].paid.mean, 0.0);
    assert_eq!(r.by_year[2].shortfall.mean, 2_500_000.0);
}
