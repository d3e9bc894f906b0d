//! Importance sampling: rare depletion probabilities and tail quantiles
//! against the exact binomial mixture, honest errors (interval coverage over
//! many seeds), and the variance reduction on plan-2017.

use std::sync::OnceLock;

use riskpool::engine::outcome::slot;
use riskpool::engine::{self, NoProgress, RunOptions, importance};
use riskpool::stats::ONE;

use crate::exact::{self, gaussian_counts};
use crate::{assert_within, model_of, run_text};

/// Claims per default: 0.5 x 0.6 x 5,000,000 yuan.
const UNIT: f64 = 1_500_000.0;
const LOANS: usize = 2000;

/// P(K = k) for the issue's portfolio: 2,000 loans, PD 2%, correlation 0.15.
fn pmf() -> &'static [f64] {
    static PMF: OnceLock<Vec<f64>> = OnceLock::new();
    PMF.get_or_init(|| gaussian_counts(LOANS, 0.02, 0.15))
}

/// P(K >= k).
fn tail(k: usize) -> f64 {
    pmf()[k..].iter().sum()
}

/// The smallest k with P(K >= k) <= p.
fn threshold(p: f64) -> usize {
    (0..=LOANS).find(|&k| tail(k) <= p).unwrap()
}

/// One year, the issue's portfolio; the pool holds `k - 0.5` claims, so it
/// runs dry exactly when `k` or more loans default.
fn scenario(k: usize, method: &str, loans: usize) -> String {
    let pool = (k as f64 - 0.5) * UNIT;
    format!(
        r#"
[scenario]
name = "rare depletion"
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
loans = {loans}
exposure = 5_000_000
pd = 0.02
lgd = 0.6
"#
    )
}

#[test]
fn the_issues_one_year_case_to_five_percent_with_200000_paths() {
    // Pool 999,750,000 yuan: dry when 667 or more of the 2,000 loans default.
    let k = 667;
    assert_eq!((k as f64 - 0.5) * UNIT, 999_750_000.0);
    let exact = tail(k);
    assert!(exact > 3e-6 && exact < 3e-5, "about 1e-5: {exact}");
    let r = run_text(&scenario(k, "auto", LOANS), 200_000, 5, None);
    assert_eq!(r.method, "importance", "auto picks importance sampling");
    let p = &r.depletion.probability;
    let se = p.std_error.unwrap();
    assert!(
        se / p.estimate <= 0.05,
        "relative error {}",
        se / p.estimate
    );
    assert_within("depletion, 1 year", p.estimate, exact, se, 4.0);
    assert!(p.ci95[0] <= exact && exact <= p.ci95[1] * 1.05);
    let is = r.importance.as_ref().unwrap();
    eprintln!(
        "one year: exact {exact:e}, estimate {:e}, relative error {:.4}, reduction {:?}, ess {:.0}",
        p.estimate,
        se / p.estimate,
        is.variance_reduction,
        is.effective_sample_size
    );
    // Plain sampling would need variance_reduction times the paths.
    let reduction = is.variance_reduction.unwrap();
    assert!(reduction > 5_000.0, "variance reduction {reduction}");
    // The reported reduction is right: plain variance over reported variance.
    let right = exact * (1.0 - exact) / (200_000.0 * se * se);
    assert!((reduction / right - 1.0).abs() < 0.3);
    assert!(is.effective_sample_size > 10_000.0);
    // The means stay right under the weights (closed form: 2% of the loans).
    let mean_claims = 0.02 * LOANS as f64 * UNIT;
    let c = &r.totals.claims;
    assert_within(
        "mean claims",
        c.mean,
        mean_claims,
        c.std_error.unwrap(),
        4.0,
    );
}

