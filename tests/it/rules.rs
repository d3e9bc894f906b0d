//! The compensation rules against exact answers: banks and suspension,
//! bank caps, the insurer's stop-loss and the guarantor, size tiers and
//! bonuses, recoveries, expected-shortfall contributions, and stresses.

use crate::exact::{self};
use crate::{assert_quantile, assert_within, model_of, run_text};
use riskpool::result::RunResult;

fn tail(pmf: &[f64], above: usize) -> f64 {
    pmf[above + 1..].iter().sum()
}

fn mean_of(pmf: &[f64], f: impl Fn(usize) -> f64) -> (f64, f64) {
    let m: f64 = pmf.iter().enumerate().map(|(k, p)| p * f(k)).sum();
    let m2: f64 = pmf.iter().enumerate().map(|(k, p)| p * f(k).powi(2)).sum();
    (m, (m2 - m * m).max(0.0).sqrt())
}

#[track_caller]
fn check_mean(what: &str, estimate: f64, pmf: &[f64], paths: u64, f: impl Fn(usize) -> f64) {
    let (m, sd) = mean_of(pmf, f);
    assert_within(what, estimate, m, sd.max(1.0) / (paths as f64).sqrt(), 4.0);
}

#[track_caller]
fn check_prob(what: &str, estimate: f64, exact_p: f64, paths: u64) {
    let se = (exact_p * (1.0 - exact_p) / paths as f64).sqrt().max(1e-9);
    assert_within(what, estimate, exact_p, se, 4.0);
}

#[test]
fn two_banks_with_suspension_match_independent_binomials() {
    // 200 equal loans split evenly between two banks. Given the factor the
    // banks' default counts are independent Binomial(100, p(z)). A bank
    // whose default ratio exceeds 5.5% (6 or more defaults) gets nothing.
    let (paths, unit, pd, rho) = (200_000u64, 250_000.0, 0.03, 0.2);
    let k0 = 8; // pool of 8.5 claims
    let text = format!(
        r#"
[scenario]
name = "two banks"
horizon_years = 1
[pool]
initial_balance = {pool}
[compensation]
pool_share = 0.5
suspend_above_npl_ratio = 0.055
[dependence]
correlation = {rho}
[[segment]]
name = "all"
loans = 200
exposure = 1_000_000
pd = {pd}
lgd = 0.5
banks = {{ "Bank A" = 0.5, "Bank B" = 0.5 }}
"#,
        pool = (k0 as f64 + 0.5) * unit
    );
    let r = run_text(&text, paths, 31, None);
    let p = |z: f64| exact::gaussian_pd(pd, rho, z);
    let joint = exact::joint_counts(100, 100, p, p);
    let approved = |k: usize| if k >= 6 { 0 } else { k };
    let total_approved = exact::distribution_of(&joint, 100, 201, |i, j| approved(i) + approved(j));
    let bank_a = exact::distribution_of(&joint, 100, 101, |i, _| i);
    assert_eq!(r.by_bank.len(), 2);
    for b in &r.by_bank {
        check_prob(
            &format!("{} suspended", b.name),
            b.suspended_probability.estimate,
            tail(&bank_a, 5),
            paths,
        );
        check_mean(
            &format!("{} suspended claims", b.name),
            b.suspended.mean,
            &bank_a,
            paths,
            |k| {
                if k >= 6 { k as f64 * unit } else { 0.0 }
            },
        );
        check_mean(
            &format!("{} approved", b.name),
            b.approved.mean,
            &bank_a,
            paths,
            |k| approved(k) as f64 * unit,
        );
    }
    check_prob(
        "depletion",
        r.depletion.probability.estimate,
        tail(&total_approved, k0),
        paths,
    );
    check_mean(
        "approved",
        r.totals.approved.mean,
        &total_approved,
        paths,
        |k| k as f64 * unit,
    );
    for (x, a) in [
        (r.totals.approved.quantiles.p99, 0.99),
        (r.totals.approved.quantiles.p95, 0.95),
    ] {
        assert_quantile("approved", &total_approved, unit, x, a, paths);
    }
    let paid = r.totals.paid.mean;
    let banks_paid: f64 = r.by_bank.iter().map(|b| b.paid.mean).sum();
    assert!((paid - banks_paid).abs() < 1e-6 * paid);
    assert!(
        (r.totals.claims.mean - r.totals.approved.mean - r.totals.suspended.mean).abs()
            < 1e-6 * paid
    );
}

