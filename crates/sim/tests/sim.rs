//! The simulation's seeds: a sweep of many (`FIELDNOTES_SIM_SEEDS`, or one seed with
//! `FIELDNOTES_SIM_SEED`), the seeds that once found bugs, and a check that the invariants can
//! fail.

use std::ops::Range;
use std::time::Instant;

use fieldnotes_sim::{Options, Run, Sabotage, SimError, Stats, run_seed};

/// Seeds the sweep runs when `FIELDNOTES_SIM_SEEDS` does not say.
const DEFAULT_SEEDS: u64 = 1_000;

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

/// Seeds `0..FIELDNOTES_SIM_SEEDS` (or the one seed `FIELDNOTES_SIM_SEED`), each a whole run.
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
    let started = Instant::now();
    let mut total = Stats::default();
    let mut failed = Vec::new();
    let count = seeds.end - seeds.start;
    for seed in seeds {
        match run_seed(seed, options) {
            Ok(run) => total.add(&run.stats),
            Err(failure) if keep_going => {
                eprintln!("seed {seed}: {}", failure.error);
                failed.push(seed);
            }
            Err(failure) => panic!("{failure}"),
        }
    }
    eprintln!(
        "simulation: {count} seeds in {:.1} s: {total:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
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
