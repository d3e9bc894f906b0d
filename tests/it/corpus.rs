//! The corpus of bad inputs in `tests/corpus/`: every scenario file there
//! (some naming bad loan tapes in `tests/corpus/tapes/`) must make
//! `riskpool check` exit with status 2 and print exactly the message in its
//! `.stderr` snapshot; none may panic. Set `UPDATE_SNAPSHOTS=1` to rewrite
//! the snapshots after an intended change of wording (then read the diff).
//!
//! A few bad inputs cannot live in the repository (a directory, a missing
//! file, a huge file, an unreadable file) and are made here.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn check(dir: &Path, file: &str) -> (Option<i32>, String) {
    let out = Command::new(cargo_bin("riskpool"))
        .current_dir(dir)
        .args(["check", file])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    )
}

#[test]
fn every_bad_input_exits_2_with_its_message() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut files: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    let tapes = std::fs::read_dir(corpus().join("tapes")).unwrap().count();
    assert!(
        files.len() + tapes >= 50,
        "the corpus has {} files",
        files.len() + tapes
    );
    let mut failures = Vec::new();
    for file in &files {
        let (code, stderr) = check(&corpus(), file);
        assert!(!stderr.contains("panicked"), "{file} panicked: {stderr}");
        assert_eq!(code, Some(2), "{file}: exit status {code:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{file}: one line: {stderr}");
        let snapshot = corpus().join(file.replace(".toml", ".stderr"));
        if update {
            std::fs::write(&snapshot, format!("{stderr}\n")).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&snapshot).unwrap_or_else(|_| {
            panic!(
                "no snapshot {}; run with UPDATE_SNAPSHOTS=1",
                snapshot.display()
            )
        });
        if want.trim_end() != stderr {
            failures.push(format!(
                "{file}:\n  expected: {}\n  got:      {stderr}",
                want.trim_end()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "messages changed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn inputs_made_on_the_spot_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A directory where a file should be.
    std::fs::create_dir(d.join("dir.toml")).unwrap();
    let (code, err) = check(d, "dir.toml");
    assert_eq!(code, Some(2));
    assert_eq!(err, "error: dir.toml: is a directory, not a scenario file");
    // A missing file.
    let (code, err) = check(d, "nowhere.toml");
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "error: nowhere.toml: cannot read the scenario file: no such file"
    );
    // A huge file: 30 MB of comments and then junk.
    let mut huge = String::with_capacity(31_000_000);
    while huge.len() < 30_000_000 {
        huge.push_str("# a comment line to make the file big, nothing else\n");
    }
    huge.push_str("this is not toml\n");
    std::fs::write(d.join("huge.toml"), &huge).unwrap();
    let (code, err) = check(d, "huge.toml");
    assert_eq!(code, Some(2));
    assert!(err.starts_with("error: huge.toml:"), "{err}");
    // An unreadable file (root reads everything: skipped then).
    let locked = d.join("locked.toml");
    std::fs::write(&locked, "[scenario]\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&locked).is_err() {
            let (code, err) = check(d, "locked.toml");
            assert_eq!(code, Some(2));
            assert!(err.contains("permission denied"), "{err}");
        } else {
            eprintln!("SKIPPED: running as root, an unreadable file cannot be made");
        }
    }
}
