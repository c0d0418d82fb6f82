//! `Response::visit_error_codes` reaches every `error_code`, top-level and nested, and
//! nothing else.

use streambus_protocol::Response;
use streambus_protocol::messages::{heartbeat_response, offset_commit_response};

#[test]
fn nested_and_top_level_error_codes_are_all_visited() {
    let commit = offset_commit_response::OffsetCommitResponse {
        throttle_time_ms: 7,
        topics: vec![
            offset_commit_response::OffsetCommitResponseTopic {
                name: "a".into(),
                partitions: vec![
                    offset_commit_response::OffsetCommitResponsePartition {
                        partition_index: 0,
                        error_code: 3,
                    },
                    offset_commit_response::OffsetCommitResponsePartition {
                        partition_index: 1,
                        error_code: 0,
                    },
                ],
            },
            offset_commit_response::OffsetCommitResponseTopic {
                name: "b".into(),
                partitions: vec![offset_commit_response::OffsetCommitResponsePartition {
                    partition_index: 5,
                    error_code: 12,
                }],
            },
        ],
    };
    let mut seen = Vec::new();
    Response::OffsetCommit(commit).visit_error_codes(&mut |code| seen.push(code));
    assert_eq!(seen, [3, 0, 12]);

    let heartbeat = heartbeat_response::HeartbeatResponse {
        throttle_time_ms: 1,
        error_code: 25,
    };
    let mut seen = Vec::new();
    Response::Heartbeat(heartbeat).visit_error_codes(&mut |code| seen.push(code));
    assert_eq!(seen, [25]);
}
