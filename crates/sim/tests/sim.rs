//! The simulation's seeds: a sweep of many (`FIELDNOTES_SIM_SEEDS`, or one seed with
//! `FIELDNOTES_SIM_SEED`), the seeds that once found bugs, and a check that the invariants can
//! fail.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use fieldnotes_sim::{Options, Run, Sabotage, SimError, Stats, run_seed};

/// Seeds the sweep runs when `FIELDNOTES_SIM_SEEDS` does not say.
const DEFAULT_SEEDS: u64 = 2_000;

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={value:?} is not a number"),
    }
}

fn run(seed: u64) -> Run {
    run_with(seed, Options::default())
}

fn run_with(seed: u64, options: Options) -> Run {
    match run_seed(seed, options) {
        Ok(run) => run,
        Err(failure) => panic!("{failure}"),
    }
}

/// Children may go back to a worker who had them (`Options::returns`).
fn with_returns() -> Options {
    Options {
        returns: true,
        ..Options::default()
    }
}

/// `FIELDNOTES_SIM_SEEDS`: `N` for seeds `0..N`, or `A..B`.
fn seeds_from_env() -> Range<u64> {
    if let Some(seed) = env_u64("FIELDNOTES_SIM_SEED") {
        return seed..seed + 1;
    }
    let Ok(value) = std::env::var("FIELDNOTES_SIM_SEEDS") else {
        return 0..DEFAULT_SEEDS;
    };
    let number = |s: &str| -> u64 {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("FIELDNOTES_SIM_SEEDS={value:?} is not N or A..B"))
    };
    match value.split_once("..") {
        Some((from, to)) => number(from)..number(to),
        None => 0..number(&value),
    }
}

/// How many seeds run at once: `FIELDNOTES_SIM_THREADS`, or one per core. Each seed is a
/// world of its own (its own runtime, database and clock), so the order they finish in changes
/// nothing.
fn sweep_threads() -> usize {
    env_u64("FIELDNOTES_SIM_THREADS")
        .and_then(|n| usize::try_from(n).ok())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1)
}

/// What a sweep found: the counts of the seeds that passed, and each failing seed with what
/// it printed.
#[derive(Default)]
struct Sweep {
    total: Stats,
    failed: Vec<(u64, String)>,
}

/// Run `seeds` on `threads` workers. Unless `keep_going`, workers stop taking seeds after the
/// first failure. A seed that panics is a failure of that seed, not of the sweep.
fn sweep(seeds: Range<u64>, options: Options, threads: usize, keep_going: bool) -> Sweep {
    let next = AtomicU64::new(seeds.start);
    let stop = AtomicBool::new(false);
    let found = Mutex::new(Sweep::default());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let outcome = catch_unwind(AssertUnwindSafe(|| run_seed(seed, options)));
                    let failure = match outcome {
                        Ok(Ok(run)) => {
                            lock(&found).total.add(&run.stats);
                            continue;
                        }
                        Ok(Err(failure)) => failure.to_string(),
                        Err(panic) => {
                            format!("simulation seed {seed} panicked: {}", panic_text(&*panic))
                        }
                    };
                    if !keep_going {
                        stop.store(true, Ordering::Relaxed);
                    }
                    lock(&found).failed.push((seed, failure));
                }
            });
        }
    });
    let mut found = found.into_inner().unwrap_or_else(PoisonError::into_inner);
    found.failed.sort_by_key(|(seed, _)| *seed);
    found
}

fn lock(sweep: &Mutex<Sweep>) -> std::sync::MutexGuard<'_, Sweep> {
    sweep.lock().unwrap_or_else(PoisonError::into_inner)
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Seeds `0..FIELDNOTES_SIM_SEEDS` (or the one seed `FIELDNOTES_SIM_SEED`), each a whole run,
/// one per core at a time.
#[test]
fn seeded_schedules_keep_every_invariant() {
    let seeds = seeds_from_env();
    // Triage: run every seed and list the failures at the end rather than stop at the first.
    let keep_going = std::env::var_os("FIELDNOTES_SIM_KEEP_GOING").is_some();
    // Children going back to earlier workers: on unless `FIELDNOTES_SIM_RETURNS=0`.
    let options = Options {
        returns: std::env::var("FIELDNOTES_SIM_RETURNS").map_or(true, |v| v.trim() != "0"),
        ..Options::default()
    };
    let threads = sweep_threads();
    let started = Instant::now();
    let count = seeds.end - seeds.start;
    let Sweep { total, failed } = sweep(seeds, options, threads, keep_going);
    eprintln!(
        "simulation: {count} seeds on {threads} threads in {:.1} s: {total:?}",
        started.elapsed().as_secs_f64()
    );
    if let Some((_, first)) = failed.first() {
        let seeds: Vec<u64> = failed.iter().map(|(seed, _)| *seed).collect();
        panic!("failing seeds: {seeds:?}; the first:\n{first}");
    }
    assert!(total.syncs > 0 && total.edits > 0, "{total:?}");
}

