//! OffsetCommit, OffsetFetch, OffsetDelete and offsets retention.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use streambus_coordinator::*;

fn committed(offset: i64, at_ms: u64) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: 3,
        metadata: Some("meta".to_string()),
        commit_timestamp_ms: at_ms,
    }
}

fn stored(offset: i64, at_ms: u64) -> Effect {
    Effect::Persist(Record::Offsets(vec![(
        TopicPartition::new("t", 0),
        committed(offset, at_ms),
    )]))
}

fn fetch_all(request_id: RequestId) -> Event {
    Event::FetchOffsets(FetchOffsets {
        request_id,
        partitions: None,
    })
}

#[test]
fn member_commit_is_checked_against_member_and_generation() {
    let mut group = stable_pair(false);
    assert_eq!(
        group.handle(commit(10, A, 7, 5), 7000),
        vec![commit_result(10, errors::ILLEGAL_GENERATION)]
    );
    assert_eq!(
        group.handle(commit(11, "stranger", 1, 5), 7000),
        vec![commit_result(11, errors::UNKNOWN_MEMBER_ID)]
    );
    // A simple commit is only for groups without members.
    assert_eq!(
        group.handle(commit(12, "", -1, 5), 7000),
        vec![commit_result(12, errors::UNKNOWN_MEMBER_ID)]
    );
    assert!(group.offsets().is_empty());
    // A good commit is persisted before it is acknowledged, and refreshes B's session.
    assert_eq!(
        group.handle(commit(13, B, 1, 42), 7000),
        vec![
            stored(42, 7000),
            commit_result(13, errors::NONE),
            timer(16_200)
        ]
    );
    let fetched = FetchResponse {
        error_code: errors::NONE,
        partitions: vec![FetchedOffset {
            partition: TopicPartition::new("t", 0),
            offset: 42,
            leader_epoch: 3,
            metadata: Some("meta".to_string()),
            error_code: errors::NONE,
        }],
    };
    assert_eq!(
        group.handle(fetch_all(14), 7100),
        vec![respond(14, Response::Fetch(fetched))]
    );
}

#[test]
fn commit_during_completing_rebalance_is_refused() {
    let mut group = Group::new("g", no_delay(), 0);
    group.handle(Event::Join(join(1, "", "a")), 0);
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    assert_eq!(
        group.handle(commit(2, A, 1, 5), 10),
        vec![commit_result(2, errors::REBALANCE_IN_PROGRESS)]
    );
}

#[test]
fn simple_commit_to_an_empty_group_is_accepted_and_expires() {
    let config = GroupConfig {
        offsets_retention_ms: 1000,
        ..no_delay()
    };
    let mut group = Group::new("standalone", config, 0);
    assert_eq!(
        group.handle(commit(1, "", -1, 9), 100),
        vec![stored(9, 100), commit_result(1, errors::NONE), timer(1100)]
    );
    assert_eq!(group.state(), GroupState::Empty);
    let unknown = FetchOffsets {
        request_id: 2,
        partitions: Some(vec![TopicPartition::new("u", 1)]),
    };
    let expected = FetchResponse {
        error_code: errors::NONE,
        partitions: vec![FetchedOffset {
            partition: TopicPartition::new("u", 1),
            offset: -1,
            leader_epoch: -1,
            metadata: None,
            error_code: errors::NONE,
        }],
    };
    assert_eq!(
        group.handle(Event::FetchOffsets(unknown), 200),
        vec![respond(2, Response::Fetch(expected))]
    );
    // Without a protocol, retention counts from the commit.
    assert_eq!(group.handle(Event::Tick, 1099), vec![]);
    assert_eq!(
        group.handle(Event::Tick, 1100),
        vec![
            Effect::Persist(Record::OffsetTombstones(vec![TopicPartition::new("t", 0)])),
            Effect::Persist(Record::GroupTombstone),
        ]
    );
    assert_eq!(group.state(), GroupState::Dead);
    assert_eq!(
        group.handle(commit(3, "", -1, 9), 1200),
        vec![commit_result(3, errors::COORDINATOR_NOT_AVAILABLE)]
    );
}

#[test]
fn offsets_of_an_emptied_group_expire_after_retention_then_it_dies() {
    let config = GroupConfig {
        offsets_retention_ms: 60_000,
        ..GroupConfig::default()
    };
    let mut group = Group::new("g", config, 0);
    // One member, through the 3 s initial delay.
    group.handle(Event::Join(join(1, "", "a")), 0);
    group.handle(Event::Tick, 3000);
    let mut assign = sync(2, A, 1);
    assign.assignments = vec![(A.to_string(), b"a".to_vec())];
    group.handle(Event::Sync(assign), 3100);
    assert_eq!(group.state(), GroupState::Stable);
    group.handle(commit(3, A, 1, 77), 4000);
    // The consumer leaves; retention counts from when the group became empty.
    group.handle(leave(4, &[A]), 10_000);
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.state_since_ms(), 10_000);
    assert_eq!(group.handle(Event::Tick, 69_999), vec![]);
    assert_eq!(group.offsets().len(), 1);
    assert_eq!(
        group.handle(Event::Tick, 70_000),
        vec![
            Effect::Persist(Record::OffsetTombstones(vec![TopicPartition::new("t", 0)])),
            Effect::Persist(Record::GroupTombstone),
        ]
    );
    assert_eq!(group.state(), GroupState::Dead);
}

