//! riskpool's integration tests: one binary, one module per feature.
//!
//! Statistical tests use fixed seeds and compare against exact answers
//! within a few reported standard errors; they also check that the reported
//! errors are themselves right.

mod benchmark;
mod cli;
mod corpus;
mod decisions;
mod determinism;
mod edges;
mod errors;
mod exact;
mod importance;
mod properties;
mod regressions;
mod reliability;
mod reports;
mod rules;
mod scaling;
mod statistics;
mod tape;

use std::path::Path;

use riskpool::engine::{NoProgress, RunOptions};
use riskpool::model::Model;
use riskpool::result::RunResult;

/// The model of scenario text.
pub fn model_of(text: &str) -> Model {
    let sc = riskpool::scenario::parse(text, "test.toml", Path::new("."), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    Model::build(&sc).unwrap_or_else(|e| panic!("{e}"))
}

/// Simulates scenario text.
pub fn run_text(text: &str, paths: u64, seed: u64, threads: Option<usize>) -> RunResult {
    let model = model_of(text);
    let opts = RunOptions {
        paths,
        seed,
        threads,
        batches: None,
    };
    riskpool::run(&model, &opts, &NoProgress).unwrap()
}

/// Asserts `|estimate - exact| <= k * se`, naming what is compared.
#[track_caller]
pub fn assert_within(what: &str, estimate: f64, exact: f64, se: f64, k: f64) {
    let dev = (estimate - exact).abs();
    assert!(
        dev <= k * se + 1e-12 * exact.abs(),
        "{what}: estimate {estimate} vs exact {exact}: off by {:.2} standard errors (se {se})",
        dev / se
    );
}

/// Asserts that a reported standard error is within `rel` of the right one.
#[track_caller]
pub fn assert_error_right(what: &str, reported: Option<f64>, right: f64, rel: f64) {
    let reported = reported.unwrap_or_else(|| panic!("{what}: no standard error reported"));
    assert!(
        (reported / right - 1.0).abs() <= rel,
        "{what}: reported standard error {reported} but it should be {right}"
    );
}

/// Asserts that a quantile estimate `x` of level `a` lies in the exact
/// distribution's CDF band: F(x-) <= a + tol and F(x) >= a - tol, with
/// tol = 4 sqrt(a (1 - a) / paths).
#[track_caller]
pub fn assert_quantile(what: &str, pmf: &[f64], unit: f64, x: f64, a: f64, paths: u64) {
    let tol = 4.0 * (a * (1.0 - a) / paths as f64).sqrt();
    let (below, at) = exact::cdf_band(pmf, unit, x);
    assert!(
        below <= a + tol && at >= a - tol,
        "{what}: quantile {x} of level {a}: exact CDF just below {below}, at {at} (tolerance {tol})"
    );
}

/// Keys whose value may be `null` in a result file (model.md section 5:
/// what cannot be computed is null).
const NULLABLE: [&str; 10] = [
    "std_error",
    "leverage",
    "paid_over_claims",
    "pool_over_expected_loss",
    "pool_over_loss_p99",
    "insurer",
    "guarantor",
    "importance",
    "variance_reduction",
    "claims_es99_contribution",
];

/// Asserts that a result has no NaN or infinity anywhere (serde_json would
/// write them as null) and null only where the schema allows it.
#[track_caller]
pub fn assert_finite(r: &RunResult) {
    fn walk(v: &serde_json::Value, key: &str, path: &str) {
        match v {
            serde_json::Value::Null => assert!(
                NULLABLE.contains(&key) || key == "stress" || key == "description",
                "{path} is null"
            ),
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    assert!(x.is_finite(), "{path} is {x}");
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, key, &format!("{path}[{i}]"));
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    walk(x, k, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }
    // Non-finite floats cannot be JSON: look at the values before encoding.
    let text = serde_json::to_string(r).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    walk(&v, "", "result");
}
