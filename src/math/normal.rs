//! Standard normal and Student-t distribution functions, accurate to a few
//! units in the last place where the engine needs them.
//!
//! `norm_cdf` is evaluated through `erfc` (the musl algorithm in `libm`, good
//! to about one ulp), so the lower tail keeps its relative accuracy down to
//! `Phi(-37)`; statrs' own normal CDF is only good to about 1e-10 relative.

use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Standard normal cumulative distribution function Phi(x).
#[inline]
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * FRAC_1_SQRT_2)
}

/// Standard normal density phi(x).
#[inline]
pub fn norm_pdf(x: f64) -> f64 {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Inverse of the standard normal CDF, `Phi^-1(p)` for `0 < p < 1`.
///
/// Starts from statrs' inverse error function and polishes the result with one
/// Halley step against `norm_cdf`, which brings it to full double precision.
/// Returns -inf for `p <= 0` and +inf for `p >= 1`.
pub fn norm_inv(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let mut x = -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p);
    // Halley step on f(x) = Phi(x) - p, working on the smaller tail for accuracy.
    for _ in 0..2 {
        let e = if x < 0.0 {
            norm_cdf(x) - p
        } else {
            (1.0 - p) - norm_cdf(-x)
        };
        let d = norm_pdf(x);
        if d <= 0.0 || !e.is_finite() {
            break;
        }
        let u = e / d;
        let step = u / (1.0 + 0.5 * x * u);
        if !step.is_finite() {
            break;
        }
        x -= step;
    }
    x
}

/// Inverse of the Student-t CDF with `nu` degrees of freedom (`nu > 0`),
/// polished with Newton steps against the CDF.
pub fn student_t_inv(p: f64, nu: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let Ok(t) = StudentsT::new(0.0, 1.0, nu) else {
        return f64::NAN;
    };
    // Work on the lower tail, where p itself carries full relative precision.
    let (q, sign) = if p > 0.5 { (1.0 - p, 1.0) } else { (p, -1.0) };
    let mut x = t.inverse_cdf(q);
    for _ in 0..3 {
        let f = t.cdf(x) - q;
        let d = t.pdf(x);
        if d <= 0.0 || !f.is_finite() {
            break;
        }
        let step = f / d;
        if !step.is_finite() || step.abs() < 1e-15 * x.abs().max(1e-300) {
            break;
        }
        x -= step;
    }
    if sign > 0.0 { -x } else { x }
}

/// CDF of the Student-t distribution with `nu` degrees of freedom.
pub fn student_t_cdf(x: f64, nu: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, nu) {
        Ok(t) => t.cdf(x),
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_reference_values() {
        // Reference values from high-precision tables (Abramowitz & Stegun 26.2,
        // and mpmath for the far tail).
        let cases = [
            (0.0, 0.5),
            (-1.0, 0.158_655_253_931_457_05),
            (-2.0, 0.022_750_131_948_179_21),
            (-3.0, 0.001_349_898_031_630_094_6),
            (-5.0, 2.866_515_718_791_939e-7),
            (-8.0, 6.220_960_574_271_785e-16),
            (-10.0, 7.619_853_024_160_527e-24),
            (1.5, 0.933_192_798_731_141_9),
        ];
        for (x, want) in cases {
            let got = norm_cdf(x);
            assert!(
                ((got - want) / want).abs() < 1e-13,
                "Phi({x}) = {got:e}, want {want:e}"
            );
        }
    }

    #[test]
    fn inverse_round_trips() {
        for &p in &[
            1e-12, 1e-9, 1e-6, 0.001, 0.02, 0.3, 0.5, 0.7, 0.98, 0.999_999,
        ] {
            let x = norm_inv(p);
            let back = norm_cdf(x);
            let tail = p.min(1.0 - p);
            assert!(
                ((back - p) / tail).abs() < 1e-13,
                "p {p}: x {x}, back {back}"
            );
        }
        // Hull's worked example quantities.
        assert!((norm_inv(0.999) - 3.090_232_306_167_813_5).abs() < 1e-14);
        assert!((norm_inv(0.02) + 2.053_748_910_631_823).abs() < 1e-14);
    }

    #[test]
    fn student_t_inverse_round_trips() {
        for &nu in &[3.0, 5.0, 10.0, 30.0] {
            for &p in &[1e-6, 0.001, 0.02, 0.5, 0.9] {
                let x = student_t_inv(p, nu);
                let back = student_t_cdf(x, nu);
                let tail = p.min(1.0 - p);
                assert!(((back - p) / tail).abs() < 1e-9, "nu {nu} p {p}: {back}");
            }
        }
        // t_5^-1(0.975) = 2.570581835636314 (standard tables).
        assert!((student_t_inv(0.975, 5.0) - 2.570_581_835_636_314).abs() < 1e-9);
    }
}
