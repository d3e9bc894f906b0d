//! The `riskpool` command as users run it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn riskpool() -> Command {
    Command::cargo_bin("riskpool").unwrap()
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_prints_a_summary_and_writes_every_result_field() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("result.json");
    let out = riskpool()
        .args(["run", "--paths", "5000", "--json"])
        .arg(&json)
        .arg(scenario("guangzhou-2017.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    for needle in [
        "Guangzhou 2017",
        "Will the pool last?",
        "by the end of year 3",
        "Paid by the pool",
        "leverage 10.0x",
        "million yuan",
    ] {
        assert!(
            stdout.contains(needle),
            "summary lacks {needle:?}:\n{stdout}"
        );
    }
    // No progress bar when stderr is not a terminal.
    assert!(out.stderr.is_empty(), "{}", stderr_of(&out));
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["schema"], "riskpool.result.v1");
    assert_eq!(r["paths"], 5000);
    assert_eq!(r["seed"], 2017);
    // Depletion is rare here, so `auto` (the default) samples by importance.
    assert_eq!(r["method"], "importance");
    let is = &r["importance"];
    assert!(is["effective_sample_size"].as_f64().unwrap() > 100.0);
    assert!(is["variance_reduction"].as_f64().unwrap() > 1.0);
    assert!(!is["components"].as_array().unwrap().is_empty());
    for key in [
        "scenario",
        "depletion",
        "totals",
        "by_year",
        "coverage",
        "leverage",
        "parties",
        "by_bank",
        "by_segment",
        "run",
    ] {
        assert!(!r[key].is_null(), "missing {key}");
    }
    for key in ["name", "sha256"] {
        assert!(r["scenario"][key].is_string());
    }
    for key in [
        "loss",
        "claims",
        "approved",
        "suspended",
        "paid",
        "shortfall",
        "recoveries",
        "final_balance",
    ] {
        let s = &r["totals"][key];
        for f in ["mean", "std_error", "std_dev"] {
            assert!(s[f].is_number(), "totals.{key}.{f}");
        }
        for q in ["p50", "p90", "p95", "p99", "p99_9"] {
            assert!(s["quantiles"][q].is_number(), "totals.{key}.quantiles.{q}");
        }
        for q in ["p95", "p99"] {
            assert!(s["expected_shortfall"][q].is_number());
        }
    }
    let years = r["by_year"].as_array().unwrap();
    assert_eq!(years.len(), 3);
    for key in [
        "loss",
        "claims",
        "approved",
        "paid",
        "shortfall",
        "balance",
        "budget_exceeded_probability",
    ] {
        assert!(years[0][key].is_object(), "by_year.{key}");
    }
    let p = &r["depletion"]["probability"];
    assert!(
        p["estimate"].is_number()
            && p["std_error"].is_number()
            && p["ci95"].as_array().unwrap().len() == 2
    );
    assert_eq!(r["depletion"]["by_year"].as_array().unwrap().len(), 3);
    assert_eq!(r["depletion"]["first_year"].as_array().unwrap().len(), 3);
    for key in [
        "paid_over_claims",
        "pool_over_expected_loss",
        "pool_over_loss_p99",
        "all_claims_paid_probability",
    ] {
        assert!(!r["coverage"][key].is_null(), "coverage.{key}");
    }
    assert_eq!(r["by_segment"].as_array().unwrap().len(), 4);
    for key in ["name", "loss", "claims", "paid"] {
        assert!(!r["by_segment"][0][key].is_null());
        assert!(!r["by_bank"][0][key].is_null());
    }
    assert!(r["parties"]["bank"].is_object());
    assert!(r["parties"]["insurer"].is_null());
    for key in ["threads", "elapsed_seconds", "version"] {
        assert!(!r["run"][key].is_null());
    }
    // No NaN or infinity can hide in a JSON file, but make sure nothing is a string "NaN".
    assert!(!std::fs::read_to_string(&json).unwrap().contains("NaN"));
}

#[test]
fn result_files_are_byte_identical_outside_run_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for threads in ["1", "2"] {
        let json = dir.path().join(format!("t{threads}.json"));
        riskpool()
            .args([
                "run",
                "--quiet",
                "--paths",
                "30000",
                "--threads",
                threads,
                "--json",
            ])
            .arg(&json)
            .arg(scenario("guangzhou-2017.toml"))
            .assert()
            .success();
        let mut v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(v["run"]["threads"].as_u64().unwrap().to_string(), threads);
        v.as_object_mut().unwrap().remove("run");
        files.push(serde_json::to_vec_pretty(&v).unwrap());
    }
    assert_eq!(files[0], files[1]);
}

#[test]
fn quiet_prints_nothing_and_set_overrides_keys() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = riskpool()
        .args([
            "run",
            "--quiet",
            "--paths",
            "2000",
            "--seed",
            "5",
            "--set",
            "pool.initial_balance=2e8",
            "--json",
        ])
        .arg(&json)
        .arg(scenario("guangzhou-2017.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["portfolio"]["initial_balance"], 2e8);
    assert_eq!(r["seed"], 5);
    assert!((r["leverage"].as_f64().unwrap() - 50.0).abs() < 1e-9);
}

#[test]
fn check_prints_the_resolved_scenario() {
    let out = riskpool()
        .arg("check")
        .arg(scenario("guangzhou-2017.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "valid",
        "2,000 in 4 groups",
        "10.00 billion yuan",
        "Leverage     10.0x",
        "Expected, in closed form",
        "all years",
    ] {
        assert!(stdout.contains(needle), "check lacks {needle:?}:\n{stdout}");
    }
}

#[test]
fn every_shipped_scenario_checks() {
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = riskpool().arg("check").arg(&path).output().unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                stderr_of(&out)
            );
        }
    }
}

#[test]
fn bad_input_exits_2_with_one_line_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(scenario("guangzhou-2017.toml"))
        .unwrap()
        .replace("pd = 0.030", "pd = 3.0");
    std::fs::write(&bad, text).unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["run".into(), bad.display().to_string()],
        vec!["check".into(), bad.display().to_string()],
        vec![
            "run".into(),
            dir.path().join("missing.toml").display().to_string(),
        ],
        vec!["run".into(), dir.path().display().to_string()],
        vec![
            "run".into(),
            "--paths".into(),
            "0".into(),
            scenario("guangzhou-2017.toml").display().to_string(),
        ],
        vec![
            "run".into(),
            "--threads".into(),
            "0".into(),
            scenario("guangzhou-2017.toml").display().to_string(),
        ],
        vec![
            "run".into(),
            "--set".into(),
            "pool.initial_balance=-1".into(),
            scenario("guangzhou-2017.toml").display().to_string(),
        ],
        vec![
            "run".into(),
            "--stress".into(),
            "nope".into(),
            scenario("guangzhou-2017.toml").display().to_string(),
        ],
        vec![
            "run".into(),
            "--paths".into(),
            "many".into(),
            scenario("guangzhou-2017.toml").display().to_string(),
        ],
        vec!["frobnicate".into()],
    ];
    for args in cases {
        let out = riskpool().args(&args).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = riskpool().arg("run").arg(&bad).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("bad.toml:") && err.contains("segment.ai.pd"),
        "{err}"
    );
}

#[test]
fn an_unwritable_result_fails_with_status_1_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("no").join("such").join("r.json");
    let out = riskpool()
        .args(["run", "--quiet", "--paths", "1000", "--json"])
        .arg(&json)
        .arg(scenario("guangzhou-2017.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(!json.exists());
}