/// Claims of 10 loans of 1,000,000 that all default every year.
fn certain(extra_comp: &str, extra: &str) -> RunResult {
    let text = format!(
        r#"
[scenario]
name = "certain"
horizon_years = 2
[pool]
initial_balance = 6_000_000
[compensation]
pool_share = 0.5
{extra_comp}
[dependence]
correlation = 0
[[segment]]
name = "all"
loans = 10
exposure = 1_000_000
pd = 0.999999999999
lgd = 0.6
{extra}
"#
    );
    run_text(&text, 1024, 32, None)
}

#[test]
fn bank_caps_cut_each_banks_claims_in_proportion() {
    // Bank A holds 6 loans (6 million active), B 4: the cap of 5% of active
    // principal allows A 300,000 and B 200,000 of their 1.8 and 1.2 million.
    let r = certain(
        "bank_annual_cap_ratio = 0.05",
        "banks = { A = 0.6, B = 0.4 }",
    );
    let a = &r.by_bank[0];
    let b = &r.by_bank[1];
    assert_eq!(a.name, "A");
    assert_eq!(a.claims.mean, 2.0 * 1_800_000.0);
    assert!((a.approved.mean - 2.0 * 300_000.0).abs() < 1e-6);
    assert!((b.approved.mean - 2.0 * 200_000.0).abs() < 1e-6);
    assert_eq!(a.suspended.mean, 0.0);
    assert!((r.totals.paid.mean - 1_000_000.0).abs() < 1e-6);
}

#[test]
fn recoveries_come_back_a_year_after_payment() {
    // Outstanding-principal basis: a claim of 0.5 x 1,000,000 per loan, 5
    // million a year. Year 1 pays 5 of the 6 million; year 2 receives
    // 5 x 0.4 = 2 million back, has 3 to pay 5 (depleted, 60% paid); year 3
    // receives 3 x 0.4 = 1.2 million.
    let r = certain(
        "basis = \"outstanding_principal\"\nrecoveries_return_to_pool = true\nrecovery_lag_years = 1",
        "",
    );
    assert_eq!(r.ledger_years, 3);
    let rec: Vec<f64> = r.by_year.iter().map(|y| y.recoveries.mean).collect();
    let paid: Vec<f64> = r.by_year.iter().map(|y| y.paid.mean).collect();
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    assert!(close(&rec, &[0.0, 2_000_000.0, 1_200_000.0]), "{rec:?}");
    assert!(close(&paid, &[5_000_000.0, 3_000_000.0, 0.0]), "{paid:?}");
    assert!((r.totals.final_balance.mean - 1_200_000.0).abs() < 1e-6);
    assert_eq!(r.depletion.first_year[1].probability.estimate, 1.0);
    assert!((r.totals.recoveries.mean - 3_200_000.0).abs() < 1e-6);
}

