//! Tests of `LeaderState`, asserting the effects of each event.

#![allow(clippy::unwrap_used)]

use super::*;

const LAG: i64 = 10_000;

fn leader(isr: &[ReplicaId], leo: i64, hw: i64, min_isr: usize) -> LeaderState {
    LeaderState::new(
        LeaderInit {
            leader: 1,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader_epoch: 5,
            partition_epoch: 7,
            log_end_offset: leo,
            high_watermark: hw,
        },
        LeaderConfig {
            replica_lag_time_max_ms: LAG,
            min_insync_replicas: min_isr,
        },
        0,
    )
    .unwrap()
}

fn proposal(new_isr: &[ReplicaId], partition_epoch: i32) -> LeaderEffect {
    LeaderEffect::ProposeIsr(IsrProposal {
        leader_epoch: 5,
        partition_epoch,
        new_isr: new_isr.to_vec(),
    })
}

#[test]
fn high_watermark_is_the_minimum_over_the_isr() {
    let mut l = leader(&[1, 2, 3], 10, 4, 2);
    // Followers' ends are unknown to a new leader: the watermark stays.
    assert_eq!(l.high_watermark(), 4);
    assert_eq!(l.on_append(12).unwrap(), vec![]);
    assert_eq!(l.on_follower_fetch(2, 12, 1).unwrap(), vec![]);
    assert_eq!(
        l.on_follower_fetch(3, 8, 1).unwrap(),
        vec![LeaderEffect::HighWatermarkAdvanced(8)]
    );
    assert_eq!(
        l.on_follower_fetch(3, 12, 2).unwrap(),
        vec![LeaderEffect::HighWatermarkAdvanced(12)]
    );
    // A follower reporting less (a stale fetch) never moves it back.
    assert_eq!(l.on_follower_fetch(3, 9, 3).unwrap(), vec![]);
    assert_eq!(l.high_watermark(), 12);
    assert_eq!(
        l.on_append(11),
        Err(StateError::LogEndOffsetBackwards {
            current: 12,
            reported: 11
        })
    );
    assert_eq!(
        l.on_follower_fetch(2, 13, 3),
        Err(StateError::FetchOffsetOutOfRange {
            replica: 2,
            fetch_offset: 13,
            log_end_offset: 12
        })
    );
    assert_eq!(
        l.on_follower_fetch(9, 1, 3),
        Err(StateError::UnknownReplica { replica: 9 })
    );
}

#[test]
fn sole_replica_commits_on_append() {
    let mut l = leader(&[1], 0, 0, 1);
    assert_eq!(
        l.on_append(3).unwrap(),
        vec![LeaderEffect::HighWatermarkAdvanced(3)]
    );
    assert_eq!(l.check_acks_all(3), AckStatus::Satisfied);
    assert_eq!(l.check_acks_all(4), AckStatus::Pending);
}

#[test]
fn lagging_follower_is_proposed_out_and_leaves_on_confirmation() {
    let mut l = leader(&[1, 2, 3], 10, 10, 2);
    l.on_follower_fetch(2, 10, 1_000).unwrap();
    l.on_follower_fetch(3, 10, 1_000).unwrap();
    l.on_append(20).unwrap();
    l.on_follower_fetch(2, 20, 9_000).unwrap();
    // 3 was last caught up at 1_000; at 11_000 it is 10_000 behind: still in.
    assert_eq!(l.on_tick(11_000), vec![]);
    assert_eq!(l.on_tick(11_001), vec![proposal(&[1, 2], 7)]);
    // Until confirmed, the watermark still waits for 3 (the maximal ISR).
    assert_eq!(l.maximal_isr(), vec![1, 2, 3]);
    assert_eq!(l.on_tick(20_000), vec![]);
    assert_eq!(l.high_watermark(), 10);
    // A stale confirmation is ignored; the real one applies and commits.
    assert_eq!(l.on_isr_confirmed(&[1, 2, 3], 7), vec![]);
    assert_eq!(
        l.on_isr_confirmed(&[1, 2], 8),
        vec![LeaderEffect::HighWatermarkAdvanced(20)]
    );
    assert_eq!(l.isr(), &[1, 2]);
    assert_eq!(l.partition_epoch(), 8);
    assert!(l.pending_isr().is_none());
}

