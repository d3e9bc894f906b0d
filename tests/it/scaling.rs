//! Beyond one process: shards run concurrently and merged equal the whole
//! run; merge refuses bad sets; a killed checkpointed run resumes to the
//! same result; sweep shards; the GNU parallel and Slurm recipes for real
//! (skipped, saying so, where the machine lacks them; `.ci/run` installs
//! them).

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

fn bin() -> PathBuf {
    cargo_bin("riskpool")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scenario() -> PathBuf {
    root().join("scenarios/guangzhou-2017.toml")
}

/// A result file without its `run` block, for comparison.
fn without_run(path: &Path) -> String {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("run");
    serde_json::to_string(&v).unwrap()
}

fn riskpool(args: &[&str]) -> std::process::Output {
    Process::new(bin()).args(args).output().unwrap()
}

fn whole(dir: &Path, paths: &str) -> PathBuf {
    let out = dir.join("whole.json");
    let o = Process::new(bin())
        .arg("run")
        .arg(scenario())
        .args(["--paths", paths, "--quiet", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn concurrent_shards_merge_to_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = whole(d, "30000");
    for n in [1u32, 2, 5] {
        let children: Vec<_> = (1..=n)
            .map(|i| {
                Process::new(bin())
                    .arg("run")
                    .arg(scenario())
                    .args(["--paths", "30000", "--threads", "1", "--quiet"])
                    .args(["--shard", &format!("{i}/{n}"), "--json"])
                    .arg(d.join(format!("part-{n}-{i}.json")))
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let merged = d.join(format!("merged-{n}.json"));
        let mut cmd = Process::new(bin());
        cmd.arg("merge");
        // Any order.
        for i in (1..=n).rev() {
            cmd.arg(d.join(format!("part-{n}-{i}.json")));
        }
        let o = cmd
            .arg("--quiet")
            .arg("--json")
            .arg(&merged)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(without_run(&merged), without_run(&whole), "{n} shards");
    }
}

/// A shard file's text without its `elapsed_seconds` (the one field that
/// differs between two runs of the same shard).
fn without_elapsed(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let at = text.find("\"elapsed_seconds\":").expect("elapsed_seconds");
    let end = at + text[at..].find(',').unwrap();
    format!("{}{}", &text[..at], &text[end..])
}

#[test]
fn a_shard_file_is_the_same_bytes_every_time() {
    // Same shard twice, at different thread counts: byte for byte the same
    // file apart from its run time (the ES contributions' bins and the
    // sketches are written in key order).
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = ["1", "2"]
        .iter()
        .map(|threads| {
            let f = dir.path().join(format!("shard-{threads}.json"));
            let o = Process::new(bin())
                .arg("run")
                .arg(scenario())
                .args(["--paths", "20000", "--threads", threads, "--quiet"])
                .args(["--shard", "1/3", "--json"])
                .arg(&f)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            f
        })
        .collect();
    assert_eq!(without_elapsed(&files[0]), without_elapsed(&files[1]));
}

#[test]
fn merge_refuses_incomplete_duplicated_and_foreign_sets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let part = |i: u32, n: u32, seed: &str, name: &str| {
        let o = Process::new(bin())
            .arg("run")
            .arg(scenario())
            .args(["--paths", "5000", "--quiet", "--seed", seed])
            .args(["--shard", &format!("{i}/{n}"), "--json"])
            .arg(d.join(name))
            .output()
            .unwrap();
        assert!(o.status.success());
        d.join(name).display().to_string()
    };
    let a1 = part(1, 2, "1", "a1.json");
    let a2 = part(2, 2, "1", "a2.json");
    let b2 = part(2, 2, "2", "b2.json");
    let c2 = part(2, 3, "1", "c2.json");
    let refuse = |files: &[&str], needle: &str| {
        let mut args = vec!["merge"];
        args.extend_from_slice(files);
        let o = riskpool(&args);
        assert_eq!(o.status.code(), Some(2), "{files:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{files:?}: {err}");
        assert!(!err.contains("panicked"));
    };
    refuse(&[&a1], "shard 2/2 missing");
    refuse(&[&a1, &a2, &a2], "given twice");
    refuse(&[&a1, &b2], "seed");
    refuse(&[&a1, &c2], "shard count");
    let other = d.join("x.json");
    std::fs::write(&other, "{\"schema\": \"riskpool.result.v1\"}").unwrap();
    refuse(&[&a1, other.to_str().unwrap()], "schema");
    let o = riskpool(&[
        "run",
        scenario().to_str().unwrap(),
        "--shard",
        "3/2",
        "--json",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = riskpool(&["run", scenario().to_str().unwrap(), "--shard", "1/2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs --json"));
}

#[test]
fn a_killed_checkpointed_run_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scen = root().join("scenarios/bench-plan-2017.toml");
    let paths = "1500000";
    let checkpoint = d.join("ck");
    let run = |out: &Path| {
        let mut c = Process::new(bin());
        c.arg("run")
            .arg(&scen)
            .args([
                "--paths",
                paths,
                "--threads",
                "2",
                "--quiet",
                "--checkpoint",
            ])
            .arg(&checkpoint)
            .arg("--json")
            .arg(out)
            .env("RISKPOOL_CHECKPOINT_SECONDS", "0.05")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // Kill it once it has saved something.
    let mut child = run(&d.join("first.json")).spawn().unwrap();
    let started = Instant::now();
    let chunks = || std::fs::read_dir(&checkpoint).map_or(0, |r| r.count());
    while chunks() < 3 && started.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!d.join("first.json").exists(), "killed before its result");
    let saved = chunks();
    assert!(saved >= 1, "nothing saved before the kill");
    let o = run(&d.join("resumed.json")).status().unwrap();
    assert!(o.success());
    let plain = d.join("plain.json");
    let o = Process::new(bin())
        .arg("run")
        .arg(&scen)
        .args(["--paths", paths, "--quiet", "--json"])
        .arg(&plain)
        .status()
        .unwrap();
    assert!(o.success());
    assert_eq!(without_run(&d.join("resumed.json")), without_run(&plain));
    // Another run refuses the directory.
    let o = Process::new(bin())
        .arg("run")
        .arg(&scen)
        .args(["--paths", paths, "--seed", "9", "--quiet", "--checkpoint"])
        .arg(&checkpoint)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another run"));
}

#[test]
fn sweep_shards_merge_to_the_whole_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sweep = |extra: &[&str], out: &Path| {
        let o = Process::new(bin())
            .arg("sweep")
            .arg(scenario())
            .args([
                "--vary",
                "pool.initial_balance=5e8,8e8,1e9",
                "--paths",
                "8000",
                "--quiet",
            ])
            .args(extra)
            .arg("--json")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    sweep(&[], &d.join("whole.json"));
    sweep(&["--shard", "1/2"], &d.join("p1.json"));
    sweep(&["--shard", "2/2"], &d.join("p2.json"));
    let o = Process::new(bin())
        .arg("merge")
        .arg(d.join("p2.json"))
        .arg(d.join("p1.json"))
        .arg("--quiet")
        .arg("--json")
        .arg(d.join("merged.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(d.join("merged.json")).unwrap(),
        std::fs::read(d.join("whole.json")).unwrap()
    );
}

fn have(tool: &str) -> bool {
    Process::new("which")
        .arg(tool)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_gnu_parallel_recipe_runs_for_real() {
    if !have("parallel") {
        eprintln!(
            "SKIPPED: GNU parallel is not installed (apt-get install parallel; .ci/run installs it)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = whole(d, "20000");
    let out = d.join("parallel.json");
    let o = Process::new(root().join("deploy/gnu-parallel.sh"))
        .arg(scenario())
        .arg("4")
        .arg(&out)
        .args(["--paths", "20000"])
        .env("RISKPOOL", bin())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(without_run(&out), without_run(&whole));
}

#[test]
fn the_slurm_array_recipe_runs_on_a_one_node_cluster() {
    let o = Process::new(root().join("tests/slurm/one-node.sh"))
        .arg(bin())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    match o.status.code() {
        Some(77) => eprintln!("{}", text.lines().last().unwrap_or("SKIPPED")),
        Some(0) => assert!(text.contains("PASSED"), "{text}"),
        _ => panic!("the Slurm recipe failed:\n{text}"),
    }
}

#[test]
fn solve_points_shard_and_merge_to_the_whole_solve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let solve = |extra: &[&str], out: &Path| {
        let o = Process::new(bin())
            .arg("solve")
            .arg(scenario())
            .args([
                "--for",
                "pool.initial_balance",
                "--paths",
                "4000",
                "--quiet",
            ])
            .args(["--target", "depletion<=0.05", "--target", "depletion<=0.1"])
            .args(["--stress", "base", "--stress", "recession-year-2"])
            .args(extra)
            .arg("--json")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    solve(&[], &d.join("whole.json"));
    for i in 1..=3 {
        solve(
            &["--shard", &format!("{i}/3")],
            &d.join(format!("p{i}.json")),
        );
    }
    let o = Process::new(bin())
        .arg("merge")
        .args((1..=3).rev().map(|i| d.join(format!("p{i}.json"))))
        .args(["--quiet", "--json"])
        .arg(d.join("merged.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole = std::fs::read(d.join("whole.json")).unwrap();
    assert_eq!(std::fs::read(d.join("merged.json")).unwrap(), whole);
    let v: serde_json::Value = serde_json::from_slice(&whole).unwrap();
    assert_eq!(v["schema"], "riskpool.solves.v1");
    assert_eq!(v["results"].as_array().unwrap().len(), 4);
    assert_eq!(v["results"][2]["stress"], "recession-year-2");
    // A missing shard is refused.
    let o = riskpool(&[
        "merge",
        d.join("p1.json").to_str().unwrap(),
        d.join("p2.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("solve shard 3/3 missing"));
}
