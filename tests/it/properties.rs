//! Property tests: any TOML document, generated or mutated from a shipped
//! scenario, gives a result or a clean error; never a panic, never a NaN.

use std::path::Path;

use proptest::prelude::*;
use riskpool::engine::{NoProgress, RunOptions};
use riskpool::model::Model;
use riskpool::scenario::{self, Method};

use crate::assert_finite;

/// How far documents got: parsed, built, ran.
static REACHED: [std::sync::atomic::AtomicU64; 4] =
    [const { std::sync::atomic::AtomicU64::new(0) }; 4];

fn reached(stage: usize) {
    REACHED[stage].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Parses, builds and (when it builds and is small) runs a document.
fn exercise(text: &str, dir: &Path, run_paths: u64) {
    reached(3);
    let mut sc = match scenario::parse(text, "prop.toml", dir, &[]) {
        Ok(sc) => sc,
        Err(e) => {
            if std::env::var_os("PROP_DEBUG").is_some() {
                eprintln!("parse error: {e}");
            }
            return;
        }
    };
    reached(0);
    // The pilot of importance sampling is exercised by the skeleton test;
    // elsewhere plain sampling keeps the cases fast.
    if run_paths < 100 {
        sc.method = Method::Plain;
    }
    let Ok(model) = Model::build(&sc) else {
        return;
    };
    reached(1);
    if model.portfolio.loans.len() > 200_000 {
        return;
    }
    let opts = RunOptions {
        paths: run_paths,
        seed: 1,
        threads: Some(1),
        batches: None,
    };
    if let Ok(r) = riskpool::run(&model, &opts, &NoProgress) {
        assert_finite(&r);
        reached(2);
    }
}

#[test]
fn zz_report_how_far_documents_got() {
    // Informative only (tests run in parallel, so the counts are partial).
    let r: Vec<u64> = REACHED
        .iter()
        .map(|a| a.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    eprintln!(
        "property tests so far: {} documents, {} parsed, {} built, {} ran",
        r[3], r[0], r[1], r[2]
    );
}

const KEYS: [&str; 24] = [
    "name",
    "horizon_years",
    "paths",
    "seed",
    "method",
    "initial_balance",
    "annual_top_up",
    "interest_rate",
    "annual_budget",
    "claim_lag_years",
    "pool_share",
    "max_claim_per_loan",
    "correlation",
    "copula",
    "degrees_of_freedom",
    "factor_persistence",
    "loans",
    "exposure",
    "pd",
    "lgd",
    "term_years",
    "renew",
    "bank",
    "sector",
];

/// A number as TOML writes it: small and huge integers, edge decimals,
/// NaN and infinities.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (-5i64..5000).prop_map(|v| v.to_string()),
        Just("0".to_string()),
        Just("1".to_string()),
        Just("50_000_001".to_string()),
        Just("9_223_372_036_854_775_807".to_string()),
        prop_oneof![
            Just(0.0f64),
            Just(-0.0),
            Just(1e-300),
            Just(1e-9),
            Just(0.999999),
            Just(1.0),
            Just(1e12),
            Just(1e15),
            Just(1e300),
            -1.0f64..2.0,
            0.0f64..1.0,
            0.0f64..1e9
        ]
        .prop_map(|v| format!("{v:?}")),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => number(),
        1 => "[a-z]{0,6}".prop_map(|s| format!("\"{s}\"")),
        1 => Just("true".to_string()),
        1 => Just("[1e8, 2e8, 0]".to_string()),
        1 => Just("{ lognormal = { median = 1e6, sigma = 0.5 } }".to_string()),
        1 => Just("{ beta = { mean = 0.5, sd = 0.2 } }".to_string()),
        1 => Just("[]".to_string()),
    ]
}

fn table() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just("[scenario]"),
        Just("[simulation]"),
        Just("[pool]"),
        Just("[compensation]"),
        Just("[dependence]"),
        Just("[dependence.sectors]"),
        Just("[[segment]]"),
        Just("[[compensation.tier]]"),
        Just("[[stress]]"),
        Just("[insurer]"),
        Just("[portfolio]"),
    ];
    let line =
        (prop::sample::select(KEYS.to_vec()), value()).prop_map(|(k, v)| format!("{k} = {v}"));
    (header, prop::collection::vec(line, 0..8))
        .prop_map(|(h, lines)| format!("{h}\n{}\n", lines.join("\n")))
}

