//! The benchmark workload plan-2017 (issue 4): the shipped tape is the
//! portfolio the issue describes, and the engine's 3-year claims match the
//! closed form computed here straight from the tape: their mean, and their
//! variance through the pairwise joint default probabilities of the
//! one-factor Gaussian copula (so the reported standard error is checked
//! too).

use crate::exact::{normal_rule, phi_cdf, phi_inv};
use crate::{assert_error_right, assert_within, run_text};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");

struct Loan {
    exposure: f64,
    pd: f64,
    lgd: f64,
    sector: String,
}

fn tape() -> Vec<Loan> {
    let text = std::fs::read_to_string(format!("{DIR}/tapes/bench-plan-2017.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (e, p, l, s) = (col("exposure"), col("pd"), col("lgd"), col("sector"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Loan {
                exposure: f[e].parse().unwrap(),
                pd: f[p].parse().unwrap(),
                lgd: f[l].parse().unwrap(),
                sector: f[s].to_string(),
            }
        })
        .collect()
}

/// The claim of a defaulted loan: min(0.5 x loss, 5 million yuan).
fn claim(l: &Loan) -> f64 {
    (0.5 * l.lgd * l.exposure).min(5e6)
}

#[test]
fn the_benchmark_tape_is_the_portfolio_the_issue_describes() {
    let loans = tape();
    assert_eq!(loans.len(), 2_000);
    let total: f64 = loans.iter().map(|l| l.exposure).sum();
    assert_eq!(total, 1e10, "exactly 10 billion yuan");
    for (sector, pd) in [
        ("fintech", 0.020),
        ("next-generation-it", 0.025),
        ("ai", 0.030),
        ("biomedicine", 0.040),
    ] {
        let of: Vec<&Loan> = loans.iter().filter(|l| l.sector == sector).collect();
        assert_eq!(of.len(), 500, "{sector}");
        assert!(of.iter().all(|l| l.pd == pd && l.lgd == 0.6), "{sector}");
    }
    // Lognormal sizes with median about 4 million yuan (scaled to the total).
    let mut sizes: Vec<f64> = loans.iter().map(|l| l.exposure).collect();
    sizes.sort_by(f64::total_cmp);
    let median = 0.5 * (sizes[999] + sizes[1000]);
    assert!((3.4e6..4.6e6).contains(&median), "median {median}");
}

#[test]
fn plan_2017_claims_match_the_closed_form_mean_and_variance() {
    let loans = tape();
    let rho: f64 = 0.15;
    let years = 3.0;
    // Mean: every loan is renewed yearly and defaults with its PD each year.
    let mean_year: f64 = loans.iter().map(|l| l.pd * claim(l)).sum();
    // Variance of one year: by PD class, the sum of claims C and of squared
    // claims S; Cov(D_i, D_j) = P(both) - p_i p_j with P(both) by dense
    // quadrature over the factor.
    let pds = [0.020, 0.025, 0.030, 0.040];
    let class = |pd: f64| pds.iter().position(|&p| p == pd).unwrap();
    let mut c = [0.0f64; 4];
    let mut s = [0.0f64; 4];
    for l in &loans {
        let k = class(l.pd);
        c[k] += claim(l);
        s[k] += claim(l) * claim(l);
    }
    let rule = normal_rule(20_001);
    let conditional =
        |pd: f64, z: f64| phi_cdf((phi_inv(pd) - rho.sqrt() * z) / (1.0 - rho).sqrt());
    let mut var_year = 0.0;
    for g in 0..4 {
        var_year += s[g] * pds[g] * (1.0 - pds[g]);
        for h in 0..4 {
            let both: f64 = rule
                .x
                .iter()
                .zip(&rule.w)
                .map(|(&z, &w)| w * conditional(pds[g], z) * conditional(pds[h], z))
                .sum();
            let pairs = c[g] * c[h] - if g == h { s[g] } else { 0.0 };
            var_year += pairs * (both - pds[g] * pds[h]);
        }
    }
    let mean = years * mean_year;
    let sd = (years * var_year).sqrt();

    let text = std::fs::read_to_string(format!("{DIR}/bench-plan-2017.toml"))
        .unwrap()
        .replace("tapes/", &format!("{DIR}/tapes/"));
    let paths = 200_000;
    let r = run_text(&text, paths, 4, None);
    assert!(
        (r.portfolio.expected_claims / mean - 1.0).abs() < 1e-12,
        "analytic expected claims {} vs closed form {mean}",
        r.portfolio.expected_claims
    );
    let claims = &r.totals.claims;
    let se = sd / (paths as f64).sqrt();
    assert_within("3-year claims", claims.mean, mean, se, 4.0);
    assert_error_right("3-year claims", claims.std_error, se, 0.05);
}
