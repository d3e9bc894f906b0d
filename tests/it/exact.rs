//! Exact answers computed another way than by simulation (spec
//! exact-answers.md): binomial mixtures integrated over the factor on a dense
//! grid, convolutions of groups sharing a factor, the Vasicek large-pool
//! limit, and the pool's ledger as a Markov chain over the balance.
//!
//! Deliberately independent of the engine: the normal CDF and the t quantile
//! come from statrs here, not from riskpool::math.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::gamma::ln_gamma;

/// Standard normal CDF.
pub fn phi_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile.
pub fn phi_inv(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

/// A quadrature rule: nodes and weights summing to 1.
pub struct Rule {
    pub x: Vec<f64>,
    pub w: Vec<f64>,
}

/// Trapezoid rule for a standard normal variable on [-9, 9] with `n` nodes,
/// weights phi(z) dz normalised to 1.
pub fn normal_rule(n: usize) -> Rule {
    let h = 18.0 / (n - 1) as f64;
    let x: Vec<f64> = (0..n).map(|i| -9.0 + h * i as f64).collect();
    let mut w: Vec<f64> = x.iter().map(|z| (-0.5 * z * z).exp()).collect();
    w[0] *= 0.5;
    w[n - 1] *= 0.5;
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    Rule { x, w }
}

/// Rule for V ~ chi-squared(nu), equally spaced in log V over the range
/// holding all but 1e-13 of the mass at each end (small V drives the tail).
pub fn chi2_log_rule(nu: f64, n: usize) -> Rule {
    let log_density = |u: f64| {
        // density of U = ln V: f_V(e^u) e^u.
        let v = u.exp();
        (nu / 2.0) * u - v / 2.0 - (nu / 2.0) * std::f64::consts::LN_2 - ln_gamma(nu / 2.0)
    };
    let lo = (1e-9f64).ln() + (nu / 2.0).ln() - 2.0;
    let hi = (nu + 60.0 * (2.0 * nu).sqrt() + 200.0).ln();
    let h = (hi - lo) / (n - 1) as f64;
    let x: Vec<f64> = (0..n).map(|i| lo + h * i as f64).collect();
    let mut w: Vec<f64> = x.iter().map(|&u| log_density(u).exp()).collect();
    w[0] *= 0.5;
    w[n - 1] *= 0.5;
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    Rule {
        x: x.iter().map(|u| u.exp()).collect(),
        w,
    }
}

/// Binomial(n, p) probabilities, computed in logs so extreme p are safe.
pub fn binomial_pmf(n: usize, p: f64) -> Vec<f64> {
    if p <= 0.0 {
        let mut v = vec![0.0; n + 1];
        v[0] = 1.0;
        return v;
    }
    if p >= 1.0 {
        let mut v = vec![0.0; n + 1];
        v[n] = 1.0;
        return v;
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    let lnf = ln_gamma(n as f64 + 1.0);
    (0..=n)
        .map(|k| {
            let kf = k as f64;
            (lnf - ln_gamma(kf + 1.0) - ln_gamma((n - k) as f64 + 1.0)
                + kf * lp
                + (n - k) as f64 * lq)
                .exp()
        })
        .collect()
}

/// Conditional default probability of the one-factor Gaussian model.
pub fn gaussian_pd(pd: f64, rho: f64, z: f64) -> f64 {
    phi_cdf((phi_inv(pd) - rho.sqrt() * z) / (1.0 - rho).sqrt())
}

/// Mixes conditional distributions over a rule: `sum_i w_i f(x_i)`.
pub fn mix(rule: &Rule, len: usize, f: impl Fn(f64) -> Vec<f64>) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for (&x, &w) in rule.x.iter().zip(&rule.w) {
        for (o, v) in out.iter_mut().zip(f(x)) {
            *o += w * v;
        }
    }
    out
}

/// P(K = k) for n loans, one-factor Gaussian copula.
pub fn gaussian_counts(n: usize, pd: f64, rho: f64) -> Vec<f64> {
    let rule = normal_rule(4001);
    mix(&rule, n + 1, |z| binomial_pmf(n, gaussian_pd(pd, rho, z)))
}

/// P(K = k) for n loans, one-factor Student-t copula with `nu` degrees of
/// freedom: default iff sqrt(W) X < t_nu^-1(pd), W = nu / chi2_nu.
pub fn t_counts(n: usize, pd: f64, rho: f64, nu: f64, z_nodes: usize, v_nodes: usize) -> Vec<f64> {
    let c = StudentsT::new(0.0, 1.0, nu).unwrap().inverse_cdf(pd);
    let zr = normal_rule(z_nodes);
    let vr = chi2_log_rule(nu, v_nodes);
    let mut out = vec![0.0; n + 1];
    for (&v, &wv) in vr.x.iter().zip(&vr.w) {
        let scale = (v / nu).sqrt();
        for (&z, &wz) in zr.x.iter().zip(&zr.w) {
            let p = phi_cdf((c * scale - rho.sqrt() * z) / (1.0 - rho).sqrt());
            for (o, q) in out.iter_mut().zip(binomial_pmf(n, p)) {
                *o += wv * wz * q;
            }
        }
    }
    out
}

/// Distribution of `a K_1 + b K_2` (in units) for two groups sharing the
/// global factor: `(n, pd, rho, units per default)` each.
pub fn two_group_units(g1: (usize, f64, f64, usize), g2: (usize, f64, f64, usize)) -> Vec<f64> {
    let rule = normal_rule(2001);
    let len = g1.0 * g1.3 + g2.0 * g2.3 + 1;
    mix(&rule, len, |z| {
        let p1 = binomial_pmf(g1.0, gaussian_pd(g1.1, g1.2, z));
        let p2 = binomial_pmf(g2.0, gaussian_pd(g2.1, g2.2, z));
        let mut out = vec![0.0; len];
        for (k1, &a) in p1.iter().enumerate() {
            if a < 1e-300 {
                continue;
            }
            for (k2, &b) in p2.iter().enumerate() {
                out[k1 * g1.3 + k2 * g2.3] += a * b;
            }
        }
        out
    })
}

/// Vasicek large-pool CDF of the default fraction.
pub fn vasicek_cdf(x: f64, pd: f64, rho: f64) -> f64 {
    phi_cdf(((1.0 - rho).sqrt() * phi_inv(x) - phi_inv(pd)) / rho.sqrt())
}

/// Vasicek large-pool quantile of the default fraction.
pub fn vasicek_quantile(q: f64, pd: f64, rho: f64) -> f64 {
    phi_cdf((phi_inv(pd) + rho.sqrt() * phi_inv(q)) / (1.0 - rho).sqrt())
}

/// Mean and variance of a distribution over `0..len` scaled by `unit`.
pub fn moments(pmf: &[f64], unit: f64) -> (f64, f64) {
    let m: f64 = pmf
        .iter()
        .enumerate()
        .map(|(k, p)| k as f64 * unit * p)
        .sum();
    let m2: f64 = pmf
        .iter()
        .enumerate()
        .map(|(k, p)| (k as f64 * unit).powi(2) * p)
        .sum();
    (m, m2 - m * m)
}

/// CDF at and just below `x` (in money) of a distribution on `unit` multiples.
pub fn cdf_band(pmf: &[f64], unit: f64, x: f64) -> (f64, f64) {
    let mut below = 0.0;
    let mut at = 0.0;
    for (k, p) in pmf.iter().enumerate() {
        let v = k as f64 * unit;
        if v < x - 1e-9 * unit {
            below += p;
        }
        if v <= x + 1e-9 * unit {
            at += p;
        }
    }
    (below, at)
}

/// Expected shortfall at level q (mean of the worst 1 - q, boundary
/// fractional) of a distribution on `unit` multiples.
pub fn expected_shortfall(pmf: &[f64], unit: f64, q: f64) -> f64 {
    let mut need = 1.0 - q;
    let mut sum = 0.0;
    for (k, p) in pmf.iter().enumerate().rev() {
        let take = p.min(need);
        sum += take * k as f64 * unit;
        need -= take;
        if need <= 0.0 {
            break;
        }
    }
    sum / (1.0 - q)
}

/// The pool's rules in units, for [`ledger`]. Balances are tracked in half
/// units, so an initial balance of k + 0.5 units never ties a claim.
pub struct LedgerSpec {
    /// Initial balance in half units.
    pub initial_half: i64,
    /// Top-up at the start of each ledger year, in whole units.
    pub top_ups: Vec<i64>,
    /// Annual budget in whole units.
    pub budget: Option<i64>,
    /// Whether each ledger year has claims due (drawn independently from
    /// the yearly claim distribution).
    pub due: Vec<bool>,
}

/// Exact ledger figures.
#[derive(Debug)]
pub struct LedgerAnswer {
    /// P(depleted by the end of year t), cumulative.
    pub depleted_by: Vec<f64>,
    /// P(first depleted in year t).
    pub first: Vec<f64>,
    /// E[paid] per year, in units.
    pub paid: Vec<f64>,
    /// E[shortfall] per year, in units.
    pub shortfall: Vec<f64>,
    /// E[balance at the end of year t], in units.
    pub balance: Vec<f64>,
    /// P(approved claims due exceed the budget) per year.
    pub budget_exceeded: Vec<f64>,
}

/// Runs the ledger as a Markov chain over (balance, depleted so far), with
/// the claims due each year drawn from `claims` (in whole units).
pub fn ledger(spec: &LedgerSpec, claims: &[f64]) -> LedgerAnswer {
    let max_half = spec.initial_half + 2 * spec.top_ups.iter().sum::<i64>() + 1;
    let size = (max_half + 1) as usize;
    // state[flag][balance_half]
    let mut state = vec![vec![0.0f64; size]; 2];
    state[0][spec.initial_half as usize] = 1.0;
    let years = spec.due.len();
    let mut ans = LedgerAnswer {
        depleted_by: vec![0.0; years],
        first: vec![0.0; years],
        paid: vec![0.0; years],
        shortfall: vec![0.0; years],
        balance: vec![0.0; years],
        budget_exceeded: vec![0.0; years],
    };
    for u in 0..years {
        let mut next = vec![vec![0.0f64; size]; 2];
        let top = 2 * spec.top_ups[u];
        for flag in 0..2 {
            for (bal, &p) in state[flag].iter().enumerate() {
                if p == 0.0 {
                    continue;
                }
                let available = bal as i64 + top;
                if !spec.due[u] {
                    next[flag][available as usize] += p;
                    continue;
                }
                for (c, &q) in claims.iter().enumerate() {
                    if q == 0.0 {
                        continue;
                    }
                    let pq = p * q;
                    let a = 2 * c as i64;
                    let depleted = a > available;
                    let mut paid = a.min(available);
                    if let Some(b) = spec.budget {
                        paid = paid.min(2 * b);
                        if c as i64 > b {
                            ans.budget_exceeded[u] += pq;
                        }
                    }
                    ans.paid[u] += pq * paid as f64 / 2.0;
                    ans.shortfall[u] += pq * (a - paid) as f64 / 2.0;
                    if depleted && flag == 0 {
                        ans.first[u] += pq;
                    }
                    let nf = usize::from(flag == 1 || depleted);
                    next[nf][(available - paid) as usize] += pq;
                }
            }
        }
        state = next;
        ans.depleted_by[u] = state[1].iter().sum();
        ans.balance[u] = state
            .iter()
            .flat_map(|s| s.iter().enumerate())
            .map(|(b, p)| p * b as f64 / 2.0)
            .sum();
    }
    ans
}

#[test]
fn vasicek_reproduces_hulls_example() {
    // Hull: p = 2%, rho = 0.1, 99.9% worst-case default rate 12.8%.
    let q = vasicek_quantile(0.999, 0.02, 0.1);
    assert!((q - 0.128).abs() < 5e-4, "{q}");
    assert!((vasicek_cdf(q, 0.02, 0.1) - 0.999).abs() < 1e-9);
}

#[test]
fn dense_grid_matches_vasicek_for_a_large_pool() {
    // The mixture for a large pool approaches the Vasicek limit.
    let n = 20_000;
    let pmf = gaussian_counts(n, 0.02, 0.1);
    let total: f64 = pmf.iter().sum();
    assert!((total - 1.0).abs() < 1e-9);
    let q = vasicek_quantile(0.999, 0.02, 0.1);
    let k = (q * n as f64) as usize;
    let cdf: f64 = pmf[..=k].iter().sum();
    assert!((cdf - 0.999).abs() < 2e-4, "{cdf}");
}

#[test]
fn t_rule_has_converged() {
    // Doubling both grids changes a 99.9%-tail probability by under 0.5%.
    let coarse = t_counts(100, 0.02, 0.15, 5.0, 801, 300);
    let fine = t_counts(100, 0.02, 0.15, 5.0, 1601, 600);
    let tail = |p: &[f64]| p[20..].iter().sum::<f64>();
    assert!(tail(&fine) > 1e-4 && tail(&fine) < 0.05, "{}", tail(&fine));
    assert!((tail(&coarse) / tail(&fine) - 1.0).abs() < 5e-3);
    assert!((fine.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

/// Joint distribution `P(K_1 = i, K_2 = j)` of two groups of sizes `n1`,
/// `n2` sharing the global factor, as a row-major `(n1 + 1) x (n2 + 1)`
/// table, with the groups' conditional PDs given the factor as functions.
pub fn joint_counts(
    n1: usize,
    n2: usize,
    p1: impl Fn(f64) -> f64,
    p2: impl Fn(f64) -> f64,
) -> Vec<f64> {
    let rule = normal_rule(2001);
    let mut out = vec![0.0; (n1 + 1) * (n2 + 1)];
    for (&z, &w) in rule.x.iter().zip(&rule.w) {
        let a = binomial_pmf(n1, p1(z));
        let b = binomial_pmf(n2, p2(z));
        for (i, &pa) in a.iter().enumerate() {
            if pa * w < 1e-300 {
                continue;
            }
            for (j, &pb) in b.iter().enumerate() {
                out[i * (n2 + 1) + j] += w * pa * pb;
            }
        }
    }
    out
}

/// Collapses a joint table into the distribution of `f(i, j)` (in whole
/// units, at most `len - 1`).
pub fn distribution_of(
    joint: &[f64],
    n2: usize,
    len: usize,
    f: impl Fn(usize, usize) -> usize,
) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for (idx, &p) in joint.iter().enumerate() {
        let (i, j) = (idx / (n2 + 1), idx % (n2 + 1));
        out[f(i, j)] += p;
    }
    out
}
