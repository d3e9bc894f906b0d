//! One test per bug found, named after it.

use std::path::Path;

use crate::{exact, model_of, run_text};

fn parse_err(text: &str) -> String {
    let sc = riskpool::scenario::parse(text, "test.toml", Path::new("."), &[]);
    match sc {
        Err(e) => e.to_string(),
        Ok(sc) => riskpool::model::Model::build(&sc)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "no error".to_string()),
    }
}

const HEAD: &str = "[scenario]\nname = \"r\"\nhorizon_years = 1\n[pool]\ninitial_balance = 1e9\n[compensation]\npool_share = 0.5\n[dependence]\ncorrelation = 0.1\n";

#[test]
fn a_group_mixing_fixed_and_beta_lgds_does_not_panic() {
    // Same PD and correlation: one group, some loans with a Beta LGD.
    let text = format!(
        "{HEAD}[[segment]]\nname = \"fixed\"\nloans = 200\nexposure = 1e6\npd = 0.05\nlgd = 0.5\n\
         [[segment]]\nname = \"beta\"\nloans = 200\nexposure = 1e6\npd = 0.05\nlgd = {{ beta = {{ mean = 0.5, sd = 0.2 }} }}\n"
    );
    let r = run_text(&text, 20_000, 1, None);
    let c = &r.totals.claims;
    crate::assert_within(
        "claims",
        c.mean,
        r.portfolio.expected_claims,
        c.std_error.unwrap(),
        4.0,
    );
}

#[test]
fn a_tiny_pd_with_the_t_copula_is_an_error_not_a_panic() {
    let text = format!(
        "{}[[segment]]\nname = \"a\"\nloans = 10\nexposure = 1e6\npd = 1e-200\nlgd = 0.5\n",
        HEAD.replace(
            "correlation = 0.1",
            "correlation = 0.1\ncopula = \"t\"\ndegrees_of_freedom = 5"
        )
    );
    let e = parse_err(&text);
    assert!(
        e.contains("with the t copula PDs must be at least 1e-15"),
        "{e}"
    );
}

#[test]
fn huge_bank_weights_still_split_every_loan() {
    let text = format!(
        "{HEAD}[[segment]]\nname = \"a\"\nloans = 100\nexposure = 1e6\npd = 0.02\nlgd = 0.5\nbanks = {{ A = 1e308, B = 1e308 }}\n"
    );
    let m = model_of(&text);
    let a = m.portfolio.loans.iter().filter(|l| l.bank == 0).count();
    assert_eq!((a, m.portfolio.loans.len() - a), (50, 50));
}

#[test]
fn a_beta_lgd_with_a_vanishing_sd_is_an_error() {
    let text = format!(
        "{HEAD}[[segment]]\nname = \"a\"\nloans = 10\nexposure = 1e6\npd = 0.02\nlgd = {{ beta = {{ mean = 0.5, sd = 1e-160 }} }}\n"
    );
    let e = parse_err(&text);
    assert!(e.contains("practically fixed: write lgd = 0.5"), "{e}");
}

#[test]
fn a_balance_that_interest_would_grow_past_exact_sums_is_an_error() {
    let text = format!(
        "{}[[segment]]\nname = \"a\"\nloans = 10\nexposure = 1e6\npd = 0.02\nlgd = 0.5\n",
        HEAD.replace("horizon_years = 1", "horizon_years = 100")
            .replace(
                "initial_balance = 1e9",
                "initial_balance = 1e15\nannual_top_up = 1e15\ninterest_rate = 1.0"
            )
    );
    let e = parse_err(&text);
    assert!(
        e.contains("key `pool.interest_rate`") && e.contains("lower the rate or the horizon"),
        "{e}"
    );
}

#[test]
fn suspension_at_exactly_the_line_is_not_suspension() {
    // 100 loans of 0.1: three defaults are a ratio of exactly 3%, which does
    // not exceed the 3% line although 0.1 + 0.1 + 0.1 rounds above 0.3.
    let text = "[scenario]\nname = \"r\"\nhorizon_years = 1\n[pool]\ninitial_balance = 1e9\n\
                [compensation]\npool_share = 0.5\nsuspend_above_npl_ratio = 0.03\n[dependence]\ncorrelation = 0\n\
                [[segment]]\nname = \"a\"\nloans = 100\nexposure = 0.1\npd = 0.03\nlgd = 1\n";
    let paths = 20_000;
    let r = run_text(text, paths, 2, None);
    let pmf = exact::binomial_pmf(100, 0.03);
    let want: f64 = pmf[4..].iter().sum();
    let got = r.by_bank[0].suspended_probability.estimate;
    let se = (want * (1.0 - want) / paths as f64).sqrt();
    crate::assert_within("P(suspended)", got, want, se, 4.0);
}

#[test]
fn a_decimal_claim_equal_to_the_balance_does_not_deplete() {
    let text = "[scenario]\nname = \"r\"\nhorizon_years = 1\n[pool]\ninitial_balance = 0.3\n\
                [compensation]\npool_share = 1\n[dependence]\ncorrelation = 0\n\
                [[segment]]\nname = \"a\"\nloans = 3\nexposure = 0.1\npd = 0.999999999999\nlgd = 1\n";
    let r = run_text(text, 2_000, 3, None);
    assert_eq!(r.depletion.probability.estimate, 0.0);
    assert_eq!(r.totals.shortfall.mean, 0.0);
    assert_eq!(r.coverage.all_claims_paid_probability.estimate, 1.0);
}

#[test]
fn runs_that_differ_in_a_later_year_share_earlier_years_for_loans_that_run_off() {
    let text = format!(
        "{}[[segment]]\nname = \"a\"\nloans = 300\nexposure = {{ lognormal = {{ median = 1e6, sigma = 0.7 }} }}\npd = 0.04\nlgd = 0.5\nrenew = false\nterm_years = 3\n\
         [[stress]]\nname = \"late\"\nglobal_factor = {{ year = 3, quantile = 0.01 }}\n",
        HEAD.replace("horizon_years = 1", "horizon_years = 3")
    );
    let plain = run_text(&text, 5_000, 4, None);
    let sc = riskpool::scenario::parse(&text, "t.toml", Path::new("."), &[])
        .unwrap()
        .with_stress("late")
        .unwrap();
    let m = riskpool::model::Model::build(&sc).unwrap();
    let opts = riskpool::engine::RunOptions {
        paths: 5_000,
        seed: 4,
        threads: None,
        batches: None,
    };
    let late = riskpool::run(&m, &opts, &riskpool::engine::NoProgress).unwrap();
    assert_eq!(plain.by_year[0].claims, late.by_year[0].claims);
    assert_eq!(plain.by_year[1].claims, late.by_year[1].claims);
    assert!(late.by_year[2].claims.mean > plain.by_year[2].claims.mean);
}