/// A seed replays exactly: the same schedule, the same answers, the same end state.
#[test]
fn a_seed_replays_the_same_run() {
    for seed in [7, 4242] {
        let (first, second) = (run(seed), run(seed));
        assert_eq!(first.trace, second.trace, "seed {seed}");
        assert_eq!(first.stats, second.stats, "seed {seed}");
    }
}

// Two bugs the simulation found are pinned elsewhere, because the schedules that found them
// (seed 138, and seed 3358 of the first schedule generator) changed when children stopped going
// back to earlier workers by default: a key leaving the scope mid-backfill
// (`tests/tests/scope_e2e.rs`, `a_child_moved_away_mid_backfill_is_removed`) and a key fetched
// again without the device's own later changes (the store's conformance suite,
// `a_key_fetched_again_brings_the_devices_own_later_changes`). Both fail without their fix.

/// Seed 14: after a restore a device sent a lost change again after one built on it (the
/// healing check puts lost changes back at the end of the outbox); the server stored them in
/// the order sent, and a device fetching the record for the first time got a change before its
/// history. The model's merge step now hands new changes out in causal order.
#[test]
fn seed_14_changes_sent_out_of_order_reach_others_in_causal_order() {
    run(14);
}

/// Seed 80: a child moved away just after a restore. The answer that said the server had lost
/// work also removed the child's records from the device, before the device had checked them
/// for changes the server lost: one of its acknowledged changes was gone for good. The sync
/// core now removes nothing while the check runs, and keeps such keys listed so that the
/// server names them again.
#[test]
fn seed_80_nothing_is_removed_before_the_restore_check() {
    run(80);
}

/// Seed 1533: a document waiting for another device's changes (lost in a restore) took the
/// request's whole work budget before it was deferred, so the other document of the request was
/// deferred "over budget" in every round: the sync never finished. The server now gives back
/// the budget of a document it defers for missing changes.
#[test]
fn seed_1533_a_waiting_document_does_not_starve_the_request() {
    run(1533);
}

/// Seed 252: after a restore two devices each re-sent a note's changes, each set holding one
/// change built on a change of the other's; the server deferred each whole push for its one
/// waiting change, so each device waited for the other for ever. The merge step now takes the
/// changes that are ready and leaves only the waiting ones on the device.
#[test]
fn seed_252_devices_never_wait_for_each_other() {
    run(252);
}

/// Seed 452 (children going back to earlier workers): a child moved away from a worker whose
/// device still had an edit to send about it. The device kept listing the child's key until
/// the edit was sent, and the child came back first: the server, seeing the key listed, sent
/// no history, so the device missed what the other worker wrote meanwhile (the feed skips a
/// key while it is out of scope) and could not load a record it then got only newer changes
/// of. A device now stops listing a key whose removal waits (`Effect::StartRemoval`), so a
/// return is a new scope to the server and brings the whole history.
#[test]
fn seed_452_a_child_back_before_its_removal_finished_brings_its_history() {
    run_with(452, with_returns());
}

/// Seed 1539: the same bug by another schedule (a removal still waiting when the child came
/// back, and a record of it the device then could not load).
#[test]
fn seed_1539_a_returning_child_is_fetched_in_full() {
    run_with(1539, with_returns());
}

/// The checks are not vacuous: a store that drops every outbox change of a document when one
/// of them is acknowledged loses changes, and some seed catches it.
#[test]
fn a_store_that_drops_unacknowledged_changes_is_caught() {
    let options = Options {
        sabotage: Some(Sabotage::AcknowledgeByDocument),
        ..Options::default()
    };
    let caught = (0..50).find_map(|seed| run_seed(seed, options).err());
    let failure = caught.expect("no seed caught a store that loses changes");
    assert!(
        matches!(&failure.error, SimError::Invariant(m) if m.contains("lost")),
        "{failure}"
    );
    assert!(failure.to_string().contains("FIELDNOTES_SIM_SEED="));
}