#[test]
fn rejoining_empty_group_keeps_its_offsets() {
    let config = GroupConfig {
        offsets_retention_ms: 60_000,
        ..no_delay()
    };
    let mut group = Group::new("g", config, 0);
    group.handle(commit(1, "", -1, 5), 0);
    let effects = group.handle(Event::Join(join(2, "", "a")), 30_000);
    assert_eq!(
        effects[0],
        joined(2, "a-7530-0", 1, "a-7530-0", &["a-7530-0"])
    );
    group.handle(Event::Tick, 61_000);
    assert_eq!(group.offsets().len(), 1);
}

#[test]
fn metadata_too_large_is_refused_per_partition() {
    let config = GroupConfig {
        offset_metadata_max_bytes: 3,
        ..no_delay()
    };
    let mut group = Group::new("g", config, 0);
    assert_eq!(
        group.handle(commit(1, "", -1, 5), 0),
        vec![
            commit_result(1, errors::OFFSET_METADATA_TOO_LARGE),
            // Nothing stored: the empty group is dropped after the cleanup interval.
            timer(600_000)
        ]
    );
    assert!(group.offsets().is_empty());
}

#[test]
fn offset_delete_refuses_subscribed_topics() {
    let mut group = stable_pair(false);
    let two = Event::CommitOffsets(CommitOffsets {
        request_id: 10,
        member_id: A.to_string(),
        group_instance_id: None,
        generation: 1,
        offsets: ["t", "old"]
            .iter()
            .map(|topic| OffsetToCommit {
                partition: TopicPartition::new(*topic, 0),
                offset: 1,
                leader_epoch: -1,
                metadata: None,
            })
            .collect(),
    });
    group.handle(two, 7000);
    assert_eq!(group.offsets().len(), 2);
    let delete = DeleteOffsets {
        request_id: 11,
        partitions: vec![TopicPartition::new("t", 0), TopicPartition::new("old", 0)],
    };
    let expected = DeleteOffsetsResponse {
        error_code: errors::NONE,
        partitions: vec![
            PartitionError {
                partition: TopicPartition::new("t", 0),
                error_code: errors::GROUP_SUBSCRIBED_TO_TOPIC,
            },
            PartitionError {
                partition: TopicPartition::new("old", 0),
                error_code: errors::NONE,
            },
        ],
    };
    let effects = group.handle(Event::DeleteOffsets(delete), 7100);
    assert_eq!(
        effects[..2],
        [
            Effect::Persist(Record::OffsetTombstones(vec![TopicPartition::new(
                "old", 0
            )])),
            respond(11, Response::DeleteOffsets(expected)),
        ]
    );
    assert_eq!(group.offsets().len(), 1);
}

#[test]
fn stable_group_expires_offsets_of_topics_nobody_subscribes() {
    let config = GroupConfig {
        offsets_retention_ms: 5_000,
        ..GroupConfig::default()
    };
    let mut group = Group::new("g", config, 0);
    group.handle(commit(1, "", -1, 5), 0); // topic t, subscribed later
    let old = Event::CommitOffsets(CommitOffsets {
        request_id: 2,
        member_id: String::new(),
        group_instance_id: None,
        generation: -1,
        offsets: vec![OffsetToCommit {
            partition: TopicPartition::new("old", 0),
            offset: 1,
            leader_epoch: -1,
            metadata: None,
        }],
    });
    group.handle(old, 0);
    group.handle(Event::Join(join(3, "", "a")), 100);
    group.handle(Event::Tick, 3100);
    let mut assign = sync(4, "a-64-0", 1);
    assign.assignments = vec![("a-64-0".to_string(), b"a".to_vec())];
    group.handle(Event::Sync(assign), 3200);
    assert_eq!(group.state(), GroupState::Stable);
    let effects = group.handle(Event::Tick, 5000);
    assert_eq!(
        effects[0],
        Effect::Persist(Record::OffsetTombstones(vec![TopicPartition::new(
            "old", 0
        )]))
    );
    assert_eq!(
        group.offsets().keys().collect::<Vec<_>>(),
        [&TopicPartition::new("t", 0)]
    );
}

#[test]
fn offsets_of_deleted_topics_are_removed() {
    let mut group = Group::new("g", no_delay(), 0);
    group.handle(commit(1, "", -1, 5), 0);
    let mut other = commit(2, "", -1, 9);
    if let Event::CommitOffsets(c) = &mut other {
        c.offsets[0].partition = TopicPartition::new("kept", 0);
    }
    group.handle(other, 0);
    let effects = group.handle(Event::TopicsDeleted(vec!["t".into(), "never".into()]), 10);
    assert_eq!(
        effects,
        vec![Effect::Persist(Record::OffsetTombstones(vec![
            TopicPartition::new("t", 0)
        ]))]
    );
    let left: Vec<_> = group.offsets().keys().cloned().collect();
    assert_eq!(left, [TopicPartition::new("kept", 0)]);
    assert_eq!(
        group.handle(Event::TopicsDeleted(vec!["t".into()]), 20),
        vec![]
    );
}
