//! Numerical edges: extreme PDs and correlations, one loan and a million,
//! huge exposures, an empty pool, a 30-year horizon, one path. Each gives a
//! correct result or a clean error, and no result holds a NaN or infinity.

use crate::{assert_finite, assert_within, run_text};

fn scenario(extra_pool: &str, dependence: &str, segment: &str, horizon: u32) -> String {
    format!(
        r#"
[scenario]
name = "edge"
horizon_years = {horizon}
[simulation]
method = "plain"
[pool]
initial_balance = 1e9
{extra_pool}
[compensation]
pool_share = 0.5
[dependence]
{dependence}
[[segment]]
name = "s"
{segment}
"#
    )
}

fn segment(loans: u64, exposure: f64, pd: f64) -> String {
    format!("loans = {loans}\nexposure = {exposure:e}\npd = {pd:e}\nlgd = 0.6\n")
}

#[test]
fn extreme_pds_give_the_closed_form_mean() {
    for pd in [1e-9, 1e-6, 0.5, 0.999] {
        let text = scenario("", "correlation = 0.2", &segment(1000, 1e6, pd), 1);
        let r = run_text(&text, 20_000, 1, None);
        assert_finite(&r);
        let exact = 1000.0 * pd * 0.5 * 0.6 * 1e6;
        let c = &r.totals.claims;
        if c.mean == 0.0 {
            // No default in any path: likely only when few are expected.
            assert!(20_000.0 * 1000.0 * pd < 3.0, "no default at pd {pd}");
        } else {
            assert_within(
                &format!("claims at pd {pd}"),
                c.mean,
                exact,
                c.std_error.unwrap(),
                5.0,
            );
        }
        assert!((r.portfolio.expected_claims - exact).abs() <= 1e-9 * exact);
    }
}

#[test]
fn correlation_zero_and_nearly_one() {
    // Independent loans: the count is Binomial(1000, 0.02), sd sqrt(19.6).
    let r = run_text(
        &scenario("", "correlation = 0", &segment(1000, 1e6, 0.02), 1),
        50_000,
        2,
        None,
    );
    assert_finite(&r);
    let unit = 0.5 * 0.6 * 1e6;
    let sd = (1000.0f64 * 0.02 * 0.98).sqrt() * unit;
    assert!(
        (r.totals.claims.std_dev / sd - 1.0).abs() < 0.03,
        "{}",
        r.totals.claims.std_dev
    );
    // Correlation 0.999: almost all or nothing, the mean unchanged.
    let r = run_text(
        &scenario("", "correlation = 0.999", &segment(1000, 1e6, 0.02), 1),
        50_000,
        3,
        None,
    );
    assert_finite(&r);
    let mean = 1000.0 * 0.02 * unit;
    assert_within(
        "mean at rho 0.999",
        r.totals.claims.mean,
        mean,
        r.totals.claims.std_error.unwrap(),
        5.0,
    );
    // The claims are all-or-nothing: the median is 0 and the 99% quantile
    // is every loan.
    assert_eq!(r.totals.claims.quantiles.p50, 0.0);
    let all = 1000.0 * unit;
    assert!((r.totals.claims.quantiles.p99 / all - 1.0).abs() < 0.002);
}

#[test]
fn one_loan_and_a_million_loans() {
    let r = run_text(
        &scenario("", "correlation = 0.1", &segment(1, 5e6, 0.1), 1),
        20_000,
        4,
        None,
    );
    assert_finite(&r);
    // One loan: the pool pays 1.5 million with probability 0.1.
    assert_within(
        "one loan",
        r.totals.claims.mean,
        0.1 * 1.5e6,
        r.totals.claims.std_error.unwrap(),
        5.0,
    );
    let r = run_text(
        &scenario("", "correlation = 0.1", &segment(1_000_000, 1e5, 0.02), 1),
        2_048,
        5,
        None,
    );
    assert_finite(&r);
    assert_eq!(r.portfolio.loans, 1_000_000);
    let mean = 1e6 * 0.02 * 0.5 * 0.6 * 1e5;
    assert_within(
        "a million loans",
        r.totals.claims.mean,
        mean,
        r.totals.claims.std_error.unwrap(),
        5.0,
    );
}

#[test]
fn huge_exposures_an_empty_pool_and_a_long_horizon() {
    // 1,000 loans of 1e12 yuan: 1e15 in all.
    let r = run_text(
        &scenario("", "correlation = 0.1", &segment(1000, 1e12, 0.02), 1),
        10_000,
        6,
        None,
    );
    assert_finite(&r);
    assert!(
        r.depletion.probability.estimate > 0.99,
        "a 1e9 pool behind 1e15 of loans"
    );
    // An empty pool: no leverage, and it is dry whenever anything defaults.
    let text = scenario("", "correlation = 0.1", &segment(100, 1e6, 0.02), 1)
        .replace("initial_balance = 1e9", "initial_balance = 0");
    let r = run_text(&text, 20_000, 7, None);
    assert_finite(&r);
    assert_eq!(r.leverage, None);
    assert_eq!(r.totals.paid.mean, 0.0);
    let p_any = 1.0 - r.depletion.probability.estimate;
    assert!(
        p_any < 0.5 && p_any > 0.0,
        "no default at all in {p_any} of the paths"
    );
    // 30 years with top-ups and interest, loans that run off.
    let text = scenario(
        "annual_top_up = 1e8\ninterest_rate = 0.03\nclaim_lag_years = 1",
        "correlation = 0.2\nfactor_persistence = 0.5",
        &format!(
            "{}renew = false\nterm_years = 10\n",
            segment(500, 2e6, 0.03)
        ),
        30,
    );
    let r = run_text(&text, 5_000, 8, None);
    assert_finite(&r);
    assert_eq!(r.by_year.len(), 31);
    // Loans of 10 years are gone after year 10.
    assert_eq!(r.by_year[12].claims.mean, 0.0);
}

#[test]
fn one_path_has_no_standard_errors_and_no_nan() {
    let r = run_text(
        &scenario("", "correlation = 0.1", &segment(100, 1e6, 0.02), 3),
        1,
        9,
        None,
    );
    assert_finite(&r);
    assert_eq!(r.paths, 1);
    assert_eq!(r.totals.claims.std_error, None);
    assert_eq!(r.depletion.probability.std_error, None);
    assert_eq!(r.totals.claims.std_dev, 0.0);
    // Under importance sampling too.
    let text = scenario("", "correlation = 0.1", &segment(100, 1e6, 0.02), 3)
        .replace("method = \"plain\"", "method = \"importance\"");
    let r = run_text(&text, 1, 9, None);
    assert_finite(&r);
}

#[test]
fn the_t_copula_at_its_edges() {
    for (nu, pd) in [(2.01, 0.02), (1e6, 0.02), (4.0, 1e-9), (4.0, 0.999)] {
        let text = scenario(
            "",
            &format!("correlation = 0.3\ncopula = \"t\"\ndegrees_of_freedom = {nu}"),
            &segment(500, 1e6, pd),
            2,
        );
        let r = run_text(&text, 5_000, 10, None);
        assert_finite(&r);
        let exact = 2.0 * 500.0 * pd * 0.5 * 0.6 * 1e6;
        let c = &r.totals.claims;
        if c.mean == 0.0 {
            assert!(5_000.0 * 1000.0 * pd < 3.0, "no default at pd {pd}");
        } else {
            assert_within(
                &format!("t nu {nu} pd {pd}"),
                c.mean,
                exact,
                c.std_error.unwrap(),
                5.0,
            );
        }
    }
}
