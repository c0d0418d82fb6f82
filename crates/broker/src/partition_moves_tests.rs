//! The election and reassignment rules, one partition state at a time.

use super::*;

/// A partition on `replicas` with `isr`, led by `leader`, at leader epoch 5 and partition
/// epoch 9, no move running.
fn part(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionImage {
    PartitionImage {
        partition: 0,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 5,
        partition_epoch: 9,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

fn live(nodes: &[i32]) -> BTreeSet<i32> {
    nodes.iter().copied().collect()
}

fn code<T: std::fmt::Debug>(result: Result<T, KafkaError>) -> ErrorCode {
    result.expect_err("an error").code
}

const ANY_BROKER: fn(i32) -> bool = |_| true;

#[test]
fn the_preferred_replica_takes_over_when_in_sync_and_live() {
    let p = part(&[1, 2, 3], &[1, 2, 3], 2);
    let elected = elect_preferred(&p, Some(&live(&[1, 2, 3]))).unwrap();
    assert_eq!(
        (
            elected.leader,
            elected.leader_epoch,
            elected.partition_epoch
        ),
        (1, 6, 10)
    );
    assert_eq!(elected.isr, vec![1, 2, 3]);
    // Away from the quorum's leader, the ISR stands for the live set.
    assert_eq!(elect_preferred(&p, None).unwrap(), elected);

    assert_eq!(
        code(elect_preferred(&part(&[1, 2, 3], &[1, 2], 1), None)),
        ErrorCode::ElectionNotNeeded
    );
    assert_eq!(
        code(elect_preferred(&part(&[1, 2, 3], &[2, 3], 2), None)),
        ErrorCode::PreferredLeaderNotAvailable,
        "out of the ISR"
    );
    assert_eq!(
        code(elect_preferred(&p, Some(&live(&[2, 3])))),
        ErrorCode::PreferredLeaderNotAvailable,
        "its session ended"
    );
}

#[test]
fn an_unclean_election_needs_a_leaderless_partition_and_a_live_replica() {
    let offline = part(&[1, 2, 3], &[1], -1);
    let elected = elect_unclean(&offline, &live(&[2, 3])).unwrap();
    assert_eq!((elected.leader, elected.isr.clone()), (2, vec![2]));
    assert_eq!((elected.leader_epoch, elected.partition_epoch), (6, 10));
    // An ISR member that is live is elected cleanly first.
    let clean = elect_unclean(&offline, &live(&[1, 3])).unwrap();
    assert_eq!((clean.leader, clean.isr), (1, vec![1]));

    assert_eq!(
        code(elect_unclean(&offline, &live(&[4]))),
        ErrorCode::EligibleLeadersNotAvailable
    );
    assert_eq!(
        code(elect_unclean(&part(&[1, 2], &[1], 1), &live(&[1, 2]))),
        ErrorCode::ElectionNotNeeded
    );
}

#[test]
fn a_move_widens_the_replicas_then_completes_once_the_new_ones_are_in_sync() {
    let p = part(&[1, 2, 3], &[1, 2, 3], 1);
    let started = reassign(&p, &[4, 2, 1], ANY_BROKER, None).unwrap().unwrap();
    assert_eq!(started.replicas, vec![4, 2, 1, 3]);
    assert_eq!(started.adding_replicas, vec![4]);
    assert_eq!(started.removing_replicas, vec![3]);
    assert_eq!(started.isr, vec![1, 2, 3]);
    assert_eq!(
        (
            started.leader,
            started.leader_epoch,
            started.partition_epoch
        ),
        (1, 5, 10)
    );
    assert_eq!(started.target_replicas(), vec![4, 2, 1]);
    // In replica order, as Kafka reverts a cancelled move: target members first.
    assert_eq!(started.original_replicas(), vec![2, 1, 3]);
    assert_eq!(complete(&started, None), None, "4 is not in sync yet");

    let caught_up = PartitionImage {
        isr: vec![1, 2, 3, 4],
        partition_epoch: 11,
        ..started
    };
    let done = complete(&caught_up, Some(&live(&[1, 2, 3, 4]))).unwrap();
    assert_eq!(done.replicas, vec![4, 2, 1]);
    assert_eq!(done.isr, vec![1, 2, 4]);
    assert!(!done.is_reassigning());
    assert_eq!(
        (done.leader, done.leader_epoch, done.partition_epoch),
        (1, 5, 12),
        "the leader stays: it is a target replica"
    );
}

#[test]
fn a_leader_moved_away_hands_over_to_an_in_sync_live_target_replica() {
    let p = part(&[1, 2], &[1, 2], 1);
    let started = reassign(&p, &[3, 2], ANY_BROKER, None).unwrap().unwrap();
    assert_eq!(started.replicas, vec![3, 2, 1]);
    let caught_up = PartitionImage {
        isr: vec![1, 2, 3],
        ..started
    };
    let done = complete(&caught_up, Some(&live(&[1, 2]))).unwrap();
    assert_eq!((done.leader, done.leader_epoch), (2, 6), "3 is not live");
    assert_eq!(done.isr, vec![2, 3]);
    assert_eq!(
        complete(&caught_up, Some(&live(&[1]))),
        None,
        "no target replica live"
    );
}

#[test]
fn moves_that_need_no_catch_up_complete_at_once() {
    let p = part(&[1, 2, 3], &[1, 2, 3], 1);
    let reordered = reassign(&p, &[3, 1, 2], ANY_BROKER, None).unwrap().unwrap();
    assert_eq!(reordered.replicas, vec![3, 1, 2]);
    assert!(!reordered.is_reassigning());
    assert_eq!((reordered.leader, reordered.partition_epoch), (1, 10));

    let shrunk = reassign(&p, &[2, 3], ANY_BROKER, None).unwrap().unwrap();
    assert_eq!(shrunk.replicas, vec![2, 3]);
    assert_eq!(shrunk.isr, vec![2, 3]);
    assert_eq!(
        (shrunk.leader, shrunk.leader_epoch, shrunk.partition_epoch),
        (2, 6, 10),
        "one record: one partition epoch further"
    );

    assert_eq!(reassign(&p, &[1, 2, 3], ANY_BROKER, None).unwrap(), None);
}

#[test]
fn a_new_target_replaces_the_move_in_progress_and_the_original_cancels_it() {
    let p = part(&[1, 2, 3], &[1, 2, 3], 1);
    let first = reassign(&p, &[1, 2, 4], ANY_BROKER, None).unwrap().unwrap();
    let second = reassign(&first, &[1, 2, 5], ANY_BROKER, None)
        .unwrap()
        .unwrap();
    assert_eq!(second.replicas, vec![1, 2, 5, 3], "4 is no longer added");
    assert_eq!(second.adding_replicas, vec![5]);
    assert_eq!(second.removing_replicas, vec![3]);
    assert_eq!(second.partition_epoch, 11);

    let back = reassign(&second, &[1, 2, 3], ANY_BROKER, None)
        .unwrap()
        .unwrap();
    assert_eq!(back.replicas, vec![1, 2, 3]);
    assert!(!back.is_reassigning());
    assert_eq!(back, cancel(&second).unwrap());
    assert_eq!(code(cancel(&back)), ErrorCode::NoReassignmentInProgress);
}

#[test]
fn cancelling_drops_added_replicas_from_the_isr_and_the_lead() {
    let moving = PartitionImage {
        replicas: vec![3, 1],
        isr: vec![1, 3],
        leader: 3,
        adding_replicas: vec![3],
        removing_replicas: vec![1],
        ..part(&[], &[], -1)
    };
    let back = cancel(&moving).unwrap();
    assert_eq!((back.replicas, back.isr), (vec![1], vec![1]));
    assert_eq!((back.leader, back.leader_epoch), (1, 6));

    let stuck = PartitionImage {
        isr: vec![3],
        ..moving
    };
    assert_eq!(code(cancel(&stuck)), ErrorCode::ReassignmentInProgress);
}

#[test]
fn targets_must_name_registered_brokers_once() {
    let p = part(&[1, 2], &[1, 2], 1);
    let registered = |node: i32| (1..=3).contains(&node);
    for target in [&[][..], &[1, 1], &[1, 4]] {
        assert_eq!(
            code(reassign(&p, target, registered, None)),
            ErrorCode::InvalidReplicaAssignment,
            "{target:?}"
        );
    }
    assert!(reassign(&p, &[1, 3], registered, None).unwrap().is_some());
    // A list as long as a request may carry is refused like a short one.
    let mut huge: Vec<i32> = (1..=1_000_000).collect();
    huge.push(7);
    let error = reassign(&p, &huge, registered, None).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidReplicaAssignment);
    assert_eq!(
        error.message.as_deref(),
        Some("broker 7 is named twice (at 1000000)")
    );
}