#[test]
fn recoveries_average_out_over_two_years() {
    // With a pool too large to run dry, recoveries return (1 - LGD) of every
    // claim paid, so E[recoveries] = E[claims] x 0.4 and the final balance is
    // the initial balance less claims plus recoveries.
    let text = r#"
[scenario]
name = "recoveries"
horizon_years = 2
[pool]
initial_balance = 1e10
[compensation]
basis = "outstanding_principal"
pool_share = 0.5
recoveries_return_to_pool = true
[dependence]
correlation = 0.15
[[segment]]
name = "all"
loans = 400
exposure = { lognormal = { median = 2e6, sigma = 0.5 } }
pd = 0.03
lgd = 0.6
"#;
    let r = run_text(text, 100_000, 33, None);
    let c = &r.totals.claims;
    assert_within(
        "claims",
        c.mean,
        r.portfolio.expected_claims,
        c.std_error.unwrap(),
        4.0,
    );
    let rec = &r.totals.recoveries;
    assert_within(
        "recoveries",
        rec.mean,
        0.4 * r.portfolio.expected_claims,
        rec.std_error.unwrap(),
        4.0,
    );
    let fb = r.totals.final_balance.mean;
    assert!((fb - (1e10 - r.totals.paid.mean + rec.mean)).abs() < 1e-3);
}

#[test]
fn the_insurer_pays_up_to_its_premiums_and_the_pool_the_rest() {
    // 300 loans of 1,000,000, LGD 0.5: a default loses 10 units of 50,000.
    // Pool 20% (2 units), insurer 60% (6 units) within a budget of
    // 0.01 x 300 million x 0.85 = 2.55 million (51 units), guarantor 10%
    // (1 unit), bank the rest.
    let (paths, unit, pd, rho) = (200_000u64, 50_000.0, 0.03, 0.15);
    let text = |covers: bool| {
        format!(
            r#"
[scenario]
name = "insurer"
horizon_years = 1
[pool]
initial_balance = {pool}
[compensation]
pool_share = 0.2
[insurer]
share = 0.6
premium_rate = 0.01
cost_ratio = 0.15
pool_covers_insurer_excess = {covers}
[guarantor]
share = 0.1
[dependence]
correlation = {rho}
[[segment]]
name = "all"
loans = 300
exposure = 1_000_000
pd = {pd}
lgd = 0.5
"#,
            pool = 60.5 * unit
        )
    };
    let counts = exact::gaussian_counts(300, pd, rho);
    let claims_units = |k: usize| 2 * k + (6 * k).saturating_sub(51);
    let claims = {
        let mut d = vec![0.0; 8 * 300 + 1];
        for (k, p) in counts.iter().enumerate() {
            d[claims_units(k)] += p;
        }
        d
    };
    let r = run_text(&text(true), paths, 34, None);
    check_mean("claims", r.totals.claims.mean, &counts, paths, |k| {
        claims_units(k) as f64 * unit
    });
    for (x, a) in [
        (r.totals.claims.quantiles.p95, 0.95),
        (r.totals.claims.quantiles.p99, 0.99),
    ] {
        assert_quantile("claims with insurer excess", &claims, unit, x, a, paths);
    }
    check_prob(
        "depletion",
        r.depletion.probability.estimate,
        tail(&claims, 60),
        paths,
    );
    let insurer = r.parties.insurer.as_ref().unwrap();
    check_mean("insurer", insurer.mean, &counts, paths, |k| {
        (6 * k).min(51) as f64 * unit
    });
    let guarantor = r.parties.guarantor.as_ref().unwrap();
    check_mean("guarantor", guarantor.mean, &counts, paths, |k| {
        k as f64 * unit
    });
    // The bank bears its 10% and the pool's shortfall.
    let bank_expected = r.totals.loss.mean - r.totals.paid.mean - insurer.mean - guarantor.mean;
    assert!((r.parties.bank.mean - bank_expected).abs() < 1e-6 * bank_expected.abs().max(1.0));

    // Without the pool covering it, the excess stays with the bank.
    let r = run_text(&text(false), paths, 34, None);
    check_mean(
        "claims without excess",
        r.totals.claims.mean,
        &counts,
        paths,
        |k| 2.0 * k as f64 * unit,
    );
    check_mean(
        "bank with excess",
        r.parties.bank.mean,
        &counts,
        paths,
        |k| {
            let c = 2 * k;
            let paid = (c as f64).min(60.5);
            (10 * k) as f64 * unit - paid * unit - (6 * k).min(51) as f64 * unit - k as f64 * unit
        },
    );
}

