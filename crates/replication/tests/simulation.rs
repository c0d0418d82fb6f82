#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Seeded, replayable simulation of one partition with three replicas and a controller,
//! driving the `state` machines (see `sim/mod.rs` for what it models and `sim/check.rs`
//! for what it checks). Replay one run with `SIM_SEED=<seed>`; `SIM_SEEDS` and `SIM_STEPS`
//! widen the search.

mod sim;

use std::time::Instant;

use sim::{Faults, SimConfig, Stats, run};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn seeds() -> Vec<u64> {
    match env_u64("SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("SIM_SEEDS").unwrap_or(200)).collect(),
    }
}

fn config(faults: Faults) -> SimConfig {
    SimConfig {
        steps: env_u64("SIM_STEPS").unwrap_or(2_000),
        faults,
    }
}

#[test]
fn replication_never_loses_acknowledged_records() {
    let started = Instant::now();
    let mut total = Stats::default();
    for seed in seeds() {
        match run(seed, config(Faults::default())) {
            Ok(stats) => {
                total.appended += stats.appended;
                total.acked += stats.acked;
                total.rejected += stats.rejected;
                total.elections += stats.elections;
                total.truncations += stats.truncations;
                total.crashes += stats.crashes;
                total.partitions += stats.partitions;
                total.isr_proposals += stats.isr_proposals;
                total.state_errors += stats.state_errors;
                total.committed += stats.committed;
            }
            Err(violation) => panic!(
                "seed {seed}: {violation}\nreplay: SIM_SEED={seed} cargo test -p streambus-replication --test simulation"
            ),
        }
    }
    println!("{total:?} in {:?}", started.elapsed());
    // The runs must exercise what they claim to.
    assert!(total.acked > 0 && total.elections > 0 && total.truncations > 0);
}

#[test]
fn a_seed_replays_identically() {
    let a = run(7, config(Faults::default())).unwrap();
    let b = run(7, config(Faults::default())).unwrap();
    assert_eq!(a, b);
}

/// Runs seeds with a rule broken until one violates a check; returns that violation.
fn first_violation(faults: Faults) -> String {
    for seed in 0..200 {
        if let Err(violation) = run(seed, config(faults)) {
            return format!("seed {seed}: {violation}");
        }
    }
    panic!("no seed out of 200 caught {faults:?}");
}

#[test]
fn checks_catch_an_out_of_isr_election() {
    let caught = first_violation(Faults {
        elect_out_of_isr: true,
        ..Faults::default()
    });
    println!("caught: {caught}");
}

#[test]
fn checks_catch_skipped_truncation() {
    let caught = first_violation(Faults {
        skip_truncation: true,
        ..Faults::default()
    });
    println!("caught: {caught}");
}
