//! Loan tapes: a CSV file with one loan per row, read into a [`Portfolio`].
//!
//! Columns (by header name, any order): `id, exposure, pd, lgd, term_years,
//! sector, bank, first_loan, key_list` are required; `policy_tool, segment,
//! correlation, renew` are optional. A bad row stops the load with a message
//! naming the file, the row (1-based, the header is row 0) and its line, the
//! column, and what is allowed.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::portfolio::{Loan, Portfolio};
use crate::error::InputError;
use crate::scenario::{Lgd, MAX_AMOUNT, MAX_LOANS, Scenario};

const REQUIRED: [&str; 9] = [
    "id",
    "exposure",
    "pd",
    "lgd",
    "term_years",
    "sector",
    "bank",
    "first_loan",
    "key_list",
];
const OPTIONAL: [&str; 4] = ["policy_tool", "segment", "correlation", "renew"];

/// Column positions in the header.
struct Columns {
    at: HashMap<&'static str, usize>,
}

impl Columns {
    fn get(&self, name: &str) -> Option<usize> {
        self.at.get(name).copied()
    }
}

/// Reads the tape of `scenario` (its `[portfolio] tape`).
pub fn load(scenario: &Scenario, path: &Path) -> Result<Portfolio, InputError> {
    let origin = path.display().to_string();
    if path.is_dir() {
        return Err(
            InputError::new(&origin, "is a directory, not a loan tape").with_key("portfolio.tape")
        );
    }
    let bytes = std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        InputError::new(&origin, format!("cannot read the loan tape: {why}"))
            .with_key("portfolio.tape")
    })?;
    parse(scenario, &origin, &bytes)
}

