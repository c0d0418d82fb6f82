//! Property test: random sequences of requests and ticks keep the group's invariants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use proptest::prelude::*;
use streambus_coordinator::*;

#[derive(Debug, Clone)]
enum Action {
    Join {
        slot: usize,
        known: bool,
        instance: Option<u8>,
        handshake: bool,
        alt: bool,
    },
    Sync {
        slot: usize,
        stale: bool,
    },
    Heartbeat {
        slot: usize,
        stale: bool,
    },
    Leave {
        slot: usize,
        by_instance: bool,
    },
    Commit {
        slot: usize,
        simple: bool,
    },
    Tick {
        advance_ms: u64,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..6usize, any::<bool>(), prop::option::of(0..3u8), any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(slot, known, instance, handshake, alt)| Action::Join {
                slot, known, instance, handshake, alt
            }),
        3 => (0..6usize, prop::bool::weighted(0.1)).prop_map(|(slot, stale)| Action::Sync { slot, stale }),
        2 => (0..6usize, prop::bool::weighted(0.1))
            .prop_map(|(slot, stale)| Action::Heartbeat { slot, stale }),
        1 => (0..6usize, any::<bool>()).prop_map(|(slot, by_instance)| Action::Leave { slot, by_instance }),
        1 => (0..6usize, any::<bool>()).prop_map(|(slot, simple)| Action::Commit { slot, simple }),
        3 => (0..15_000u64).prop_map(|advance_ms| Action::Tick { advance_ms }),
    ]
}

/// A member id the test may use: current members, then ids handed out by the handshake.
fn pick(group: &Group, handshake_ids: &[String], slot: usize) -> String {
    let mut ids: Vec<String> = group
        .members()
        .iter()
        .map(|m| m.member_id.clone())
        .collect();
    ids.extend(handshake_ids.iter().cloned());
    if ids.is_empty() {
        "nobody".to_string()
    } else {
        ids[slot % ids.len()].clone()
    }
}

fn to_event(
    group: &Group,
    handshake_ids: &[String],
    action: &Action,
    request_id: RequestId,
) -> Option<Event> {
    let generation = group.generation();
    Some(match action {
        Action::Join {
            slot,
            known,
            instance,
            handshake,
            alt,
        } => {
            let member_id = if *known {
                pick(group, handshake_ids, *slot)
            } else {
                String::new()
            };
            let mut j = join(request_id, &member_id, &format!("c{slot}"));
            j.group_instance_id = instance.map(|i| format!("i{i}"));
            j.require_known_member_id = *handshake;
            if *alt {
                j.protocols
                    .insert(0, ("roundrobin".to_string(), subscription(&["u"])));
            }
            Event::Join(j)
        }
        Action::Sync { slot, stale } => {
            let member_id = pick(group, handshake_ids, *slot);
            let mut s = sync(request_id, &member_id, generation - i32::from(*stale));
            s.protocol_type = None;
            s.protocol_name = None;
            if group.leader() == Some(member_id.as_str()) {
                s.assignments = group
                    .members()
                    .iter()
                    .map(|m| (m.member_id.clone(), b"x".to_vec()))
                    .collect();
            }
            Event::Sync(s)
        }
        Action::Heartbeat { slot, stale } => {
            let member_id = pick(group, handshake_ids, *slot);
            heartbeat(request_id, &member_id, generation - i32::from(*stale))
        }
        Action::Leave { slot, by_instance } => {
            let member_id = pick(group, handshake_ids, *slot);
            let instance = group
                .members()
                .iter()
                .find(|m| m.member_id == member_id)
                .and_then(|m| m.group_instance_id.clone())
                .filter(|_| *by_instance);
            Event::Leave(Leave {
                request_id,
                members: vec![LeavingMember {
                    member_id,
                    group_instance_id: instance,
                }],
            })
        }
        Action::Commit { slot, simple } => {
            if *simple {
                commit(request_id, "", -1, 1)
            } else {
                commit(
                    request_id,
                    &pick(group, handshake_ids, *slot),
                    generation,
                    1,
                )
            }
        }
        Action::Tick { .. } => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_invariants(
        delay in prop::sample::select(vec![0u32, 100, 3000]),
        actions in prop::collection::vec(action(), 1..80),
    ) {
        let config = GroupConfig { initial_rebalance_delay_ms: delay, ..GroupConfig::default() };
        let mut group = Group::new("g", config, 0);
        let mut now = 0u64;
        let mut issued = 0u64;
        let mut answered = BTreeSet::new();
        let mut handshake_ids = Vec::new();
        let mut last_generation = group.generation();
        for action in &actions {
            let event = match action {
                Action::Tick { advance_ms } => {
                    now += advance_ms;
                    Event::Tick
                }
                _ => {
                    now += 1;
                    issued += 1;
                    to_event(&group, &handshake_ids, action, issued).unwrap()
                }
            };
            for effect in group.handle(event, now) {
                if let Effect::Respond { request_id, response } = effect {
                    prop_assert!(request_id >= 1 && request_id <= issued, "unknown request {request_id}");
                    prop_assert!(answered.insert(request_id), "request {request_id} answered twice");
                    if let Response::Join(r) = response
                        && r.error_code == errors::MEMBER_ID_REQUIRED
                    {
                        handshake_ids.push(r.member_id);
                    }
                }
            }

            prop_assert!(group.generation() >= last_generation, "generation went down");
            last_generation = group.generation();
            let members = group.members();
            match group.leader() {
                Some(leader) => prop_assert!(members.iter().any(|m| m.member_id == leader)),
                None => prop_assert!(members.is_empty()),
            }
            prop_assert_eq!(group.leader().is_some(), !members.is_empty());
            let instances: Vec<_> = members.iter().filter_map(|m| m.group_instance_id.as_ref()).collect();
            let unique: BTreeSet<_> = instances.iter().collect();
            prop_assert_eq!(instances.len(), unique.len(), "instance id used twice");
            let parked_joins = members.iter().filter(|m| m.is_awaiting_join()).count();
            let parked_syncs = members.iter().filter(|m| m.is_awaiting_sync()).count();
            prop_assert!(parked_joins == 0 || group.state() == GroupState::PreparingRebalance);
            prop_assert!(parked_syncs == 0 || group.state() == GroupState::CompletingRebalance);
            // Every request is answered or parked, never lost.
            prop_assert_eq!(issued as usize, answered.len() + parked_joins + parked_syncs);
            match group.state() {
                GroupState::Stable => {
                    prop_assert!(members.iter().all(|m| !m.assignment.is_empty()));
                }
                GroupState::Empty | GroupState::Dead => prop_assert!(members.is_empty()),
                GroupState::PreparingRebalance | GroupState::CompletingRebalance => {
                    prop_assert!(!members.is_empty() || group.state() == GroupState::PreparingRebalance);
                }
            }
            if group.state() == GroupState::Dead {
                break;
            }
        }
    }
}
