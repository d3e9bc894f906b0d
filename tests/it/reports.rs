//! What a fund manager looks at: charts (valid SVG with titles and labelled
//! axes), CSV tables, `report` re-printing a saved result, and the HTML page
//! opened in a real headless browser.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

fn riskpool() -> Command {
    Command::cargo_bin("riskpool").unwrap()
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// Runs guangzhou-2017 with every output into `dir`.
fn run_all(dir: &Path) -> String {
    let out = riskpool()
        .args(["run", "--paths", "20000"])
        .arg(scenario("guangzhou-2017.toml"))
        .arg("--json")
        .arg(dir.join("r.json"))
        .arg("--csv")
        .arg(dir.join("csv"))
        .arg("--plots")
        .arg(dir.join("plots"))
        .arg("--html")
        .arg(dir.join("report.html"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of every `<text>` element of an SVG document, after checking it
/// parses as XML with an `<svg>` root.
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not valid XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

#[test]
fn charts_are_valid_svg_with_titles_and_labelled_axes() {
    let dir = tempfile::tempdir().unwrap();
    run_all(dir.path());
    let plots = dir.path().join("plots");
    let expect: [(&str, &[&str]); 4] = [
        (
            "claims-distribution.svg",
            &[
                "Guangzhou 2017 credit plan: total claims on the pool",
                "Total claims over 3 ledger years (million yuan)",
                "Chance of exceeding (log scale)",
                "pool money 1000",
            ],
        ),
        (
            "depletion-by-year.svg",
            &[
                "chance the pool has run dry",
                "By the end of ledger year",
                "95% interval",
            ],
        ),
        (
            "balance-fan.svg",
            &[
                "percentiles by year",
                "Balance (million yuan)",
                "median",
                "5% to 95%",
            ],
        ),
        (
            "es99-contributions.svg",
            &[
                "shares of the 99% expected shortfall",
                "segment biomedicine",
                "Share of ES99",
            ],
        ),
    ];
    for (file, needles) in expect {
        let texts = svg_texts(&plots.join(file));
        for needle in needles {
            assert!(
                texts.iter().any(|t| t.contains(needle)),
                "{file} lacks {needle:?}: {texts:?}"
            );
        }
    }
}

#[test]
fn csv_tables_hold_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    run_all(dir.path());
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let read = |name: &str| {
        let mut rd = csv::Reader::from_path(dir.path().join("csv").join(name)).unwrap();
        let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = rd
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    };
    let (h, rows) = read("totals.csv");
    assert_eq!(h[0], "quantity");
    assert_eq!(h[1], "mean");
    let claims = rows.iter().find(|r| r[0] == "claims").unwrap();
    let mean: f64 = claims[1].parse().unwrap();
    // serde_json's reader may round the last bit; the CSV is exact.
    let json = r["totals"]["claims"]["mean"].as_f64().unwrap();
    assert!((mean / json - 1.0).abs() < 1e-15, "{mean} vs {json}");
    let (h, rows) = read("by_year.csv");
    assert_eq!(&h[..2], ["year", "quantity"]);
    assert!(
        rows.iter()
            .any(|r| r[0] == "3" && r[1] == "depleted_by_year_end")
    );
    let (_, rows) = read("by_segment.csv");
    assert_eq!(rows.iter().filter(|r| r[1] == "claims").count(), 4);
    let (_, rows) = read("by_bank.csv");
    assert!(rows.iter().any(|r| r[1] == "suspended_probability"));
}

#[test]
fn report_reprints_a_saved_result_and_draws_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let printed = run_all(dir.path());
    let out = riskpool()
        .arg("report")
        .arg(dir.path().join("r.json"))
        .arg("--plots")
        .arg(dir.path().join("again"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let again = String::from_utf8(out.stdout).unwrap();
    // The same summary (everything before the list of files written).
    let summary = |s: &str| s.split("Written:").next().unwrap().to_string();
    assert_eq!(summary(&again), summary(&printed));
    for f in ["claims-distribution.svg", "balance-fan.svg"] {
        assert_eq!(
            std::fs::read(dir.path().join("again").join(f)).unwrap(),
            std::fs::read(dir.path().join("plots").join(f)).unwrap(),
            "{f} drawn from the saved result differs"
        );
    }
    // Not a result file: exit 2 with a message naming it.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"something else\"}").unwrap();
    let out = riskpool().arg("report").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));
    std::fs::write(&bad, "{ not json").unwrap();
    let out = riskpool().arg("report").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json:1:"));
}

/// Debian's chromium, if this machine has it (`.ci/run` installs it).
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Process::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
}

#[test]
fn html_report_is_self_contained_and_opens_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    run_all(dir.path());
    let page_path = dir.path().join("report.html");
    let html = std::fs::read_to_string(&page_path).unwrap();
    // Self-contained: no scripts, nothing fetched (the SVG namespace is a
    // name, not a download).
    assert!(!html.contains("<script"));
    let fetched = html
        .replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xlink", "");
    assert!(!fetched.contains("http://") && !fetched.contains("https://"));
    assert!(!html.contains("<img") && !html.contains("<link"));
    assert_eq!(html.matches("<svg").count(), 4, "four charts inline");

    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: no chromium on this machine (apt-get install chromium; .ci/run installs it)"
        );
        return;
    };
    let url = format!("file://{}", page_path.display());
    let shot = dir.path().join("page.png");
    let headless = |extra: &[&str]| {
        Process::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let out = headless(&[
        "--window-size=1100,3000",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 50_000,
        "a nearly empty screenshot: {} bytes",
        png.len()
    );
    // The page as the browser parsed it.
    let dom = headless(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for needle in [
        "Guangzhou 2017 credit plan",
        "The scenario",
        "Chance the pool runs dry within 3 years",
        "10.00 billion yuan",
        "When the pool runs dry",
        "By segment, means in million yuan",
        "biomedicine",
        "total claims on the pool",
    ] {
        assert!(dom.contains(needle), "the rendered page lacks {needle:?}");
    }
}

#[test]
fn sweep_charts_are_a_curve_for_one_key_and_a_heatmap_for_two() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |varies: &[&str], plots: &str| {
        let mut cmd = riskpool();
        cmd.arg("sweep").arg(scenario("guangzhou-2017.toml"));
        for v in varies {
            cmd.args(["--vary", v]);
        }
        let out = cmd
            .args(["--paths", "4000", "--quiet", "--plots"])
            .arg(d.join(plots))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        svg_texts(&d.join(plots).join("sweep.svg"))
    };
    let curve = run(&["pool.initial_balance=6e8,8e8,1e9"], "one");
    for needle in [
        "chance the pool runs dry, by pool.initial_balance",
        "pool.initial_balance (million yuan)",
        "95% interval",
    ] {
        assert!(
            curve.iter().any(|t| t.contains(needle)),
            "curve lacks {needle:?}: {curve:?}"
        );
    }
    let heat = run(
        &[
            "pool.initial_balance=6e8,1e9",
            "segment.biomedicine.pd=0.04,0.08",
        ],
        "two",
    );
    for needle in [
        "darker is likelier",
        "pool.initial_balance",
        "segment.biomedicine.pd",
        "0.08",
        "6e8",
    ] {
        assert!(
            heat.iter().any(|t| t.contains(needle)),
            "heatmap lacks {needle:?}: {heat:?}"
        );
    }
    // Four cells, each labelled with its probability.
    assert_eq!(
        heat.iter().filter(|t| t.trim().ends_with('%')).count(),
        4,
        "{heat:?}"
    );
}
