//! Same scenario and seed: bit-identical results at any thread count and
//! for any split of the batches.

use riskpool::engine::{self, Accumulator, NoProgress, RunOptions};

use crate::{model_of, run_text};

fn shipped() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/guangzhou-2017.toml"
    ))
    .unwrap()
}

fn without_run(r: &riskpool::result::RunResult) -> String {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("run");
    serde_json::to_string(&v).unwrap()
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let text = shipped();
    let first = run_text(&text, 20_000, 7, Some(1));
    // Importance-sampled (`auto`): the pilot and the weights too.
    assert_eq!(first.method, "importance");
    let one = without_run(&first);
    let plain = text.replace("[simulation]", "[simulation]\nmethod = \"plain\"");
    assert_ne!(one, without_run(&run_text(&plain, 20_000, 7, Some(1))));
    for threads in [2, 3, 8] {
        assert_eq!(
            one,
            without_run(&run_text(&text, 20_000, 7, Some(threads))),
            "{threads} threads"
        );
    }
}

#[test]
fn results_do_not_depend_on_how_batches_are_split() {
    let model = model_of(&shipped());
    let paths = 10_000; // ten batches, the last one short
    let opts = |batches, threads| RunOptions {
        paths,
        seed: 9,
        threads: Some(threads),
        batches,
    };
    let plan = engine::importance::plan(&model, 9, Some(2)).unwrap();
    assert!(plan.importance);
    for mixture in [None, Some(&plan.mixture)] {
        let run = |batches, threads| {
            engine::simulate_shifted(&model, &opts(batches, threads), mixture, &NoProgress).unwrap()
        };
        let whole = run(None, 2);
        for cut in [1, 4, 9] {
            let a = run(Some(0..cut), 1);
            let b = run(Some(cut..10), 2);
            let mut merged = Accumulator::new(&model);
            merged.merge(&b);
            merged.merge(&a);
            assert_eq!(merged, whole, "split at batch {cut}");
        }
    }
}

#[test]
fn another_seed_gives_other_paths_but_the_same_portfolio() {
    let text = shipped();
    let a = run_text(&text, 5_000, 1, Some(2));
    let b = run_text(&text, 5_000, 2, Some(2));
    assert_ne!(a.totals.claims.mean, b.totals.claims.mean);
    assert_eq!(a.portfolio, b.portfolio);
    assert_eq!(a.scenario.sha256, b.scenario.sha256);
}