#[test]
fn tiers_and_bonuses_give_the_closed_form_mean() {
    // Shares worked out by hand from the Guangzhou 2025 rules: 40% up to 5
    // million, 30% up to 15, 20% up to 30, +15 points key list, +5 policy
    // tool, at most 50%.
    let text = r#"
[scenario]
name = "tiers"
horizon_years = 2
[pool]
initial_balance = 1e10
[compensation]
first_loan_bonus = 0.05
key_list_bonus = 0.15
policy_tool_bonus = 0.05
max_pool_share = 0.5
[[compensation.tier]]
up_to = 5_000_000
pool_share = 0.4
[[compensation.tier]]
up_to = 15_000_000
pool_share = 0.3
[[compensation.tier]]
up_to = 30_000_000
pool_share = 0.2
[dependence]
correlation = 0.1
[[segment]]
name = "small"
loans = 100
exposure = 4_000_000
pd = 0.03
lgd = 0.6
key_list_fraction = 0.3
[[segment]]
name = "medium"
loans = 50
exposure = 10_000_000
pd = 0.02
lgd = 0.6
policy_tool_fraction = 0.2
first_loan_fraction = 0.1
[[segment]]
name = "large"
loans = 20
exposure = 25_000_000
pd = 0.015
lgd = 0.6
key_list_fraction = 0.5
[[segment]]
name = "too large"
loans = 5
exposure = 40_000_000
pd = 0.02
lgd = 0.6
"#;
    // small: 30 loans at min(0.55, 0.5) = 0.5, 70 at 0.4.
    let small = 2.0 * 0.03 * 4e6 * 0.6 * (30.0 * 0.5 + 70.0 * 0.4);
    // medium: flags drawn independently; bonuses add, so the mean share is
    // 0.3 + 0.2 x 0.05 + 0.1 x 0.05 (no loan can exceed 0.5).
    let medium = 2.0 * 0.02 * 10e6 * 0.6 * 50.0 * (0.3 + 0.2 * 0.05 + 0.1 * 0.05);
    // large: 10 at 0.35, 10 at 0.2. Too large: share 0.
    let large = 2.0 * 0.015 * 25e6 * 0.6 * (10.0 * 0.35 + 10.0 * 0.2);
    let want = small + medium + large;
    let r = run_text(text, 100_000, 35, None);
    let c = &r.totals.claims;
    assert_within("tiered claims", c.mean, want, c.std_error.unwrap(), 4.0);
    assert!(
        (r.portfolio.expected_claims - want).abs() < 1e-6 * want,
        "closed form {}",
        r.portfolio.expected_claims
    );
    assert_eq!(r.by_segment[3].claims.mean, 0.0);
    let model = model_of(text);
    assert!(
        model
            .warnings
            .iter()
            .any(|w| w.contains("5 loan(s) exceed the last tier")),
        "{:?}",
        model.warnings
    );
}

