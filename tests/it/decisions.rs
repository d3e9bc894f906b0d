//! `solve` against the exact answer of a one-year homogeneous portfolio,
//! and `sweep`'s rows and their order.

use riskpool::analysis::solve::solve;
use riskpool::analysis::sweep::{self, Vary};
use riskpool::analysis::{Setting, Subject, Target};
use riskpool::engine::RunOptions;

use crate::exact::gaussian_counts;
use crate::model_of;

/// Claims per default: 0.5 x 0.6 x 1,000,000 yuan.
const UNIT: f64 = 300_000.0;
const LOANS: usize = 1000;

fn homogeneous(pool: f64, method: &str) -> String {
    format!(
        r#"
[scenario]
name = "homogeneous"
horizon_years = 1
[simulation]
method = "{method}"
[pool]
initial_balance = {pool}
[compensation]
pool_share = 0.5
[dependence]
correlation = 0.15
[[segment]]
name = "all"
loans = {LOANS}
exposure = 1_000_000
pd = 0.02
lgd = 0.6
"#
    )
}

/// P(K > k).
fn beyond(pmf: &[f64], k: usize) -> f64 {
    pmf.get(k + 1..).map_or(0.0, |t| t.iter().sum())
}

fn opts(paths: u64) -> RunOptions {
    RunOptions {
        paths,
        seed: 3,
        threads: None,
        batches: None,
    }
}

/// The pool runs dry when `K x UNIT > B`: at the answer `B*` the exact
/// probability of more than `floor(B* / UNIT)` defaults is within Monte
/// Carlo error of the target, and one claim less would miss it.
fn check_pool_answer(target: f64, method: &str, paths: u64) {
    let pmf = gaussian_counts(LOANS, 0.02, 0.15);
    let model_text = homogeneous(1e8, method);
    let sc = model_of(&model_text).scenario;
    let subject = Subject::new(&sc).unwrap();
    let t = Target::parse(&format!("depletion<={target}")).unwrap();
    let answer = solve(
        &subject,
        Setting::InitialBalance,
        &t,
        &opts(paths),
        &|_, _| {},
    )
    .unwrap();
    let se = answer.achieved_std_error.unwrap();
    let k = (answer.value / UNIT).floor() as usize;
    let at = beyond(&pmf, k);
    let below = beyond(&pmf, k - 1);
    eprintln!(
        "{method} target {target}: pool {} ({k} claims), exact {at:e} there, {below:e} one claim less; se {se:e}; interval {:?}; {} candidates",
        answer.value, answer.interval95, answer.evaluations
    );
    assert!(answer.achieved <= target);
    assert!(at <= target + 4.0 * se, "exact {at} at the answer");
    assert!(
        below >= target - 4.0 * se,
        "exact {below} one claim below the answer"
    );
    // The exact answer lies in the interval, up to one claim.
    let exact_k = (0..LOANS).find(|&k| beyond(&pmf, k) <= target).unwrap();
    let exact_pool = exact_k as f64 * UNIT;
    assert!(
        answer.interval95[0] - UNIT <= exact_pool && exact_pool <= answer.interval95[1] + UNIT,
        "exact smallest pool {exact_pool} outside {:?}",
        answer.interval95
    );
    assert_eq!(
        answer.method,
        if target < 0.01 { "importance" } else { "plain" }
    );
}

#[test]
fn smallest_pool_matches_the_exact_answer() {
    check_pool_answer(0.01, "auto", 100_000);
}

#[test]
fn smallest_pool_for_a_rare_target_uses_importance_sampling() {
    check_pool_answer(1e-4, "auto", 100_000);
}

