//! Bad input never panics: every bad scenario gives one clear message that
//! names the file, line and column, the key, and what is allowed.

use std::path::Path;

use riskpool::InputError;

const BASE: &str = r#"[scenario]
name = "base"
horizon_years = 3

[simulation]
paths = 1000

[pool]
initial_balance = 1e8

[compensation]
pool_share = 0.5

[dependence]
correlation = 0.1

[[segment]]
name = "a"
loans = 100
exposure = 1e6
pd = 0.02
lgd = 0.6
"#;

fn parse(text: &str) -> Result<riskpool::scenario::Scenario, InputError> {
    riskpool::scenario::parse(text, "test.toml", Path::new("."), &[])
}

/// Replaces `from` by `to` in the base scenario and checks the error: its
/// key, a fragment of its message, and (when `to` is a `key = value` line)
/// that the position is on that line.
#[track_caller]
fn bad(from: &str, to: &str, key: &str, fragment: &str) -> InputError {
    assert!(BASE.contains(from), "the base scenario has no {from:?}");
    let text = BASE.replacen(from, to, 1);
    let err = parse(&text).expect_err(&format!("{to:?} should be rejected"));
    let shown = err.to_string();
    assert_eq!(err.key.as_deref(), Some(key), "key of: {shown}");
    assert!(
        shown.contains(fragment),
        "message {shown:?} should contain {fragment:?}"
    );
    assert!(shown.starts_with("test.toml"), "{shown}");
    assert!(!shown.contains('\n'), "one line: {shown:?}");
    // The position is on the line of `to` that sets the key's last part.
    let last = key.rsplit('.').next().unwrap_or(key);
    let own = to
        .lines()
        .find(|l| l.trim_start().starts_with(last))
        .or_else(|| to.lines().find(|l| l.contains(last)));
    if let Some(own) = own {
        let line = text.lines().position(|l| l == own).map(|i| i + 1);
        if let (Some(line), Some((got, col))) = (line, err.position) {
            assert_eq!(got, line, "line of: {shown}");
            assert!(col >= 1);
        } else {
            panic!("no position in {shown}");
        }
    }
    err
}

#[test]
fn typos_and_unknown_keys() {
    bad(
        "initial_balance = 1e8",
        "intial_balance = 1e8",
        "pool.intial_balance",
        "unknown key `intial_balance`",
    );
    bad(
        "pd = 0.02",
        "pd = 0.02\nprobability = 0.1",
        "segment.a.probability",
        "unknown key `probability`",
    );
    let e = parse(&BASE.replace("[pool]", "[pol]")).unwrap_err();
    assert!(e.to_string().contains("unknown key `pol`"), "{e}");
}

#[test]
fn wrong_types() {
    bad(
        "loans = 100",
        "loans = \"many\"",
        "segment.a.loans",
        "wrong type",
    );
    bad(
        "loans = 100",
        "loans = 100.5",
        "segment.a.loans",
        "wrong type",
    );
    bad(
        "pool_share = 0.5",
        "pool_share = \"half\"",
        "compensation.pool_share",
        "wrong type",
    );
    bad(
        "horizon_years = 3",
        "horizon_years = true",
        "scenario.horizon_years",
        "wrong type",
    );
}

