//! Reproducible values and clean interruptions: golden results pinned to
//! the bit, and Ctrl-C ending with status 130, no partial file, and a run
//! that resumes from its checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// A result file as text, without its `run` block (threads, time).
fn pinned(path: &Path) -> String {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("run");
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

/// The golden scenario's result, plain and importance-sampled, must equal
/// the committed files exactly. After an intended change of values, rerun
/// with `UPDATE_GOLDEN=1`, check the diff, and name the change under
/// "Changes results" in CHANGELOG.md.
#[test]
fn golden_values_are_reproduced_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for (method, file) in [
        ("plain", "small-plain.json"),
        ("importance", "small-importance.json"),
    ] {
        let out = dir.path().join(file);
        let o = Command::new(cargo_bin("riskpool"))
            .arg("run")
            .arg(golden_dir().join("small.toml"))
            .args(["--method", method, "--threads", "3", "--quiet", "--json"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got = pinned(&out);
        let golden = golden_dir().join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap();
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{file}: the values changed (first difference at line {}: {:?} vs golden {:?}); if intended, UPDATE_GOLDEN=1 and a CHANGELOG entry",
                first + 1,
                got.lines().nth(first),
                want.lines().nth(first)
            );
        }
    }
}

/// The result records what fixes its values.
#[test]
fn results_record_what_fixes_their_values() {
    let text = std::fs::read_to_string(golden_dir().join("small-plain.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["seed"], 20261128);
    assert_eq!(v["paths"], 3000);
    assert_eq!(v["scenario"]["sha256"].as_str().unwrap().len(), 64);
    let engine = &v["engine"];
    assert!(engine["generator"].as_str().unwrap().contains("ChaCha8"));
    let crates: Vec<&str> = engine["crates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(crates.iter().any(|c| c.starts_with("rand ")), "{crates:?}");
    assert!(
        crates.iter().any(|c| c.starts_with("rand_distr ")),
        "{crates:?}"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_exits_130_leaves_no_partial_file_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scen = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench-plan-2017.toml");
    let checkpoint = d.join("ck");
    let out = d.join("result.json");
    let run = || {
        let mut c = Command::new(cargo_bin("riskpool"));
        c.arg("run")
            .arg(&scen)
            .args([
                "--paths",
                "1500000",
                "--threads",
                "2",
                "--quiet",
                "--checkpoint",
            ])
            .arg(&checkpoint)
            .arg("--json")
            .arg(&out)
            .env("RISKPOOL_CHECKPOINT_SECONDS", "0.05")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let child = run().spawn().unwrap();
    let started = Instant::now();
    let chunks = || std::fs::read_dir(&checkpoint).map_or(0, |r| r.count());
    while chunks() < 2 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    if o.status.code() == Some(0) {
        eprintln!("the run finished before Ctrl-C reached it; nothing to check");
        return;
    }
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted"));
    assert!(!out.exists(), "no result file after an interruption");
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .chain(std::fs::read_dir(&checkpoint).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    // The same command resumes and finishes.
    let o = run().output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plain = d.join("plain.json");
    let o = Command::new(cargo_bin("riskpool"))
        .arg("run")
        .arg(&scen)
        .args(["--paths", "1500000", "--quiet", "--json"])
        .arg(&plain)
        .status()
        .unwrap();
    assert!(o.success());
    assert_eq!(pinned(&out), pinned(&plain));
}
