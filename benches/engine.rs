//! Criterion benchmarks: the plan-2017 workload and the 100,000-loan
//! portfolio end to end (paths per second) and the kernels of the hot loop. `cargo bench --bench engine`;
//! BENCHMARKS.md records the figures. `cargo test --benches` runs each once
//! as a smoke test.

use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use riskpool::engine::outcome::{Accumulator, BatchBuffer};
use riskpool::engine::path::Workspace;
use riskpool::engine::sampler::{BinomialTable, PathRng};
use riskpool::engine::{self, NoProgress, RunOptions};
use riskpool::model::Model;
use riskpool::stats::StatAcc;

fn model(file: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let sc = riskpool::scenario::load(&path, &[]).expect("shipped scenario");
    Model::build(&sc).expect("shipped scenario")
}

/// Runs long enough that a run's fixed costs (worker threads, the
/// accumulators' first buckets, settling and merging them) weigh a few
/// percent, as in the runs users make: a 32,768-path plan-2017 run spends
/// about a third of its time on them.
fn end_to_end(c: &mut Criterion) {
    for (file, name, paths) in [
        ("bench-plan-2017.toml", "plan-2017", 262_144u64),
        ("bench-100k.toml", "loans-100k", 16_384),
    ] {
        one_scenario(c, file, name, paths);
    }
}

/// Paths per second of a shipped scenario on 1 and 2 threads, tables built
/// (a first run builds them; what is measured is the steady state).
fn one_scenario(c: &mut Criterion, file: &str, name: &str, paths: u64) {
    let m = model(file);
    let warm = RunOptions {
        paths,
        seed: 2,
        threads: Some(1),
        batches: None,
    };
    engine::simulate(&m, &warm, &NoProgress).expect("simulation");
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(paths));
        g.bench_function(format!("paths/{threads}-thread"), |b| {
            let opts = RunOptions {
                paths,
                seed: 1,
                threads: Some(threads),
                batches: None,
            };
            b.iter(|| engine::simulate(&m, &opts, &NoProgress).expect("simulation"));
        });
    }
    g.finish();
}

fn kernels(c: &mut Criterion) {
    let m = model("bench-plan-2017.toml");
    let mut g = c.benchmark_group("kernels");
    g.throughput(Throughput::Elements(1));

    // The random numbers a path uses: one 64-bit Xoshiro256++ number, and
    // one path-year's generator seeded from 32 bytes of the batch's ChaCha8
    // stream (BENCHMARKS.md, the RNG-bound estimate).
    let mut x = PathRng::seed_from_u64(5);
    g.bench_function("xoshiro256pp-u64", |b| b.iter(|| black_box(x.next_u64())));
    let mut chacha = ChaCha8Rng::seed_from_u64(5);
    g.bench_function("path-year-generator", |b| {
        b.iter(|| {
            let mut seed = [0u8; 32];
            chacha.fill_bytes(&mut seed);
            black_box(PathRng::from_seed(seed))
        })
    });

    // One path of plan-2017: factors, defaults, ledger, figures.
    let mut ws = Workspace::new(&m);
    let mut stream = ChaCha8Rng::seed_from_u64(1);
    g.bench_function("path", |b| b.iter(|| ws.simulate(&m, &mut stream)));

    // Folding one path's figures into the accumulators.
    let mut acc = Accumulator::new(&m);
    let mut buffer = BatchBuffer::new(acc.layout);
    let mut n = 0;
    g.bench_function("accumulate", |b| {
        b.iter(|| {
            acc.add(&ws.out, 1.0, &mut buffer);
            n += 1;
            if n % 1024 == 0 {
                acc.flush(&mut buffer);
            }
        })
    });

    // The exact number of defaults of 500 loans at a typical factor.
    let table = BinomialTable::new(500);
    let mut rng = PathRng::seed_from_u64(2);
    g.bench_function("binomial-table-500", |b| {
        b.iter(|| table.sample(black_box(-1.9), &mut rng))
    });

    // Inserting 16,384 claims-like values, spread over four factors of two
    // in a scrambled order, into a sketch.
    let values: Vec<f64> = (0..16_384u64)
        .map(|i| {
            let u = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
            1e8 * 16f64.powf(u)
        })
        .collect();
    let weights = vec![1.0; values.len()];
    g.throughput(Throughput::Elements(values.len() as u64));
    // A warm sketch: its buckets already exist, as after the first batches.
    let mut warm = StatAcc::new(0.0);
    for _ in 0..4 {
        warm.add_batch(&values, &weights);
    }
    warm.settle();
    g.bench_function("sketch-16k", |b| {
        b.iter_batched(
            || warm.clone(),
            |mut s| {
                s.add_batch(&values, &weights);
                s.settle();
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, end_to_end, kernels);
criterion_main!(benches);