#[test]
fn out_of_range_values() {
    bad("pd = 0.02", "pd = 1.5", "segment.a.pd", "(0, 1)");
    bad("pd = 0.02", "pd = 0", "segment.a.pd", "(0, 1)");
    bad("pd = 0.02", "pd = -0.01", "segment.a.pd", "got -0.01");
    bad(
        "correlation = 0.1",
        "correlation = 1.0",
        "dependence.correlation",
        "[0, 1)",
    );
    bad(
        "correlation = 0.1",
        "correlation = -0.2",
        "dependence.correlation",
        "[0, 1)",
    );
    bad("lgd = 0.6", "lgd = 1.2", "segment.a.lgd", "[0, 1]");
    bad("loans = 100", "loans = 0", "segment.a.loans", "from 1");
    bad("loans = 100", "loans = -5", "segment.a.loans", "got -5");
    bad(
        "horizon_years = 3",
        "horizon_years = 0",
        "scenario.horizon_years",
        "from 1 to 100",
    );
    bad("paths = 1000", "paths = 0", "simulation.paths", "from 1");
    bad(
        "initial_balance = 1e8",
        "initial_balance = -1",
        "pool.initial_balance",
        "at least 0",
    );
    bad(
        "initial_balance = 1e8",
        "initial_balance = nan",
        "pool.initial_balance",
        "got nan",
    );
    bad(
        "initial_balance = 1e8",
        "initial_balance = inf",
        "pool.initial_balance",
        "got inf",
    );
    bad(
        "initial_balance = 1e8",
        "initial_balance = -inf",
        "pool.initial_balance",
        "got -inf",
    );
    bad(
        "exposure = 1e6",
        "exposure = 0",
        "segment.a.exposure",
        "greater than 0",
    );
    bad(
        "exposure = 1e6",
        "exposure = nan",
        "segment.a.exposure",
        "got nan",
    );
    bad(
        "pool_share = 0.5",
        "pool_share = 1.5",
        "compensation.pool_share",
        "[0, 1]",
    );
    bad(
        "pool_share = 0.5",
        "pool_share = 0.5\nmax_claim_per_loan = -1",
        "compensation.max_claim_per_loan",
        "at least 0",
    );
    bad(
        "initial_balance = 1e8",
        "initial_balance = 1e8\ninterest_rate = 2",
        "pool.interest_rate",
        "interest_rate",
    );
    bad(
        "initial_balance = 1e8",
        "initial_balance = 1e8\nclaim_lag_years = 11",
        "pool.claim_lag_years",
        "from 0 to 10",
    );
    bad(
        "exposure = 1e6",
        "exposure = 1e6\ntotal_exposure = -5",
        "segment.a.total_exposure",
        "greater than 0",
    );
    bad(
        "exposure = 1e6",
        "exposure = { lognormal = { median = 1e6, sigma = -1 } }",
        "segment.a.exposure.lognormal.sigma",
        "sigma",
    );
    bad(
        "correlation = 0.1",
        "correlation = 0.1\nfactor_persistence = 1",
        "dependence.factor_persistence",
        "(-1, 1)",
    );
}