#[test]
fn follower_rejoins_at_the_high_watermark_past_the_epoch_start() {
    let mut l = leader(&[1, 2], 10, 6, 1);
    // 3 is below the watermark: no expansion.
    assert_eq!(l.on_follower_fetch(3, 5, 1).unwrap(), vec![]);
    assert_eq!(
        l.on_follower_fetch(2, 10, 1).unwrap(),
        vec![LeaderEffect::HighWatermarkAdvanced(10)]
    );
    // At the watermark but the epoch started at 10: it must reach 10 first.
    assert_eq!(l.on_follower_fetch(3, 9, 2).unwrap(), vec![]);
    assert_eq!(
        l.on_follower_fetch(3, 10, 3).unwrap(),
        vec![proposal(&[1, 2, 3], 7)]
    );
    // No second proposal while one is in flight.
    l.on_append(12).unwrap();
    assert_eq!(l.on_follower_fetch(3, 10, 4).unwrap(), vec![]);
    // The watermark already waits for 3, which is behind 2.
    assert_eq!(l.on_follower_fetch(2, 12, 4).unwrap(), vec![]);
    assert_eq!(
        l.on_follower_fetch(3, 11, 5).unwrap(),
        vec![LeaderEffect::HighWatermarkAdvanced(11)]
    );
    // A refusal of some other proposal changes nothing; of this one, clears it.
    let other = IsrProposal {
        leader_epoch: 5,
        partition_epoch: 6,
        new_isr: vec![1, 2, 3],
    };
    l.on_isr_change_rejected(&other);
    assert!(l.pending_isr().is_some());
    l.on_isr_change_rejected(&IsrProposal {
        leader_epoch: 5,
        partition_epoch: 7,
        new_isr: vec![1, 2, 3],
    });
    assert!(l.pending_isr().is_none());
    assert_eq!(
        l.on_follower_fetch(3, 12, 6).unwrap(),
        vec![
            proposal(&[1, 2, 3], 7),
            LeaderEffect::HighWatermarkAdvanced(12)
        ]
    );
}

#[test]
fn min_insync_replicas_before_and_after_append() {
    let mut l = leader(&[1, 2], 0, 0, 2);
    assert_eq!(l.check_produce_acks_all(), Ok(()));
    l.on_append(5).unwrap();
    l.on_follower_fetch(2, 3, 1).unwrap();
    assert_eq!(l.check_acks_all(5), AckStatus::Pending);
    // 2 drops out while the produce waits; the watermark then passes the batch.
    assert_eq!(l.on_tick(LAG + 2), vec![proposal(&[1], 7)]);
    l.on_isr_confirmed(&[1], 8);
    assert_eq!(l.high_watermark(), 5);
    assert_eq!(l.check_acks_all(5), AckStatus::NotEnoughReplicasAfterAppend);
    assert_eq!(
        l.check_produce_acks_all(),
        Err(StateError::NotEnoughReplicas {
            isr: 1,
            min_insync_replicas: 2
        })
    );
}

#[test]
fn leader_epoch_fencing() {
    let l = leader(&[1], 0, 0, 1);
    assert_eq!(l.check_leader_epoch(5), Ok(()));
    assert_eq!(
        l.check_leader_epoch(4),
        Err(StateError::FencedLeaderEpoch {
            request: 4,
            current: 5
        })
    );
    assert_eq!(
        l.check_leader_epoch(6),
        Err(StateError::UnknownLeaderEpoch {
            request: 6,
            current: 5
        })
    );
}

#[test]
fn config_is_validated() {
    let bad = LeaderConfig {
        replica_lag_time_max_ms: 0,
        min_insync_replicas: 1,
    };
    assert!(bad.validate().is_err());
    let init = LeaderInit {
        leader: 4,
        replicas: vec![1, 2],
        isr: vec![1],
        leader_epoch: 0,
        partition_epoch: 0,
        log_end_offset: 0,
        high_watermark: 0,
    };
    assert_eq!(
        LeaderState::new(init, LeaderConfig::default(), 0).err(),
        Some(StateError::UnknownReplica { replica: 4 })
    );
}

#[test]
fn a_reassignment_adds_followers_out_of_sync_and_forgets_removed_ones() {
    let mut l = leader(&[1, 2, 3], 10, 10, 1);
    l.on_follower_fetch(2, 10, 1).unwrap();
    l.on_append(20).unwrap();
    // 3 has not fetched past 10, so it holds the high watermark back.
    assert_eq!(l.on_follower_fetch(2, 20, 2).unwrap(), vec![]);
    assert_eq!(l.high_watermark(), 10);

    // Moving from [1, 2, 3] to [1, 2, 4]: while it runs, all four are replicas.
    assert_eq!(l.on_replicas_changed(&[1, 2, 4, 3], 3), vec![]);
    assert_eq!(l.replicas(), &[1, 2, 4, 3]);
    assert_eq!(l.isr(), &[1, 2, 3], "the new replica starts out of sync");
    assert!(l.progress(4).is_some());
    // It catches up and is proposed into the ISR.
    assert_eq!(
        l.on_follower_fetch(4, 20, 4).unwrap(),
        vec![proposal(&[1, 2, 3, 4], 7)]
    );
    // Completion drops 3: it no longer holds the high watermark back.
    assert_eq!(
        l.on_replicas_changed(&[1, 2, 4], 5),
        vec![LeaderEffect::HighWatermarkAdvanced(20)]
    );
    assert_eq!(l.isr(), &[1, 2]);
    assert!(l.progress(3).is_none());
    assert_eq!(
        l.on_follower_fetch(3, 20, 6),
        Err(StateError::UnknownReplica { replica: 3 })
    );
    // A list without the leader is not this leader's to apply.
    assert_eq!(l.on_replicas_changed(&[2, 4], 7), vec![]);
    assert_eq!(l.replicas(), &[1, 2, 4]);
}
