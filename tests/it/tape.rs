//! Loan tapes: read like segments, checked row by row.

use std::path::Path;

use riskpool::engine::{NoProgress, RunOptions};
use riskpool::model::Model;

const HEADER: &str = "id,exposure,pd,lgd,term_years,sector,bank,first_loan,key_list";

fn scenario_with_tape(dir: &Path, tape: &str, extra: &str) -> Result<Model, riskpool::InputError> {
    std::fs::write(dir.join("loans.csv"), tape).unwrap();
    let text = format!(
        r#"
[scenario]
name = "tape"
horizon_years = 2
[pool]
initial_balance = 1e8
[compensation]
pool_share = 0.5
[dependence]
correlation = 0.12
{extra}
[portfolio]
tape = "loans.csv"
"#
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    let sc = riskpool::scenario::load(&path, &[])?;
    Model::build(&sc)
}

fn rows(n: usize) -> String {
    let mut s = format!("{HEADER}\n");
    for i in 0..n {
        s.push_str(&format!("L{i},1000000,0.02,0.6,1,,all banks,0,0\n"));
    }
    s
}

#[test]
fn a_tape_gives_the_same_results_as_the_same_loans_in_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let tape = rows(300).replace(",,all banks,", ",all,all banks,");
    let from_tape = scenario_with_tape(dir.path(), &tape, "").unwrap();
    let segment = crate::model_of(
        r#"
[scenario]
name = "tape"
horizon_years = 2
[pool]
initial_balance = 1e8
[compensation]
pool_share = 0.5
[dependence]
correlation = 0.12
[[segment]]
name = "all"
sector = "all"
loans = 300
exposure = 1_000_000
pd = 0.02
lgd = 0.6
"#,
    );
    assert_eq!(from_tape.portfolio.segments, vec!["all".to_string()]);
    let opts = RunOptions {
        paths: 5_000,
        seed: 3,
        threads: Some(2),
        batches: None,
    };
    let a = riskpool::run(&from_tape, &opts, &NoProgress).unwrap();
    let b = riskpool::run(&segment, &opts, &NoProgress).unwrap();
    assert_eq!(a.totals, b.totals);
    assert_eq!(a.depletion, b.depletion);
}

#[test]
fn optional_columns_and_flags_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let tape = "id,exposure,pd,lgd,term_years,sector,bank,first_loan,key_list,policy_tool,segment,correlation,renew\n\
                a,2000000,0.03,0.5,2,bio,B1,true,yes,1,S1,0.2,false\n\
                b,3_000_000,0.01,0.7,1,fin,B2,0,no,0,,,\n";
    let m = scenario_with_tape(dir.path(), tape, "").unwrap();
    let p = &m.portfolio;
    assert_eq!(p.loans.len(), 2);
    assert_eq!(p.banks, vec!["B1".to_string(), "B2".to_string()]);
    assert_eq!(p.segments, vec!["S1".to_string(), "fin".to_string()]);
    let a = &p.loans[0];
    assert!(a.first_loan && a.key_list && a.policy_tool && !a.renew);
    assert_eq!((a.term_years, a.correlation, a.exposure), (2, 0.2, 2e6));
    let b = &p.loans[1];
    assert!(!b.first_loan && b.renew);
    assert_eq!((b.correlation, b.exposure), (0.12, 3e6));
}

#[test]
fn bad_rows_are_named_by_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let err = |tape: &str, extra: &str| {
        scenario_with_tape(dir.path(), tape, extra)
            .unwrap_err()
            .to_string()
    };
    let e = err(
        "id,exposure,pd,lgd,term_years,sector,bank,first_loan\nx,1,0.1,0.5,1,s,b,0\n",
        "",
    );
    assert!(
        e.contains("loans.csv") && e.contains("missing column `key_list`"),
        "{e}"
    );
    let e = err(&format!("{HEADER},colour\n"), "");
    assert!(e.contains("unknown column `colour`"), "{e}");
    let e = err(&rows(3).replace("L1,1000000,", "L1,a lot,"), "");
    assert!(
        e.contains("row 2 (line 3), column `exposure`: is not a number: \"a lot\""),
        "{e}"
    );
    let e = err(&rows(3).replace("L2,1000000,0.02", "L2,1000000,1.2"), "");
    assert!(
        e.contains("row 3 (line 4), column `pd`: must be in (0, 1), got 1.2"),
        "{e}"
    );
    let e = err(&rows(3).replace("L2,", "L0,"), "");
    assert!(
        e.contains("row 3 (line 4), column `id`: duplicate id `L0`"),
        "{e}"
    );
    let e = err(
        &rows(3).replace("L1,1000000,0.02,0.6,1,,", "L1,1000000,0.02,0.6,1,bio,"),
        "[dependence.sectors]\nfin = 0.05",
    );
    assert!(
        e.contains("row 2 (line 3), column `sector`: sector `bio` is not listed"),
        "{e}"
    );
    let e = err(
        &rows(3).replace("L1,1000000,0.02,0.6,1", "L1,1000000,0.02,0.6,1.5"),
        "",
    );
    assert!(e.contains("column `term_years`"), "{e}");
    let e = err(
        &rows(3).replace("L1,1000000,0.02,0.6", "L1,-5,0.02,0.6"),
        "",
    );
    assert!(
        e.contains("column `exposure`: must be an amount greater than 0"),
        "{e}"
    );
    let e = err(
        &rows(3).replace(",all banks,0,0\nL2", ",all banks,maybe,0\nL2"),
        "",
    );
    assert!(
        e.contains("column `first_loan`: must be true or false"),
        "{e}"
    );
    let e = err(
        &rows(2).replace("L1,1000000,0.02,0.6,1,,all banks,0,0", "L1,1000000,0.02"),
        "",
    );
    assert!(
        e.contains("row 2") && e.contains("cells but the header has"),
        "{e}"
    );
    assert!(err("", "").contains("the loan tape is empty"));
    assert!(err(&format!("{HEADER}\n"), "").contains("no loans"));
    let e = err("id,exposure\0\n", "");
    assert!(e.contains("binary"), "{e}");
}

#[test]
fn a_missing_tape_and_a_tape_with_segments_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        "[scenario]\nhorizon_years = 1\n[pool]\ninitial_balance = 1\n[compensation]\npool_share = 0.5\n[dependence]\ncorrelation = 0.1\n[portfolio]\ntape = \"nope.csv\"\n",
    )
    .unwrap();
    let sc = riskpool::scenario::load(&path, &[]).unwrap();
    let e = Model::build(&sc).unwrap_err().to_string();
    assert!(e.contains("nope.csv") && e.contains("no such file"), "{e}");
    let e = riskpool::scenario::parse(
        "[scenario]\nhorizon_years = 1\n[pool]\ninitial_balance = 1\n[compensation]\npool_share = 0.5\n[portfolio]\ntape = \"x.csv\"\n[[segment]]\nname = \"a\"\nloans = 1\nexposure = 1\npd = 0.1\nlgd = 0.5\ncorrelation = 0.1\n",
        "t.toml",
        Path::new("."),
        &[],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("either a loan tape or [[segment]] tables"),
        "{e}"
    );
}