#[test]
fn cross_field_rules() {
    bad(
        "lgd = 0.6",
        "lgd = 0.6\nsector = \"bio\"\ncorrelation = 0.6\n[dependence.sectors]\nbio = 0.5",
        "segment.a.sector",
        "below 1",
    );
    bad(
        "correlation = 0.1",
        "correlation = 0.1\ncopula = \"t\"\ndegrees_of_freedom = 2",
        "dependence.degrees_of_freedom",
        "(2, ",
    );
    bad(
        "correlation = 0.1",
        "correlation = 0.1\ncopula = \"t\"",
        "dependence.copula",
        "needs degrees_of_freedom",
    );
    bad(
        "correlation = 0.1",
        "correlation = 0.1\ndegrees_of_freedom = 5",
        "dependence.degrees_of_freedom",
        "only to copula = \"t\"",
    );
    bad(
        "correlation = 0.1",
        "correlation = 0.1\ncopula = \"clayton\"",
        "dependence.copula",
        "allowed are \"gaussian\" and \"t\"",
    );
    bad(
        "lgd = 0.6",
        "lgd = { beta = { mean = 0.9, sd = 0.4 } }",
        "segment.a.lgd.beta.sd",
        "needs sd below",
    );
    bad(
        "lgd = 0.6",
        "lgd = { gamma = { shape = 2 } }",
        "segment.a.lgd",
        "unknown distribution `gamma`",
    );
    bad(
        "lgd = 0.6",
        "lgd = 0.6\nsector = \"bio\"\n[dependence.sectors]\nfin = 0.05",
        "segment.a.sector",
        "not listed in [dependence.sectors]",
    );
    bad(
        "lgd = 0.6",
        "lgd = 0.6\nbank = \"A\"\nbanks = { B = 1 }",
        "segment.a.bank",
        "either bank or banks",
    );
    bad(
        "lgd = 0.6",
        "lgd = 0.6\nbanks = { B = 0 }",
        "segment.a.banks.B",
        "positive number",
    );
    bad(
        "initial_balance = 1e8",
        "initial_balance = 1e8\nannual_top_up = [1, 2]",
        "pool.annual_top_up",
        "one amount per ledger year: 3",
    );
    bad(
        "paths = 1000",
        "paths = 1000\nmethod = \"fast\"",
        "simulation.method",
        "\"plain\", \"importance\" and \"auto\"",
    );
    bad(
        "pool_share = 0.5",
        "pool_share = 0.5\n[[compensation.tier]]\nup_to = 5e6\npool_share = 0.4",
        "compensation.pool_share",
        "not both",
    );
    let e = parse(&BASE.replace(
        "[[segment]]",
        "[[segment]]\nname = \"a\"\nloans = 1\nexposure = 1\npd = 0.1\nlgd = 0.1\n[[segment]]",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("used twice"), "{e}");
}

#[test]
fn missing_pieces() {
    let e = parse(&BASE.replace("[pool]\ninitial_balance = 1e8\n", "")).unwrap_err();
    assert!(e.to_string().contains("missing required key `pool`"), "{e}");
    let e = parse(&BASE.replace("pd = 0.02\n", "")).unwrap_err();
    assert!(e.to_string().contains("missing required key `pd`"), "{e}");
    assert_eq!(e.key.as_deref(), Some("segment.a"));
    let e = parse(&BASE.replace("pool_share = 0.5\n", "")).unwrap_err();
    assert!(e.to_string().contains("needs pool_share"), "{e}");
    let e = parse(&BASE.replace("correlation = 0.1\n", "")).unwrap_err();
    assert!(e.to_string().contains("has no correlation"), "{e}");
    let e = parse(BASE.split("[[segment]]").next().unwrap()).unwrap_err();
    assert!(e.to_string().contains("has no loans"), "{e}");
}

#[test]
fn syntax_errors_have_positions() {
    let e = parse(&BASE.replace("pd = 0.02", "pd = ")).unwrap_err();
    let shown = e.to_string();
    assert!(shown.starts_with("test.toml:21:"), "{shown}");
    assert!(shown.contains("not valid TOML"), "{shown}");
    let e = parse("[scenario\nname = 1").unwrap_err();
    assert!(e.to_string().starts_with("test.toml:1:"), "{e}");
}

#[test]
fn empty_binary_missing_and_odd_files() {
    let dir = tempfile::tempdir().unwrap();
    let load = |name: &str, bytes: Option<&[u8]>| {
        let path = dir.path().join(name);
        if let Some(b) = bytes {
            std::fs::write(&path, b).unwrap();
        }
        riskpool::scenario::load(&path, &[])
            .unwrap_err()
            .to_string()
    };
    assert!(load("empty.toml", Some(b"")).contains("the file is empty"));
    assert!(load("blank.toml", Some(b"  \n\n")).contains("the file is empty"));
    assert!(load("binary.toml", Some(&[0x7f, 0x45, 0x4c, 0x46, 0, 1, 2])).contains("binary file"));
    assert!(load("latin1.toml", Some(b"name = \"caf\xe9\"")).contains("not UTF-8"));
    assert!(load("missing.toml", None).contains("no such file"));
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    assert!(load("adir", None).contains("is a directory"));
}

#[test]
fn set_overrides_are_checked_like_the_file() {
    let p = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        riskpool::scenario::parse(BASE, "test.toml", Path::new("."), &sets)
    };
    let ok = p(&[
        "pool.initial_balance=5e8",
        "segment.a.pd=0.05",
        "segment.0.loans=7",
        "dependence.copula=t",
        "dependence.degrees_of_freedom=4",
    ])
    .unwrap();
    assert_eq!(ok.pool.initial_balance, 5e8);
    assert_eq!(ok.segments[0].pd, 0.05);
    assert_eq!(ok.segments[0].loans, 7);
    let e = p(&["segment.a.pd=2"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--set segment.a.pd=2: key `segment.a.pd`: pd (an annual probability of default) must be in (0, 1), got 2"
    );
    let e = p(&["pool.initial_balanc=1"]).unwrap_err();
    assert!(
        e.to_string().starts_with("--set pool.initial_balanc=1")
            && e.to_string().contains("unknown key"),
        "{e}"
    );
    let e = p(&["pool"]).unwrap_err();
    assert!(e.to_string().contains("expected KEY=VALUE"), "{e}");
    let e = p(&["segment.zzz.pd=0.1"]).unwrap_err();
    assert!(
        e.to_string().contains("no element named or numbered `zzz`"),
        "{e}"
    );
    // Errors elsewhere still point into the file.
    let e = riskpool::scenario::parse(
        &BASE.replace("pd = 0.02", "pd = 7"),
        "test.toml",
        Path::new("."),
        &["pool.initial_balance=5".to_string()],
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("test.toml:21:"), "{e}");
}

#[test]
fn a_created_table_reports_the_full_key() {
    let e = riskpool::scenario::parse(
        BASE,
        "test.toml",
        Path::new("."),
        &["portfolio.seed=-3".to_string()],
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("portfolio.seed"), "{e}");
}
