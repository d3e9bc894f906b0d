//! Instruction-count benchmarks (gungraun on valgrind's callgrind): the
//! counts barely move from run to run, so CI can catch a slowdown of a few
//! percent on a noisy machine where wall-clock figures cannot.
//!
//! `.ci/run` runs them against the baseline committed in
//! `benches/instructions-baseline/` and fails when a count grows by more
//! than 5%. After an intended change in speed, record a new baseline with
//! `scripts/instructions-baseline.sh save` (see BENCHMARKS.md).
//!
//! Everything a benchmark needs (the model, warm tables, a warm sketch) is
//! built in its setup function, which is not counted.

use std::hint::black_box;
use std::path::Path;

use gungraun::{
    Callgrind, LibraryBenchmarkConfig, library_benchmark, library_benchmark_group, main,
};
use rand::SeedableRng;
use riskpool::engine::outcome::{Accumulator, BatchBuffer};
use riskpool::engine::path::Workspace;
use riskpool::engine::run_batch;
use riskpool::engine::sampler::{BinomialTable, PathRng};
use riskpool::model::Model;
use riskpool::stats::StatAcc;

/// Paths per end-to-end benchmark: whole batches, so the count covers the
/// batch set-up, the paths and the folding of their figures; enough of them
/// (32,768 paths) that settling the run weighs a few percent and a change
/// in the cost of a path shows nearly in full.
const PLAN_BATCHES: u64 = 32;

fn model(file: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let sc = riskpool::scenario::load(&path, &[]).expect("shipped scenario");
    Model::build(&sc).expect("shipped scenario")
}

struct Run {
    model: Model,
    ws: Workspace,
    acc: Accumulator,
    buffer: BatchBuffer,
}

/// The model of `file`, with its tables and accumulators warmed by one
/// batch (tables and a sketch's buckets are made on first use: start-up
/// cost, not per-path cost). The batch stays in the accumulators, unsettled,
/// as earlier batches would be in a longer run.
fn warm_run(file: &str) -> Run {
    let model = model(file);
    let ws = Workspace::new(&model);
    let acc = Accumulator::new(&model);
    let buffer = BatchBuffer::new(acc.layout);
    let mut run = Run {
        model,
        ws,
        acc,
        buffer,
    };
    run_batch(
        &run.model,
        1,
        1_000,
        u64::MAX,
        &mut run.ws,
        &mut run.acc,
        &mut run.buffer,
    );
    run
}

// Batches of paths of a shipped scenario on one thread, with their figures
// folded into the accumulators and settled.
#[library_benchmark]
#[bench::plan_2017(args = ("bench-plan-2017.toml"), setup = warm_run)]
fn end_to_end(mut run: Run) -> Accumulator {
    for b in 0..PLAN_BATCHES {
        run_batch(
            &run.model,
            1,
            b,
            u64::MAX,
            &mut run.ws,
            &mut run.acc,
            &mut run.buffer,
        );
    }
    run.acc.settle();
    black_box(run.acc)
}

// One batch of the 100,000-loan portfolio.
#[library_benchmark]
#[bench::loans_100k(args = ("bench-100k.toml"), setup = warm_run)]
fn large_portfolio(mut run: Run) -> Accumulator {
    run_batch(
        &run.model,
        1,
        0,
        u64::MAX,
        &mut run.ws,
        &mut run.acc,
        &mut run.buffer,
    );
    run.acc.settle();
    black_box(run.acc)
}

/// A table of 500 loans with every slice near the typical factors built.
fn warm_table(n: u32) -> (BinomialTable, Vec<f64>) {
    let table = BinomialTable::new(n);
    let xs: Vec<f64> = (0..10_000)
        .map(|i| -2.6 + 1.4 * f64::from(i) / 10_000.0)
        .collect();
    let mut rng = PathRng::seed_from_u64(7);
    for &x in &xs {
        table.sample(x, &mut rng);
    }
    (table, xs)
}

// 10,000 exact Binomial draws of 500 loans at conditional PDs around 1%.
#[library_benchmark]
#[bench::loans_500(args = (500), setup = warm_table)]
fn binomial_draws((table, xs): (BinomialTable, Vec<f64>)) -> u64 {
    let mut rng = PathRng::seed_from_u64(3);
    let mut total = 0u64;
    for &x in &xs {
        total += u64::from(table.sample(x, &mut rng));
    }
    black_box(total)
}

/// A warm sketch and 16,384 values spread over four factors of two.
fn warm_sketch(n: usize) -> (StatAcc, Vec<f64>, Vec<f64>) {
    let values: Vec<f64> = (0..n as u64)
        .map(|i| {
            let u = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
            1e8 * 16f64.powf(u)
        })
        .collect();
    let weights = vec![1.0; values.len()];
    let mut acc = StatAcc::new(0.0);
    acc.add_batch(&values, &weights);
    acc.settle();
    (acc, values, weights)
}

// Folding 16,384 values into a warm statistic (moments and sketch).
#[library_benchmark]
#[bench::values_16k(args = (16_384), setup = warm_sketch)]
fn statistic((mut acc, values, weights): (StatAcc, Vec<f64>, Vec<f64>)) -> StatAcc {
    acc.add_batch(&values, &weights);
    acc.settle();
    black_box(acc)
}

library_benchmark_group!(
    name = engine;
    benchmarks = end_to_end, large_portfolio, binomial_draws, statistic
);

// No limits here: `scripts/instructions-baseline.sh check` sets the 5%
// limit on instructions against the committed baseline. A plain `cargo bench`
// or the smoke run of `cargo test --benches` (another profile, other counts)
// only reports.
main!(
    config = LibraryBenchmarkConfig::default()
        .tool(Callgrind::default());
    library_benchmark_groups = engine
);