#[test]
fn es_contributions_add_up_and_match_the_exact_tail() {
    // Two segments of equal loans (claims of 2 and 3 units): totals tie a
    // lot, so the 99% boundary falls inside a tie.
    let (paths, unit) = (200_000u64, 250_000.0);
    let text = r#"
[scenario]
name = "contributions"
horizon_years = 1
[pool]
initial_balance = 1e9
[compensation]
pool_share = 0.5
[dependence]
correlation = 0.12
[[segment]]
name = "A"
loans = 100
exposure = 2_000_000
pd = 0.03
lgd = 0.5
bank = "X"
[[segment]]
name = "B"
loans = 80
exposure = 3_000_000
pd = 0.015
lgd = 0.5
bank = "Y"
"#;
    let r = run_text(text, paths, 36, None);
    let joint = exact::joint_counts(
        100,
        80,
        |z| exact::gaussian_pd(0.03, 0.12, z),
        |z| exact::gaussian_pd(0.015, 0.12, z),
    );
    // Exact ES99 and contributions: sort outcomes by total, take the top 1%
    // with the boundary total counted fractionally.
    let mut outcomes: Vec<(usize, usize, f64)> = joint
        .iter()
        .enumerate()
        .map(|(idx, &p)| (idx / 81, idx % 81, p))
        .collect();
    outcomes.sort_by_key(|&(i, j, _)| std::cmp::Reverse(2 * i + 3 * j));
    let (mut need, mut ca, mut cb) = (0.01, 0.0, 0.0);
    let mut idx = 0;
    while need > 0.0 && idx < outcomes.len() {
        let t = 2 * outcomes[idx].0 + 3 * outcomes[idx].1;
        let same: Vec<_> = outcomes[idx..]
            .iter()
            .take_while(|o| 2 * o.0 + 3 * o.1 == t)
            .copied()
            .collect();
        let mass: f64 = same.iter().map(|o| o.2).sum();
        let f = if mass > need { need / mass } else { 1.0 };
        for (i, j, p) in &same {
            ca += f * p * 2.0 * *i as f64 * unit;
            cb += f * p * 3.0 * *j as f64 * unit;
        }
        need -= f * mass;
        idx += same.len();
    }
    let (ca, cb) = (ca / 0.01, cb / 0.01);
    let es = r.totals.claims.expected_shortfall.p99;
    let seg: Vec<f64> = r
        .by_segment
        .iter()
        .map(|s| s.claims_es99_contribution.unwrap())
        .collect();
    let bank: Vec<f64> = r
        .by_bank
        .iter()
        .map(|b| b.claims_es99_contribution.unwrap())
        .collect();
    assert!(
        (seg.iter().sum::<f64>() - es).abs() < 1e-9 * es,
        "{seg:?} vs {es}"
    );
    assert!(
        (bank.iter().sum::<f64>() - es).abs() < 1e-9 * es,
        "{bank:?} vs {es}"
    );
    let tol = 5.0 * r.totals.claims.std_dev / (paths as f64 * 0.01).sqrt();
    assert!(
        (es - (ca + cb)).abs() < tol,
        "ES99 {es} vs exact {}",
        ca + cb
    );
    assert!((seg[0] - ca).abs() < tol, "A: {} vs exact {ca}", seg[0]);
    assert!((seg[1] - cb).abs() < tol, "B: {} vs exact {cb}", seg[1]);
    assert_eq!(seg, bank, "one bank per segment: the same split");
}

#[test]
fn contributions_add_up_for_the_shipped_scenario() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/guangzhou-2017.toml"
    ))
    .unwrap();
    let r = run_text(&text, 20_000, 37, None);
    let es = r.totals.claims.expected_shortfall.p99;
    let sum: f64 = r
        .by_segment
        .iter()
        .map(|s| s.claims_es99_contribution.unwrap())
        .sum();
    assert!((sum - es).abs() < 1e-9 * es, "{sum} vs {es}");
    assert!(
        r.by_segment
            .iter()
            .all(|s| s.claims_es99_contribution.unwrap() > 0.0)
    );
}

fn stressed(text: &str, stress: &str, paths: u64, seed: u64) -> RunResult {
    let sc = riskpool::scenario::parse(text, "test.toml", std::path::Path::new("."), &[])
        .unwrap()
        .with_stress(stress)
        .unwrap();
    let model = riskpool::model::Model::build(&sc).unwrap();
    let opts = riskpool::engine::RunOptions {
        paths,
        seed,
        threads: None,
        batches: None,
    };
    riskpool::run(&model, &opts, &riskpool::engine::NoProgress).unwrap()
}