/// Depletion probabilities from 1e-4 to 1e-7 and the claims quantile at the
/// same level, each within a few reported standard errors of the exact
/// answer; the quantile's exact tail probability within a few relative
/// errors of its level.
#[test]
fn rare_depletion_and_tail_quantiles_match_the_mixture() {
    for target in [1e-4, 1e-5, 1e-6, 1e-7] {
        let k = threshold(target);
        let exact = tail(k);
        let model = model_of(&scenario(k, "importance", LOANS));
        let opts = RunOptions {
            paths: 100_000,
            seed: 17,
            threads: None,
            batches: None,
        };
        let r = riskpool::run(&model, &opts, &NoProgress).unwrap();
        let p = &r.depletion.probability;
        let se = p.std_error.unwrap();
        assert!(
            se / p.estimate < 0.1,
            "{target}: relative error {}",
            se / p.estimate
        );
        assert_within(
            &format!("depletion near {target}"),
            p.estimate,
            exact,
            se,
            4.0,
        );

        // The claims quantile at level 1 - exact: the tail beyond it has
        // probability `exact` up to the estimate's error.
        let plan = importance::plan(&model, opts.seed, None).unwrap();
        let acc =
            engine::simulate_shifted(&model, &opts, Some(&plan.mixture), &NoProgress).unwrap();
        let sketch = acc.stat(acc.layout.total(slot::CLAIMS)).sketch();
        let den: u128 = 1_000_000_000_000;
        let num = den - (exact * den as f64).round() as u128;
        let total = u128::from(opts.paths) * ONE;
        let x = sketch.quantile(num, den, total).unwrap();
        let (below, at) = exact::cdf_band(pmf(), UNIT, x);
        let rel = 5.0 * se / p.estimate;
        eprintln!(
            "{target}: k {k}, exact {exact:e}, estimate {:e} (rel. error {:.4}), quantile {x} tail [{:e}, {:e}]",
            p.estimate,
            se / p.estimate,
            1.0 - at,
            1.0 - below
        );
        assert!(
            1.0 - at <= exact * (1.0 + rel) && 1.0 - below >= exact * (1.0 - rel),
            "{target}: quantile {x} has exact tail [{}, {}], level {exact}",
            1.0 - at,
            1.0 - below
        );
    }
}

/// Honest errors: over 200 seeds the 95% intervals of a rare depletion
/// probability cover the exact answer between 91% and 98% of the time.
#[test]
fn intervals_cover_the_exact_answer_over_200_seeds() {
    // A 400-loan portfolio keeps each run cheap.
    let loans = 400;
    let pmf = gaussian_counts(loans, 0.02, 0.15);
    let k = (0..=loans)
        .find(|&k| pmf[k..].iter().sum::<f64>() <= 1e-4)
        .unwrap();
    let exact: f64 = pmf[k..].iter().sum();
    let model = model_of(&scenario(k, "importance", loans));
    let mut covered = 0;
    let mut z2 = 0.0;
    let seeds = 200;
    for seed in 0..seeds {
        let opts = RunOptions {
            paths: 4_096,
            seed,
            threads: None,
            batches: None,
        };
        let r = riskpool::run(&model, &opts, &NoProgress).unwrap();
        let p = &r.depletion.probability;
        if p.ci95[0] <= exact && exact <= p.ci95[1] {
            covered += 1;
        }
        let se = p.std_error.unwrap();
        z2 += ((p.estimate - exact) / se).powi(2);
    }
    let coverage = covered as f64 / seeds as f64;
    eprintln!(
        "coverage {covered}/{seeds} of {exact:e}, mean squared z {}",
        z2 / seeds as f64
    );
    assert!(
        (0.91..=0.98).contains(&coverage),
        "95% intervals covered {exact} in {covered} of {seeds} runs"
    );
    // The reported errors are the right size: mean squared z near 1.
    let msz = z2 / seeds as f64;
    assert!((0.7..1.4).contains(&msz), "mean squared z-score {msz}");
}