fn shipped() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "toml").then(|| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
        })
        .filter(|(n, _)| !n.starts_with("bench-100k"))
        .collect();
    out.sort();
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceNumber(usize, String, String),
    Truncate(usize),
    InsertByte(usize, u8),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Mostly new values for existing keys (they get deepest into the
    // engine); sometimes damage to the document itself.
    prop_oneof![
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        30 => (any::<usize>(), number(), value()).prop_map(|(i, n, v)| Mutation::ReplaceNumber(i, n, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::InsertByte(i, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

/// Mostly a value from `plausible`, sometimes any number at all.
fn near(plausible: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    prop_oneof![30 => plausible, 1 => number()].boxed()
}

fn f(r: std::ops::Range<f64>) -> impl Strategy<Value = String> {
    r.prop_map(|v| format!("{v:?}"))
}

fn i(r: std::ops::RangeInclusive<i64>) -> impl Strategy<Value = String> {
    r.prop_map(|v| v.to_string())
}

/// A complete scenario with every value drawn at random: mostly plausible
/// (within or at the edge of what is allowed), sometimes anything.
fn skeleton() -> impl Strategy<Value = String> {
    let pd = prop_oneof![
        f(1e-9..1e-6),
        f(1e-4..0.2),
        f(0.9..0.999),
        Just("1e-9".to_string()),
        Just("0.999".to_string())
    ];
    let rho = prop_oneof![
        Just("0".to_string()),
        f(0.0..0.5),
        f(0.9..0.999),
        Just("0.999".to_string())
    ];
    let method = prop_oneof![Just("\"plain\""), Just("\"auto\""), Just("\"importance\"")];
    (
        (near(i(1..=30)), method, near(f(0.0..1e10)), near(f(0.0..1e9)), near(f(-0.1..0.2)), near(i(0..=3))),
        (near(f(0.0..1.0)), near(f(0.0..1e8)), near(rho), near(f(-0.9..0.9))),
        (near(i(1..=3000)), near(f(1.0..1e12)), near(pd), near(f(0.0..1.0)), near(i(1..=10))),
        any::<bool>(),
    )
        .prop_map(|((h, m, b, top, r, lag), (share, cap, rho, phi), (n, e, pd, lgd, term), renew)| {
            format!(
                "[scenario]\nname = \"generated\"\nhorizon_years = {h}\n\n[simulation]\nmethod = {m}\n\n[pool]\ninitial_balance = {b}\nannual_top_up = {top}\ninterest_rate = {r}\nclaim_lag_years = {lag}\n\n[compensation]\npool_share = {share}\nmax_claim_per_loan = {cap}\n\n[dependence]\ncorrelation = {rho}\nfactor_persistence = {phi}\n\n[[segment]]\nname = \"a\"\nloans = {n}\nexposure = {e}\npd = {pd}\nlgd = {lgd}\nterm_years = {term}\nrenew = {renew}\n"
            )
        })
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::DuplicateLine(i) => {
            if !lines.is_empty() {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
        }
        Mutation::ReplaceNumber(i, number, other) => {
            // The i-th `key = value` line gets a new value: a number where
            // it held a number, anything elsewhere.
            // Lines holding a number, mostly; any assignment sometimes.
            let numeric = |k: &usize| {
                lines[*k].split_once(" = ").is_some_and(|(_, v)| {
                    v.split('#')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .replace('_', "")
                        .parse::<f64>()
                        .is_ok()
                })
            };
            let any_line =
                |k: &usize| lines[*k].contains(" = ") && !lines[*k].trim_start().starts_with('#');
            let mut assignments: Vec<usize> = (0..lines.len()).filter(numeric).collect();
            if assignments.is_empty() || i % 10 == 0 {
                assignments = (0..lines.len()).filter(any_line).collect();
            }
            if !assignments.is_empty() {
                let k = assignments[i % assignments.len()];
                let (key, old) = lines[k].split_once(" = ").unwrap_or(("x", ""));
                let old = old.split('#').next().unwrap_or("").trim().replace('_', "");
                let v = if old.parse::<f64>().is_ok() {
                    number
                } else {
                    other
                };
                lines[k] = format!("{key} = {v}");
            }
        }
        Mutation::Truncate(i) => {
            let cut = i % (text.len() + 1);
            let cut = (0..=cut)
                .rev()
                .find(|&c| text.is_char_boundary(c))
                .unwrap_or(0);
            return text[..cut].to_string();
        }
        Mutation::InsertByte(i, b) => {
            let mut bytes = text.as_bytes().to_vec();
            let at = i % (bytes.len() + 1);
            bytes.insert(at, *b);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_never_panic(tables in prop::collection::vec(table(), 0..9)) {
        let doc = tables.concat();
        exercise(&doc, Path::new("."), 64);
    }

    #[test]
    fn generated_scenarios_never_panic(doc in skeleton()) {
        exercise(&doc, Path::new("."), 200);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn mutated_shipped_scenarios_never_panic(
        which in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let files = shipped();
        let (_, text) = &files[which % files.len()];
        let mut doc = text.clone();
        for m in &mutations {
            doc = apply(&doc, m);
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        exercise(&doc, &dir, 64);
    }
}