#[test]
fn largest_plan_matches_the_exact_answer() {
    let pmf = gaussian_counts(LOANS, 0.02, 0.15);
    let pool = 40_000_000.0;
    let sc = model_of(&homogeneous(pool, "plain")).scenario;
    let subject = Subject::new(&sc).unwrap();
    let t = Target::parse("depletion<=0.01").unwrap();
    let answer = solve(&subject, Setting::PlanScale, &t, &opts(100_000), &|_, _| {}).unwrap();
    let se = answer.achieved_std_error.unwrap();
    // Dry when K x UNIT x s > pool.
    let k = (pool / (UNIT * answer.value)).floor() as usize;
    let at = beyond(&pmf, k);
    let beyond_it = beyond(&pmf, k - 1);
    assert!(
        at <= 0.01 + 4.0 * se,
        "exact {at} at scale {}",
        answer.value
    );
    assert!(beyond_it >= 0.01 - 4.0 * se);
    let lending = LOANS as f64 * 1e6 * answer.value;
    assert!((answer.lending / lending - 1.0).abs() < 1e-9);
    assert!((answer.leverage.unwrap() - lending / pool).abs() < 1e-6);
    assert!(answer.interval95[0] <= answer.value && answer.value <= answer.interval95[1]);
}

#[test]
fn targets_and_keys_are_checked() {
    for bad in [
        "depletion<0.01",
        "depletion<=x",
        "nonsense<=1",
        "depletion<=2",
        "claims.p42<=1",
    ] {
        assert!(Target::parse(bad).is_err(), "{bad}");
    }
    assert!(Setting::parse("pool.interest_rate").is_err());
    assert!(Target::parse("shortfall.p99<=5e7").is_ok());
    assert!(Target::parse("coverage>=0.95").is_ok());
}

#[test]
fn a_quantile_target_is_met_at_the_answer() {
    let sc = model_of(&homogeneous(1e8, "plain")).scenario;
    let subject = Subject::new(&sc).unwrap();
    // The pool that keeps the 99% quantile of the shortfall at zero is the
    // one that almost never runs dry: the claims' 99% quantile.
    let t = Target::parse("shortfall.p99<=0").unwrap();
    let answer = solve(
        &subject,
        Setting::InitialBalance,
        &t,
        &opts(50_000),
        &|_, _| {},
    )
    .unwrap();
    let pmf = gaussian_counts(LOANS, 0.02, 0.15);
    let k99 = (0..LOANS).find(|&k| beyond(&pmf, k) <= 0.01).unwrap();
    let rel = (answer.value / (k99 as f64 * UNIT) - 1.0).abs();
    assert!(
        rel < 0.05,
        "pool {} vs claims p99 {}",
        answer.value,
        k99 as f64 * UNIT
    );
    assert_eq!(answer.achieved, 0.0);
}

#[test]
fn sweep_rows_come_in_grid_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, homogeneous(4e7, "plain")).unwrap();
    let varies = [
        Vary::parse("pool.initial_balance=3e7,4e7").unwrap(),
        Vary::parse("segment.all.pd=0.01,0.02,0.03").unwrap(),
    ];
    let r = sweep::sweep(&path, &[], None, &varies, &opts(20_000), &|_, _, _| {}).unwrap();
    let got: Vec<Vec<String>> = r.rows.iter().map(|r| r.values.clone()).collect();
    let want: Vec<Vec<String>> = [
        ["3e7", "0.01"],
        ["3e7", "0.02"],
        ["3e7", "0.03"],
        ["4e7", "0.01"],
        ["4e7", "0.02"],
        ["4e7", "0.03"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(got, want);
    // More PD, more depletion; more pool, less (same random numbers).
    for i in 0..2 {
        for j in 0..2 {
            assert!(r.rows[3 * i + j].depletion <= r.rows[3 * i + j + 1].depletion);
        }
    }
    for j in 0..3 {
        assert!(r.rows[3 + j].depletion <= r.rows[j].depletion);
        assert_eq!(r.rows[j].pool_money, 3e7);
    }
    // The mean claims follow the PD: 2% of 1,000 loans x UNIT at pd 0.02.
    assert!((r.rows[1].claims_mean / (20.0 * UNIT) - 1.0).abs() < 0.05);
    let csv = String::from_utf8(sweep::csv(&r).unwrap()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7);
    assert!(lines[0].starts_with("pool.initial_balance,segment.all.pd,depletion,"));
    assert!(lines[1].starts_with("3e7,0.01,"));
    // A bad value stops the sweep before anything runs, naming the key.
    let bad = [Vary::parse("segment.all.pd=0.01,1.5").unwrap()];
    let err = sweep::sweep(&path, &[], None, &bad, &opts(1000), &|_, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("pd"), "{err}");
}
