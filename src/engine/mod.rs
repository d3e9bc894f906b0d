//! The Monte Carlo engine: fixed-size batches of paths on rayon, each batch
//! with its own portable random stream, merged exactly.
//!
//! This is the only module that names a random number generator. Batch `b`
//! of a run with seed `s` reads `ChaCha8Rng::seed_from_u64(s)` on stream `b`
//! and holds paths `b * BATCH_PATHS ..` of the run; each path takes a 256-bit
//! seed per year from that stream, in order, and draws the year from a
//! Xoshiro256++ generator with it (see [`path::Workspace::simulate`]). A batch's figures
//! depend only on `(model, s, b)`; accumulators merge exactly; so the result
//! is bit-identical at any thread count and for any split of the batches.
//! The engine does no IO and reads no clock.

pub mod importance;
pub mod outcome;
pub mod path;
pub mod sampler;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use crate::error::Error;
use crate::model::Model;
pub use outcome::{Accumulator, BatchBuffer, Layout, PathOutcome};
use path::Workspace;

/// Paths per batch. Part of what fixes the values for a seed: changing it
/// changes results (a CHANGELOG entry).
pub const BATCH_PATHS: u64 = 1024;

/// The random generator, named for result files.
pub const GENERATOR: &str = "ChaCha8Rng (rand 0.10.4): seed_from_u64(seed), stream = batch index, gives each path 32 bytes per year in order; each path-year draws from Xoshiro256PlusPlus::from_seed(those bytes)";

/// Receives progress as batches complete. Methods default to doing nothing.
pub trait Progress: Sync {
    /// `paths` more paths are done.
    fn advance(&self, _paths: u64) {}
}

/// A progress observer that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Paths in the whole run.
    pub paths: u64,
    /// Master seed.
    pub seed: u64,
    /// Worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// The batches to run (`None`: all of them).
    pub batches: Option<Range<u64>>,
}

/// The worker threads a run uses: as requested (at most 1,024), or one per
/// core.
pub fn thread_count(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, 1024)
}

/// Number of batches of a run of `paths` paths.
pub fn batch_count(paths: u64) -> u64 {
    paths.div_ceil(BATCH_PATHS)
}

/// The paths of batch `b` in a run of `paths` paths.
pub fn batch_paths(b: u64, paths: u64) -> Range<u64> {
    let start = b * BATCH_PATHS;
    start..(start + BATCH_PATHS).min(paths)
}

/// Runs batch `b`: its paths, into `acc`, using `ws` and `buffer` as scratch
/// (the same batch always gives the same figures, whoever runs it).
pub fn run_batch(
    model: &Model,
    seed: u64,
    b: u64,
    paths: u64,
    ws: &mut Workspace,
    acc: &mut Accumulator,
    buffer: &mut BatchBuffer,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(b);
    for _ in batch_paths(b, paths) {
        ws.simulate(model, &mut rng);
        acc.add(&ws.out, ws.weight(), buffer);
    }
    acc.flush(buffer);
}

/// Simulates the requested batches and returns the merged accumulators
/// (plain sampling).
pub fn simulate(
    model: &Model,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<Accumulator, Error> {
    simulate_shifted(model, opts, None, progress)
}

/// A pool of `threads` worker threads.
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, Error> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Failure(format!("cannot start {threads} worker threads: {e}")))
}

/// Like [`simulate`], with the global factor's yearly innovations drawn
/// from `mixture` (importance sampling, see [`importance`]) when it is
/// given: every path then carries its likelihood ratio as its weight.
pub fn simulate_shifted(
    model: &Model,
    opts: &RunOptions,
    mixture: Option<&path::Mixture>,
    progress: &dyn Progress,
) -> Result<Accumulator, Error> {
    simulate_saving(model, opts, mixture, None, progress)
}

/// Saves a settled accumulator holding exactly the given batches.
pub type SaveFn<'a> = dyn Fn(&Accumulator, &[Range<u64>]) -> Result<(), Error> + Sync + 'a;

/// Where a run saves its completed batches as it goes, and which batches
/// an earlier attempt already completed (see `crate::checkpoint`).
pub struct Saving<'a> {
    /// Batches of the run already done (their figures are the caller's).
    pub done: &'a (dyn Fn(u64) -> bool + Sync),
    /// Saves a settled accumulator holding exactly the batches `ranges`.
    pub save: &'a SaveFn<'a>,
    /// How often each worker saves what it has done.
    pub every: std::time::Duration,
}

/// Like [`simulate_shifted`], skipping the batches `saving` says are done
/// and saving the others as they complete. The accumulator returned holds
/// only the batches this call ran.
pub fn simulate_saving(
    model: &Model,
    opts: &RunOptions,
    mixture: Option<&path::Mixture>,
    saving: Option<&Saving>,
    progress: &dyn Progress,
) -> Result<Accumulator, Error> {
    let all = 0..batch_count(opts.paths);
    let range = opts.batches.clone().unwrap_or(all);
    let threads = thread_count(opts.threads);
    let pool = thread_pool(threads)?;
    let next = AtomicU64::new(range.start);
    let end = range.end;
    let failed: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let parts: Vec<Accumulator> = pool.broadcast(|_| {
        let mut acc = Accumulator::new(model);
        let mut ws = Workspace::new(model);
        if let Some(mixture) = mixture {
            ws.set_mixture(mixture);
        }
        let mut buffer = BatchBuffer::new(acc.layout);
        // Under checkpointing: the batches run since the last save.
        let mut chunk: Option<(Accumulator, Vec<Range<u64>>)> = None;
        let mut last_save = std::time::Instant::now();
        let save = |chunk: &mut Option<(Accumulator, Vec<Range<u64>>)>, acc: &mut Accumulator| {
            if let (Some(s), Some((c, ranges))) = (saving, chunk.take()) {
                let mut c = c;
                c.settle();
                if let Err(e) = (s.save)(&c, &ranges) {
                    stop.store(true, Ordering::Relaxed);
                    let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
                    f.get_or_insert(e);
                }
                acc.merge(&c);
            }
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= end {
                break;
            }
            if let Some(s) = saving {
                if (s.done)(b) {
                    progress.advance(batch_paths(b, opts.paths).count() as u64);
                    continue;
                }
                let (c, ranges) =
                    chunk.get_or_insert_with(|| (Accumulator::new(model), Vec::new()));
                run_batch(model, opts.seed, b, opts.paths, &mut ws, c, &mut buffer);
                match ranges.last_mut() {
                    Some(r) if r.end == b => r.end = b + 1,
                    _ => ranges.push(b..b + 1),
                }
                if last_save.elapsed() >= s.every {
                    save(&mut chunk, &mut acc);
                    last_save = std::time::Instant::now();
                }
            } else {
                run_batch(
                    model,
                    opts.seed,
                    b,
                    opts.paths,
                    &mut ws,
                    &mut acc,
                    &mut buffer,
                );
            }
            progress.advance(batch_paths(b, opts.paths).count() as u64);
        }
        save(&mut chunk, &mut acc);
        acc.settle();
        acc
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut total = Accumulator::new(model);
    for part in parts {
        total.merge_owned(part);
    }
    Ok(total)
}
