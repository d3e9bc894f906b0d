//! Runs paths of a scenario on one thread, for profilers (perf, callgrind):
//! `cargo run --release --example profile_paths -- scenarios/bench-plan-2017.toml 100000`.
//! Prints the paths simulated; the result is discarded.

use riskpool::engine::{self, NoProgress, RunOptions};
use riskpool::model::Model;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .unwrap_or_else(|| "scenarios/bench-plan-2017.toml".to_string());
    let paths: u64 = args.next().and_then(|p| p.parse().ok()).unwrap_or(100_000);
    let sc = match riskpool::scenario::load(std::path::Path::new(&file), &[]) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let model = match Model::build(&sc) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let opts = RunOptions {
        paths,
        seed: 1,
        threads: Some(1),
        batches: None,
    };
    match engine::simulate(&model, &opts, &NoProgress) {
        Ok(acc) => println!("{} paths", acc.paths),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