#[test]
fn stresses_pin_the_factor_and_scale_pds_exactly() {
    let (n, pd, rho, paths, unit) = (400, 0.02, 0.15, 100_000u64, 300_000.0);
    let text = format!(
        r#"
[scenario]
name = "stress"
horizon_years = 1
[pool]
initial_balance = 1e12
[compensation]
pool_share = 0.5
[dependence]
correlation = {rho}
[[segment]]
name = "A"
sector = "a"
loans = {n}
exposure = 1_000_000
pd = {pd}
lgd = 0.6
[[segment]]
name = "B"
sector = "b"
loans = {n}
exposure = 1_000_000
pd = {pd}
lgd = 0.6
[[stress]]
name = "pinned"
global_factor = {{ year = 1, quantile = 0.01 }}
[[stress]]
name = "doubled"
pd_multiplier = 2.0
[[stress]]
name = "only-a"
sectors = ["a"]
pd_multiplier = 3.0
correlation = 0.3
"#
    );
    // Pinned at the 1% quantile, the year's defaults are Binomial(800, p(z)).
    let r = stressed(&text, "pinned", paths, 38);
    let z = exact::phi_inv(0.01);
    let pmf = exact::binomial_pmf(2 * n, exact::gaussian_pd(pd, rho, z));
    check_mean("pinned claims", r.totals.claims.mean, &pmf, paths, |k| {
        k as f64 * unit
    });
    for (x, a) in [
        (r.totals.claims.quantiles.p50, 0.5),
        (r.totals.claims.quantiles.p99, 0.99),
    ] {
        assert_quantile("pinned claims", &pmf, unit, x, a, paths);
    }
    // Doubling every PD is the same portfolio with PD 4%.
    let r = stressed(&text, "doubled", paths, 39);
    let pmf = exact::gaussian_counts(2 * n, 2.0 * pd, rho);
    check_mean("doubled claims", r.totals.claims.mean, &pmf, paths, |k| {
        k as f64 * unit
    });
    assert_quantile(
        "doubled claims",
        &pmf,
        unit,
        r.totals.claims.quantiles.p99,
        0.99,
        paths,
    );
    // A sector stress moves that sector only.
    let r = stressed(&text, "only-a", paths, 40);
    let a = exact::gaussian_counts(n, 3.0 * pd, 0.3);
    let b = exact::gaussian_counts(n, pd, rho);
    check_mean(
        "stressed sector",
        r.by_segment[0].claims.mean,
        &a,
        paths,
        |k| k as f64 * unit,
    );
    check_mean(
        "other sector",
        r.by_segment[1].claims.mean,
        &b,
        paths,
        |k| k as f64 * unit,
    );
    assert_quantile(
        "stressed sector",
        &a,
        unit,
        r.by_segment[0].claims.quantiles.p99,
        0.99,
        paths,
    );
}

#[test]
fn stresses_share_random_numbers_and_change_the_hash() {
    // Plain sampling: under importance sampling each stress gets the
    // sampling distribution that suits it.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/guangzhou-2017.toml"
    ))
    .unwrap()
    .replace("[simulation]", "[simulation]\nmethod = \"plain\"");
    let base = stressed(&text, "base", 5_000, 41);
    let plain = run_text(&text, 5_000, 41, None);
    assert_eq!(base.totals, plain.totals, "the base stress changes nothing");
    assert_ne!(base.scenario.sha256, plain.scenario.sha256);
    let shock = stressed(&text, "biomedicine-shock", 5_000, 41);
    assert!(shock.by_segment[3].claims.mean > 2.0 * plain.by_segment[3].claims.mean);
    // The factors are drawn the same way under every stress, so a stress
    // that only pins year 2 leaves year 1 exactly as it was.
    let pinned = stressed(&text, "recession-year-2", 5_000, 41);
    assert_eq!(pinned.by_year[0].claims, plain.by_year[0].claims);
    assert!(pinned.by_year[1].claims.mean > 1.5 * plain.by_year[1].claims.mean);
}