/// plan-2017 over 3 years: the depletion estimate's variance is at least 20
/// times smaller than plain sampling's at equal paths, measured by repeating
/// the run, and the reported standard error is right.
#[test]
fn plan_2017_variance_is_twenty_times_smaller() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bench-plan-2017.toml"
    ))
    .unwrap()
    .replace("method = \"plain\"", "method = \"importance\"")
    .replace(
        "tapes/",
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/tapes/"),
    );
    let paths = 16_384;
    let runs: Vec<_> = (0..16)
        .map(|seed| run_text(&text, paths, 100 + seed, None))
        .collect();
    let estimates: Vec<f64> = runs
        .iter()
        .map(|r| r.depletion.probability.estimate)
        .collect();
    let n = estimates.len() as f64;
    let mean = estimates.iter().sum::<f64>() / n;
    let var = estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let plain = mean * (1.0 - mean) / paths as f64;
    eprintln!(
        "plan-2017: mean {mean:e}, variance reduction {}",
        plain / var
    );
    assert!(plain / var >= 20.0, "variance reduction {}", plain / var);
    // Reported errors agree with the spread of the estimates (16 runs: the
    // sample variance is within a factor 2 of the truth with high odds).
    let reported: f64 = runs
        .iter()
        .map(|r| r.depletion.probability.std_error.unwrap().powi(2))
        .sum::<f64>()
        / n;
    assert!(
        (0.5..2.0).contains(&(var / reported)),
        "spread {var}, reported {reported}"
    );
    for r in &runs {
        assert!(r.importance.as_ref().unwrap().variance_reduction.unwrap() >= 20.0);
    }
}

/// Two years with a new factor each year: the pool (no top-ups) is dry by
/// the end of year 2 exactly when `K_1 + K_2 >= k`, a convolution of the
/// yearly mixtures.
#[test]
fn two_year_depletion_matches_the_convolution() {
    let loans = 400;
    let year = gaussian_counts(loans, 0.02, 0.15);
    let mut sum = vec![0.0; 2 * loans + 1];
    for (i, a) in year.iter().enumerate() {
        for (j, b) in year.iter().enumerate() {
            sum[i + j] += a * b;
        }
    }
    let k = (0..sum.len())
        .find(|&k| sum[k..].iter().sum::<f64>() <= 1e-5)
        .unwrap();
    let exact_2: f64 = sum[k..].iter().sum();
    let exact_1: f64 = year[k.min(loans + 1)..].iter().sum();
    let text = scenario(k, "importance", loans).replace("horizon_years = 1", "horizon_years = 2");
    let r = run_text(&text, 100_000, 23, None);
    let p = &r.depletion.probability;
    let se = p.std_error.unwrap();
    eprintln!(
        "two years: k {k}, exact {exact_2:e}, estimate {:e}, rel. error {:.4}",
        p.estimate,
        se / p.estimate
    );
    assert!(se / p.estimate < 0.05);
    assert_within("dry by year 2", p.estimate, exact_2, se, 4.0);
    let y1 = &r.depletion.by_year[0].probability;
    assert_within(
        "dry in year 1",
        y1.estimate,
        exact_1,
        y1.std_error.unwrap().max(1e-300),
        4.0,
    );
    // The components cover one bad year and two moderately bad ones.
    assert!(r.importance.as_ref().unwrap().components.len() >= 3);
}

/// The Student-t copula: the global factor is shifted (the mixing variable
/// is not), and the estimate still matches the exact t mixture.
#[test]
fn t_copula_rare_depletion_matches_the_mixture() {
    let loans = 400;
    let nu = 8.0;
    let pmf = exact::t_counts(loans, 0.02, 0.15, nu, 1201, 301);
    let k = (0..=loans)
        .find(|&k| pmf[k..].iter().sum::<f64>() <= 1e-5)
        .unwrap();
    let exact: f64 = pmf[k..].iter().sum();
    let text = scenario(k, "importance", loans).replace(
        "correlation = 0.15",
        &format!("correlation = 0.15\ncopula = \"t\"\ndegrees_of_freedom = {nu}"),
    );
    let r = run_text(&text, 200_000, 29, None);
    let p = &r.depletion.probability;
    let se = p.std_error.unwrap();
    let reduction = r.importance.as_ref().unwrap().variance_reduction.unwrap();
    eprintln!(
        "t copula: k {k}, exact {exact:e}, estimate {:e}, rel. error {:.4}, reduction {reduction:.0}",
        p.estimate,
        se / p.estimate
    );
    assert_within("t copula depletion", p.estimate, exact, se, 4.0);
    assert!(reduction > 10.0, "variance reduction {reduction}");
}
