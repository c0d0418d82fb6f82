//! Tests of `FollowerState`, asserting the effects of each event.

#![allow(clippy::unwrap_used)]

use super::*;

fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
    let mut c = LeaderEpochCache::new();
    for &(e, o) in entries {
        c.assign(e, o).unwrap();
    }
    c
}

fn ofle(epoch: i32) -> FollowerEffect {
    FollowerEffect::Send(FollowerRequest::OffsetForLeaderEpoch {
        leader: 2,
        current_leader_epoch: 6,
        epoch,
    })
}

fn fetch(fetch_offset: i64) -> FollowerEffect {
    FollowerEffect::Send(FollowerRequest::Fetch {
        leader: 2,
        current_leader_epoch: 6,
        fetch_offset,
    })
}

#[test]
fn truncates_to_the_leaders_end_of_the_shared_epoch() {
    let c = cache(&[(1, 0), (3, 10)]);
    let (mut f, effects) = FollowerState::become_follower(2, 6, 8, &c, 15);
    assert_eq!(effects, vec![ofle(3)]);
    // Leader has epoch 3 ending at 12 (then 6 from 12).
    let effects = f.on_epoch_end_offset(6, 3, EpochEndOffset::new(3, 12), &c, 15);
    assert_eq!(effects, vec![FollowerEffect::TruncateTo(12), fetch(12)]);
    assert_eq!(f.phase(), FollowerPhase::Fetching);
    // A duplicate answer is ignored.
    assert_eq!(
        f.on_epoch_end_offset(6, 3, EpochEndOffset::new(3, 12), &c, 12),
        vec![]
    );
}

#[test]
fn no_truncation_when_the_follower_is_a_prefix() {
    let c = cache(&[(1, 0), (3, 10)]);
    let (mut f, _) = FollowerState::become_follower(2, 6, 8, &c, 11);
    let effects = f.on_epoch_end_offset(6, 3, EpochEndOffset::new(3, 12), &c, 11);
    assert_eq!(effects, vec![fetch(11)]);
}

#[test]
fn iterates_when_the_leader_answers_an_unknown_epoch() {
    // Follower: epochs 1@0, 3@10, 5@20, log end 30. Leader: 1@0, 2@8, 4@12, 6@15.
    let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
    let (mut f, effects) = FollowerState::become_follower(2, 6, 5, &c, 30);
    assert_eq!(effects, vec![ofle(5)]);
    let effects = f.on_epoch_end_offset(6, 5, EpochEndOffset::new(4, 15), &c, 30);
    assert_eq!(effects, vec![FollowerEffect::TruncateTo(20), ofle(3)]);
    c.truncate_from_end(20);
    let effects = f.on_epoch_end_offset(6, 3, EpochEndOffset::new(2, 12), &c, 20);
    assert_eq!(effects, vec![FollowerEffect::TruncateTo(10), ofle(1)]);
    c.truncate_from_end(10);
    let effects = f.on_epoch_end_offset(6, 1, EpochEndOffset::new(1, 8), &c, 10);
    assert_eq!(effects, vec![FollowerEffect::TruncateTo(8), fetch(8)]);
    assert_eq!(f.high_watermark(), 5);
}

#[test]
fn undefined_answer_truncates_to_the_high_watermark() {
    let c = cache(&[(3, 0)]);
    let (mut f, _) = FollowerState::become_follower(2, 6, 4, &c, 9);
    let effects = f.on_epoch_end_offset(6, 3, EpochEndOffset::UNDEFINED, &c, 9);
    assert_eq!(effects, vec![FollowerEffect::TruncateTo(4), fetch(4)]);
}

#[test]
fn truncation_below_the_high_watermark_lowers_it() {
    let c = cache(&[(3, 0)]);
    let (mut f, _) = FollowerState::become_follower(2, 6, 9, &c, 9);
    let effects = f.on_epoch_end_offset(6, 3, EpochEndOffset::new(3, 4), &c, 9);
    assert_eq!(
        effects,
        vec![
            FollowerEffect::TruncateTo(4),
            FollowerEffect::HighWatermark(4),
            fetch(4)
        ]
    );
}

#[test]
fn empty_log_fetches_at_once() {
    let (f, effects) = FollowerState::become_follower(2, 6, 0, &LeaderEpochCache::new(), 0);
    assert_eq!(effects, vec![fetch(0)]);
    assert_eq!(f.phase(), FollowerPhase::Fetching);
}

#[test]
fn fetch_appends_and_follows_the_leaders_high_watermark() {
    let (mut f, _) = FollowerState::become_follower(2, 6, 0, &LeaderEpochCache::new(), 0);
    let batches = [
        FetchedBatch {
            base_offset: 0,
            last_offset: 2,
            epoch: 4,
        },
        FetchedBatch {
            base_offset: 3,
            last_offset: 3,
            epoch: 6,
        },
    ];
    // The leader's watermark (10) is past what we hold: ours is our log end.
    let effects = f.on_fetch_response(6, 0, &batches, 10, 0).unwrap();
    assert_eq!(
        effects,
        vec![
            FollowerEffect::AppendFetched {
                base_offset: 0,
                end_offset: 4
            },
            FollowerEffect::HighWatermark(4),
            fetch(4)
        ]
    );
    // A late duplicate of that response, or one of an older epoch, is ignored.
    assert_eq!(f.on_fetch_response(6, 0, &batches, 10, 4).unwrap(), vec![]);
    assert_eq!(f.on_fetch_response(5, 4, &[], 10, 4).unwrap(), vec![]);
    // An empty response still carries the watermark, even a lower one (a new leader's).
    assert_eq!(
        f.on_fetch_response(6, 4, &[], 3, 4).unwrap(),
        vec![FollowerEffect::HighWatermark(3), fetch(4)]
    );
    let gap = [FetchedBatch {
        base_offset: 5,
        last_offset: 5,
        epoch: 6,
    }];
    assert_eq!(
        f.on_fetch_response(6, 4, &gap, 3, 4),
        Err(StateError::NonContiguousBatch {
            expected: 4,
            base_offset: 5,
            epoch: 6
        })
    );
    let future_epoch = [FetchedBatch {
        base_offset: 4,
        last_offset: 4,
        epoch: 7,
    }];
    assert!(f.on_fetch_response(6, 4, &future_epoch, 3, 4).is_err());
}
