//! CSV tables of a result, in tidy form (one row per figure): `totals.csv`,
//! `by_year.csv`, `by_bank.csv` and `by_segment.csv`.
//!
//! Every table has the columns of a `STAT` (mean, its standard error, the
//! standard deviation, quantiles and expected shortfalls) after the columns
//! that say which figure the row is. Probabilities take the `mean` column
//! (the estimate), `std_error`, and `ci95_low`/`ci95_high`; the other columns
//! are empty on their rows.

use std::path::{Path, PathBuf};

use super::output::write_atomic;
use crate::error::Error;
use crate::result::RunResult;
use crate::stats::{Probability, Stat};

const STAT_COLUMNS: [&str; 13] = [
    "quantity",
    "mean",
    "std_error",
    "std_dev",
    "p50",
    "p90",
    "p95",
    "p99",
    "p99_9",
    "es95",
    "es99",
    "ci95_low",
    "ci95_high",
];

fn num(x: f64) -> String {
    // Shortest representation that reads back to the same number.
    format!("{x}")
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

fn stat_row(quantity: &str, s: &Stat) -> Vec<String> {
    vec![
        quantity.to_string(),
        num(s.mean),
        opt(s.std_error),
        num(s.std_dev),
        num(s.quantiles.p50),
        num(s.quantiles.p90),
        num(s.quantiles.p95),
        num(s.quantiles.p99),
        num(s.quantiles.p99_9),
        num(s.expected_shortfall.p95),
        num(s.expected_shortfall.p99),
        String::new(),
        String::new(),
    ]
}

fn prob_row(quantity: &str, p: &Probability) -> Vec<String> {
    let mut row = vec![String::new(); STAT_COLUMNS.len()];
    row[0] = quantity.to_string();
    row[1] = num(p.estimate);
    row[2] = opt(p.std_error);
    row[11] = num(p.ci95[0]);
    row[12] = num(p.ci95[1]);
    row
}

fn value_row(quantity: &str, x: Option<f64>) -> Vec<String> {
    let mut row = vec![String::new(); STAT_COLUMNS.len()];
    row[0] = quantity.to_string();
    row[1] = opt(x);
    row
}

/// One table: `keys` columns first, then the STAT columns.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(keys: &[&str]) -> Self {
        Self {
            header: keys
                .iter()
                .chain(STAT_COLUMNS.iter())
                .map(|s| s.to_string())
                .collect(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, keys: &[String], row: Vec<String>) {
        self.rows.push(keys.iter().cloned().chain(row).collect());
    }

    fn bytes(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| Error::Failure(format!("cannot encode CSV: {e}"));
        w.write_record(&self.header).map_err(fail)?;
        for r in &self.rows {
            w.write_record(r).map_err(fail)?;
        }
        w.into_inner()
            .map_err(|e| Error::Failure(format!("cannot encode CSV: {e}")))
    }
}

/// The four tables of a result, as `(file name, CSV bytes)`.
pub fn tables(r: &RunResult) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let t = &r.totals;
    let mut totals = Table::new(&[]);
    for (name, s) in [
        ("loss", &t.loss),
        ("claims", &t.claims),
        ("approved", &t.approved),
        ("suspended", &t.suspended),
        ("paid", &t.paid),
        ("shortfall", &t.shortfall),
        ("recoveries", &t.recoveries),
        ("final_balance", &t.final_balance),
    ] {
        totals.push(&[], stat_row(name, s));
    }
    totals.push(
        &[],
        prob_row("depletion_probability", &r.depletion.probability),
    );
    totals.push(
        &[],
        prob_row(
            "all_claims_paid_probability",
            &r.coverage.all_claims_paid_probability,
        ),
    );
    totals.push(
        &[],
        value_row("paid_over_claims", r.coverage.paid_over_claims),
    );
    totals.push(
        &[],
        value_row(
            "pool_over_expected_loss",
            r.coverage.pool_over_expected_loss,
        ),
    );
    totals.push(
        &[],
        value_row("pool_over_loss_p99", r.coverage.pool_over_loss_p99),
    );
    totals.push(&[], value_row("leverage", r.leverage));

    let mut by_year = Table::new(&["year"]);
    for (i, y) in r.by_year.iter().enumerate() {
        let key = [y.year.to_string()];
        for (name, s) in [
            ("loss", &y.loss),
            ("claims", &y.claims),
            ("approved", &y.approved),
            ("suspended", &y.suspended),
            ("paid", &y.paid),
            ("shortfall", &y.shortfall),
            ("recoveries", &y.recoveries),
            ("balance", &y.balance),
        ] {
            by_year.push(&key, stat_row(name, s));
        }
        if let Some(d) = r.depletion.by_year.get(i) {
            by_year.push(&key, prob_row("depleted_by_year_end", &d.probability));
        }
        if let Some(d) = r.depletion.first_year.get(i) {
            by_year.push(&key, prob_row("first_depleted_this_year", &d.probability));
        }
        by_year.push(
            &key,
            prob_row(
                "budget_exceeded_probability",
                &y.budget_exceeded_probability,
            ),
        );
    }

    let mut by_bank = Table::new(&["bank"]);
    for b in &r.by_bank {
        let key = [b.name.clone()];
        for (name, s) in [
            ("loss", &b.loss),
            ("claims", &b.claims),
            ("approved", &b.approved),
            ("paid", &b.paid),
            ("suspended", &b.suspended),
        ] {
            by_bank.push(&key, stat_row(name, s));
        }
        by_bank.push(
            &key,
            prob_row("suspended_probability", &b.suspended_probability),
        );
        by_bank.push(
            &key,
            value_row("claims_es99_contribution", b.claims_es99_contribution),
        );
    }

    let mut by_segment = Table::new(&["segment"]);
    for s in &r.by_segment {
        let key = [s.name.clone()];
        for (name, st) in [("loss", &s.loss), ("claims", &s.claims), ("paid", &s.paid)] {
            by_segment.push(&key, stat_row(name, st));
        }
        by_segment.push(
            &key,
            value_row("claims_es99_contribution", s.claims_es99_contribution),
        );
    }

    Ok(vec![
        ("totals.csv".to_string(), totals.bytes()?),
        ("by_year.csv".to_string(), by_year.bytes()?),
        ("by_bank.csv".to_string(), by_bank.bytes()?),
        ("by_segment.csv".to_string(), by_segment.bytes()?),
    ])
}

/// Writes the tables of `r` into `dir` (created if missing).
pub fn write_tables(dir: &Path, r: &RunResult) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Failure(format!("cannot create {}: {e}", dir.display())))?;
    tables(r)?
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            write_atomic(&path, &bytes)?;
            Ok(path)
        })
        .collect()
}