/// Parses tape bytes (`origin` names them in messages).
pub fn parse(scenario: &Scenario, origin: &str, bytes: &[u8]) -> Result<Portfolio, InputError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::new(
            origin,
            format!(
                "the loan tape is empty: it needs a header row with {}",
                REQUIRED.join(",")
            ),
        ));
    }
    if bytes.contains(&0) {
        return Err(InputError::new(
            origin,
            "is a binary file, not a CSV loan tape",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| InputError::new(origin, format!("cannot read the header row: {e}")))?
        .clone();
    let mut at = HashMap::new();
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).unwrap_or("").trim();
        let known = REQUIRED.iter().chain(OPTIONAL.iter()).find(|c| **c == name);
        let Some(known) = known else {
            return Err(InputError::new(
                origin,
                format!(
                    "row 0 (the header), column {}: unknown column `{name}`; allowed are {} (optional: {})",
                    i + 1,
                    REQUIRED.join(", "),
                    OPTIONAL.join(", ")
                ),
            ));
        };
        if at.insert(*known, i).is_some() {
            return Err(InputError::new(
                origin,
                format!("row 0 (the header): column `{name}` appears twice"),
            ));
        }
    }
    for c in REQUIRED {
        if !at.contains_key(c) {
            return Err(InputError::new(
                origin,
                format!(
                    "row 0 (the header): missing column `{c}`; a tape needs {}",
                    REQUIRED.join(",")
                ),
            ));
        }
    }
    let cols = Columns { at };

    let mut p = Portfolio::default();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut bank_index: HashMap<String, usize> = HashMap::new();
    let mut segment_index: HashMap<String, usize> = HashMap::new();
    let mut sector_labels: Vec<String> = Vec::new();
    let mut sector_of_loan: Vec<Option<String>> = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut row = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(InputError::new(
                    origin,
                    format!("row {} (line {line}): not valid CSV: {e}", row + 1),
                ));
            }
        }
        row += 1;
        if row as u64 > MAX_LOANS {
            return Err(InputError::new(
                origin,
                format!("a tape may hold at most {MAX_LOANS} loans"),
            ));
        }
        let line = record.position().map_or(row as u64 + 1, |p| p.line());
        let cell = |name: &str| -> Result<&str, InputError> {
            let i = cols.get(name).unwrap_or(usize::MAX);
            let raw = record.get(i).unwrap_or(b"");
            std::str::from_utf8(raw).map_err(|_| bad(origin, row, line, name, "is not UTF-8 text"))
        };
        let number = |name: &str| -> Result<f64, InputError> {
            let s = cell(name)?;
            let v: f64 = s
                .replace('_', "")
                .parse()
                .map_err(|_| bad(origin, row, line, name, &format!("is not a number: {s:?}")))?;
            if !v.is_finite() {
                return Err(bad(
                    origin,
                    row,
                    line,
                    name,
                    &format!("must be finite, got {s}"),
                ));
            }
            Ok(v)
        };
        let flag = |name: &str| -> Result<bool, InputError> {
            match cell(name)?.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "y" => Ok(true),
                "0" | "false" | "no" | "n" | "" => Ok(false),
                other => Err(bad(
                    origin,
                    row,
                    line,
                    name,
                    &format!("must be true or false (or 1 or 0), got {other:?}"),
                )),
            }
        };
        let id = cell("id")?.to_string();
        if id.is_empty() {
            return Err(bad(origin, row, line, "id", "must not be empty"));
        }
        if !seen.insert(id.as_bytes().to_vec()) {
            return Err(bad(
                origin,
                row,
                line,
                "id",
                &format!("duplicate id `{id}`: ids must be unique"),
            ));
        }
        let exposure = number("exposure")?;
        if exposure <= 0.0 || exposure > MAX_AMOUNT {
            return Err(bad(
                origin,
                row,
                line,
                "exposure",
                &format!(
                    "must be an amount greater than 0 and at most {MAX_AMOUNT:e}, got {exposure}"
                ),
            ));
        }
        let pd = number("pd")?;
        if pd <= 0.0 || pd >= 1.0 {
            return Err(bad(
                origin,
                row,
                line,
                "pd",
                &format!("must be in (0, 1), got {pd}"),
            ));
        }
        let lgd = number("lgd")?;
        if !(0.0..=1.0).contains(&lgd) {
            return Err(bad(
                origin,
                row,
                line,
                "lgd",
                &format!("must be in [0, 1], got {lgd}"),
            ));
        }
        let term = number("term_years")?;
        if term.fract() != 0.0 || !(1.0..=50.0).contains(&term) {
            return Err(bad(
                origin,
                row,
                line,
                "term_years",
                &format!("must be a whole number from 1 to 50, got {term}"),
            ));
        }
        let sector = cell("sector")?.to_string();
        let sector = if sector.is_empty() {
            None
        } else {
            if let Some(sectors) = &scenario.dependence.sectors
                && !sectors.contains_key(&sector)
            {
                let known: Vec<&str> = sectors.keys().map(String::as_str).collect();
                return Err(bad(
                    origin,
                    row,
                    line,
                    "sector",
                    &format!(
                        "sector `{sector}` is not listed in [dependence.sectors] (listed: {})",
                        known.join(", ")
                    ),
                ));
            }
            Some(sector)
        };
        let bank = cell("bank")?.to_string();
        if bank.is_empty() {
            return Err(bad(
                origin,
                row,
                line,
                "bank",
                "must name the bank that holds the loan",
            ));
        }
        let correlation = match cols.get("correlation") {
            Some(_) if !cell("correlation")?.is_empty() => {
                let c = number("correlation")?;
                if !(0.0..1.0).contains(&c) {
                    return Err(bad(
                        origin,
                        row,
                        line,
                        "correlation",
                        &format!("must be in [0, 1), got {c}"),
                    ));
                }
                c
            }
            _ => scenario.dependence.correlation.ok_or_else(|| {
                bad(
                    origin,
                    row,
                    line,
                    "correlation",
                    "is empty and [dependence] has no correlation: give one of them",
                )
            })?,
        };
        let renew = match cols.get("renew") {
            Some(_) if !cell("renew")?.is_empty() => flag("renew")?,
            _ => true,
        };
        let policy_tool = cols.get("policy_tool").is_some() && flag("policy_tool")?;
        let segment_name = match cols.get("segment") {
            Some(_) if !cell("segment")?.is_empty() => cell("segment")?.to_string(),
            _ => sector.clone().unwrap_or_else(|| "tape".to_string()),
        };
        let next_bank = bank_index.len();
        let bank_i = *bank_index.entry(bank.clone()).or_insert_with(|| {
            p.banks.push(bank.clone());
            next_bank
        });
        let next_segment = segment_index.len();
        let segment_i = *segment_index
            .entry(segment_name.clone())
            .or_insert_with(|| {
                p.segments.push(segment_name.clone());
                next_segment
            });
        if let Some(s) = &sector
            && !sector_labels.contains(s)
        {
            sector_labels.push(s.clone());
        }
        sector_of_loan.push(sector);
        p.loans.push(Loan {
            id,
            exposure,
            pd,
            lgd: Lgd::Fixed(lgd),
            correlation,
            sector: None,
            term_years: term as u32,
            renew,
            bank: bank_i,
            segment: segment_i,
            first_loan: flag("first_loan")?,
            key_list: flag("key_list")?,
            policy_tool,
        });
    }
    if p.loans.is_empty() {
        return Err(InputError::new(
            origin,
            "the loan tape has a header but no loans",
        ));
    }
    sector_labels.sort();
    for (loan, sector) in p.loans.iter_mut().zip(sector_of_loan) {
        loan.sector = sector.and_then(|s| sector_labels.binary_search(&s).ok());
    }
    p.sectors = sector_labels;
    Ok(p)
}

fn bad(origin: &str, row: usize, line: u64, column: &str, what: &str) -> InputError {
    InputError::new(
        origin,
        format!("row {row} (line {line}), column `{column}`: {what}"),
    )
}
