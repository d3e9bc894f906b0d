//! Loan tapes: a CSV file with one loan per row, read into a [`Portfolio`].
//!
//! Columns (by header name, any order): `id, exposure, pd, lgd, term_years,
//! sector, bank, first_loan, key_list` are required; `policy_tool, segment,
//! correlation, renew` are optional. A bad row stops the load with a message
//! naming the file, the row (1-based, the header is row 0) and its line, the
//! column, and what is allowed.

use std::collections::HashMap;

use crate::fasthash::Interner;
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
    /// Position of each known column (REQUIRED then OPTIONAL), if present.
    at: [Option<usize>; REQUIRED.len() + OPTIONAL.len()],
}

impl Columns {
    /// The position of column `name` (a known column's name).
    #[inline]
    fn get(&self, name: &str) -> Option<usize> {
        let k = REQUIRED
            .iter()
            .chain(OPTIONAL.iter())
            .position(|c| *c == name)?;
        self.at[k]
    }
}

/// Reads the tape of `scenario` (its `[portfolio] tape`); returns the
/// portfolio and the tape's SHA-256.
pub fn load(scenario: &Scenario, path: &Path) -> Result<(Portfolio, [u8; 32]), InputError> {
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
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
    Ok((parse(scenario, &origin, &bytes)?, digest))
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
    if bytes.contains(&0) || std::str::from_utf8(bytes).is_err() {
        return Err(InputError::new(
            origin,
            "is a binary file or not UTF-8 text, not a CSV loan tape",
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
    let mut positions = [None; REQUIRED.len() + OPTIONAL.len()];
    for (k, name) in REQUIRED.iter().chain(OPTIONAL.iter()).enumerate() {
        positions[k] = at.get(name).copied();
    }
    let cols = Columns { at: positions };

    let mut p = Portfolio::default();
    // Each loan's line, for messages about duplicate ids.
    let mut lines: Vec<u64> = Vec::new();
    let mut ids = String::new();
    let mut id_ends: Vec<u32> = Vec::new();
    let mut banks = Interner::default();
    let mut segments = Interner::default();
    let mut sectors = Interner::default();
    let mut sector_of_loan: Vec<Option<usize>> = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut row = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let why = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("has {len} cells but the header has {expected_len}"),
                    _ => format!("not valid CSV: {e}"),
                };
                return Err(InputError::new(
                    origin,
                    format!("row {} (line {line}): {why}", row + 1),
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
            // Digit separators (`1_000_000`) are allowed; most cells have
            // none and parse without a copy.
            let parsed = if s.contains('_') {
                s.replace('_', "").parse::<f64>()
            } else {
                s.parse::<f64>()
            };
            let v = parsed
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
            let text = cell(name)?;
            let is = |words: &[&str]| words.iter().any(|w| text.eq_ignore_ascii_case(w));
            match text {
                _ if is(&["1", "true", "yes", "y"]) => Ok(true),
                _ if is(&["0", "false", "no", "n", ""]) => Ok(false),
                other => Err(bad(
                    origin,
                    row,
                    line,
                    name,
                    &format!("must be true or false (or 1 or 0), got {other:?}"),
                )),
            }
        };
        let id = cell("id")?;
        if id.is_empty() {
            return Err(bad(origin, row, line, "id", "must not be empty"));
        }
        ids.push_str(id);
        id_ends.push(ids.len() as u32);
        lines.push(line);
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
        let sector = cell("sector")?;
        let sector = if sector.is_empty() {
            None
        } else {
            if let Some(listed) = &scenario.dependence.sectors
                && !listed.contains_key(sector)
            {
                let known: Vec<&str> = listed.keys().map(String::as_str).collect();
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
            Some(sectors.index(sector))
        };
        let bank = cell("bank")?;
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
        let segment_i = match cols.get("segment") {
            Some(_) if !cell("segment")?.is_empty() => segments.index(cell("segment")?),
            _ => match sector {
                Some(s) => {
                    let name = &sectors.names[s];
                    segments.index(name)
                }
                None => segments.index("tape"),
            },
        };
        let bank_i = banks.index(bank);
        sector_of_loan.push(sector);
        p.loans.push(Loan {
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
    if ids.len() > u32::MAX as usize {
        return Err(InputError::new(
            origin,
            "the tape's ids take more than 4 GB",
        ));
    }
    p.tape_ids = (ids, id_ends);
    if let Some((row, first)) = first_duplicate(&p) {
        return Err(bad(
            origin,
            row + 1,
            lines[row],
            "id",
            &format!(
                "duplicate id `{}` (first at row {}): ids must be unique",
                p.loan_id(row),
                first + 1
            ),
        ));
    }
    // Sectors are reported in sorted order.
    let mut sorted = sectors.names.clone();
    sorted.sort();
    let rank: Vec<usize> = sectors
        .names
        .iter()
        .map(|s| sorted.binary_search(s).unwrap_or(0))
        .collect();
    for (loan, sector) in p.loans.iter_mut().zip(sector_of_loan) {
        loan.sector = sector.map(|s| rank[s]);
    }
    p.sectors = sorted;
    p.banks = banks.names;
    p.segments = segments.names;
    Ok(p)
}

/// The first loan (by row) whose id an earlier loan already has, with that
/// earlier loan: ids are sorted by hash, so equal ids meet.
fn first_duplicate(p: &Portfolio) -> Option<(usize, usize)> {
    let (text, ends) = &p.tape_ids;
    let id = |i: usize| {
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        &text[start..ends[i] as usize]
    };
    let hash = |id: &str| {
        let mut h = crate::fasthash::FxHasher::default();
        std::hash::Hash::hash(id, &mut h);
        // Finish with a strong mix so equal hashes mean equal ids, nearly always.
        let mut z = std::hash::Hasher::finish(&h);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut keys: Vec<(u64, u32)> = (0..ends.len()).map(|i| (hash(id(i)), i as u32)).collect();
    keys.sort_unstable();
    let mut best: Option<(usize, usize)> = None;
    for run in keys.chunk_by(|a, b| a.0 == b.0) {
        for (x, a) in run.iter().enumerate() {
            for b in &run[x + 1..] {
                let (first, later) = (a.1.min(b.1) as usize, a.1.max(b.1) as usize);
                if id(first) == id(later) && best.is_none_or(|(r, _)| later < r) {
                    best = Some((later, first));
                }
            }
        }
    }
    best
}

fn bad(origin: &str, row: usize, line: u64, column: &str, what: &str) -> InputError {
    InputError::new(
        origin,
        format!("row {row} (line {line}), column `{column}`: {what}"),
    )
}
