//! `streambus group`: list, describe, reset-offsets and delete, with groups made by
//! `streambus consume --group` (one run to the end, and one member that stays until Ctrl-C).

use std::process::Command;

use serde_json::json;

use super::harness::*;

#[test]
fn groups_are_listed_described_reset_and_deleted() {
    let broker = Broker::start();
    broker.ok(&["topic", "create", "clicks", "--partitions", "2"]);
    broker.ok_with(&["produce", "clicks", "--partition", "0"], "a0\na1\na2\n");
    broker.ok_with(&["produce", "clicks", "--partition", "1"], "b0\nb1\nb2\n");

    // A consumer of the group reads everything and commits it.
    assert_eq!(
        sorted_lines(&broker.ok(&["consume", "clicks", "--group", "readers"])),
        ["a0", "a1", "a2", "b0", "b1", "b2"]
    );
    let listed = broker.json(&["group", "list"]);
    assert_eq!(
        listed,
        json!([{"group": "readers", "state": "Empty", "protocol_type": "consumer"}])
    );
    assert_eq!(
        broker.ok(&["group", "list"]),
        "GROUP    STATE  PROTOCOL-TYPE\nreaders  Empty  consumer\n"
    );
    assert_eq!(
        broker.ok(&["group", "list", "--output", "yaml"]),
        "- group: readers\n  protocol_type: consumer\n  state: Empty\n"
    );
    assert_eq!(
        broker.json(&["group", "list", "--state", "Stable"]),
        json!([])
    );

    broker.ok_with(&["produce", "clicks", "--partition", "0"], "a3\na4\n");
    let described = broker.json(&["group", "describe", "readers"]);
    assert_eq!(
        described,
        json!({
            "group": "readers", "state": "Empty", "protocol_type": "consumer", "protocol": "",
            "coordinator": 1, "members": [],
            "offsets": [
                {"topic": "clicks", "partition": 0, "committed_offset": 3, "log_end_offset": 5,
                 "lag": 2, "member_id": null},
                {"topic": "clicks", "partition": 1, "committed_offset": 3, "log_end_offset": 3,
                 "lag": 0, "member_id": null},
            ],
        })
    );
    assert_eq!(
        broker.ok(&["group", "describe", "readers"]),
        "Group: readers  State: Empty  Protocol: -  Members: 0  Coordinator: 1\n\n\
         TOPIC   PARTITION  COMMITTED  LOG-END  LAG  MEMBER-ID\n\
         clicks  0          3          5        2    -\n\
         clicks  1          3          3        0    -\n"
    );
    // The group resumes at its commits.
    assert_eq!(
        broker.ok(&["consume", "clicks", "--group", "readers"]),
        "a3\na4\n"
    );

    // Resets: a dry run changes nothing; --execute commits.
    assert_eq!(
        broker.ok(&[
            "group",
            "reset-offsets",
            "readers",
            "--topic",
            "clicks",
            "--to",
            "earliest"
        ]),
        "TOPIC   PARTITION  CURRENT  NEW\n\
         clicks  0          5        0\n\
         clicks  1          3        0\n\n\
         dry run: nothing was committed; add --execute to commit these offsets\n"
    );
    let committed = |broker: &Broker| -> Vec<i64> {
        broker.json(&["group", "describe", "readers"])["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["committed_offset"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(committed(&broker), [5, 3]);
    assert_eq!(
        broker.json(&[
            "group",
            "reset-offsets",
            "readers",
            "--topic",
            "clicks",
            "--to",
            "shift:-1",
            "--execute"
        ]),
        json!({"group": "readers", "topic": "clicks", "executed": true, "partitions": [
            {"topic": "clicks", "partition": 0, "current_offset": 5, "new_offset": 4},
            {"topic": "clicks", "partition": 1, "current_offset": 3, "new_offset": 2},
        ]})
    );
    assert_eq!(committed(&broker), [4, 2]);
    assert_eq!(
        broker.ok(&[
            "group",
            "reset-offsets",
            "readers",
            "--topic",
            "clicks:1",
            "--to",
            "offset:0",
            "--execute"
        ]),
        "TOPIC   PARTITION  CURRENT  NEW\n\
         clicks  1          2        0\n\n\
         committed the new offsets of group readers\n"
    );
    assert_eq!(committed(&broker), [4, 0]);
    for (target, expected) in [
        ("latest", [5, 3]),
        ("timestamp:0", [0, 0]),
        ("offset:99", [5, 3]),
    ] {
        broker.ok(&[
            "group",
            "reset-offsets",
            "readers",
            "--topic",
            "clicks",
            "--to",
            target,
            "--execute",
        ]);
        assert_eq!(committed(&broker), expected, "{target}");
    }
    broker.ok(&[
        "group",
        "reset-offsets",
        "readers",
        "--topic",
        "clicks:0",
        "--to",
        "offset:4",
        "--execute",
    ]);
    assert_eq!(
        broker.ok(&["consume", "clicks", "--group", "readers"]),
        "a4\n"
    );
    let unknown = broker.fails(&[
        "group",
        "reset-offsets",
        "readers",
        "--topic",
        "nope",
        "--to",
        "latest",
    ]);
    assert_eq!(
        unknown,
        "error: topic nope: UNKNOWN_TOPIC_OR_PARTITION (the topic or partition does not exist)\n"
    );

    // A member that stays: its partitions show, and resets and deletes are refused.
    let bootstrap = broker.bootstrap();
    let member = spawn(
        &[
            "consume",
            "clicks",
            "--group",
            "readers",
            "--follow",
            "--bootstrap",
            &bootstrap,
        ],
        &[],
        None,
    );
    let described = wait_for_group(&broker, "readers", "Stable");
    assert_eq!(described["protocol"], "range");
    let members = described["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{described}");
    assert_eq!(members[0]["client_id"], "streambus-cli");
    assert_eq!(members[0]["subscription"], json!(["clicks"]));
    assert_eq!(
        members[0]["assignment"],
        json!([{"topic": "clicks", "partitions": [0, 1]}])
    );
    let member_id = members[0]["member_id"].as_str().unwrap().to_owned();
    assert_eq!(described["offsets"][0]["member_id"], member_id.as_str());
    let table = broker.ok(&["group", "describe", "readers"]);
    assert!(
        table.starts_with("Group: readers  State: Stable  Protocol: range  Members: 1  Coordinator: 1\n\nMEMBER-ID"),
        "{table}"
    );
    assert!(
        table.contains(&format!("{member_id}  streambus-cli  ")),
        "{table}"
    );
    assert!(table.contains("  clicks:0,1\n"), "{table}");
    assert_eq!(
        broker.fails(&[
            "group",
            "reset-offsets",
            "readers",
            "--topic",
            "clicks",
            "--to",
            "earliest",
            "--execute"
        ]),
        "error: cannot reset the offsets of group readers: NON_EMPTY_GROUP (the group is Stable \
         with 1 member(s); stop its consumers first)\n"
    );
    assert_eq!(
        broker.fails(&["group", "delete", "readers"]),
        "error: cannot delete group readers: NON_EMPTY_GROUP (the group has active members; stop them first)\n"
    );
    // Ctrl-C: the member commits, leaves and exits 0.
    let pid = member.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let stopped = finish(member, "", COMMAND_TIMEOUT);
    assert_eq!(stopped.code, Some(0), "{stopped:?}");
    wait_for_group(&broker, "readers", "Empty");

    assert_eq!(
        broker.ok(&["group", "delete", "readers"]),
        "deleted group readers\n"
    );
    assert_eq!(
        broker.fails(&["group", "describe", "readers"]),
        "error: group readers: GROUP_ID_NOT_FOUND (no such group)\n"
    );
    assert_eq!(
        broker.fails(&["group", "delete", "readers"]),
        "error: cannot delete group readers: GROUP_ID_NOT_FOUND (no such group)\n"
    );
    assert_eq!(broker.json(&["group", "list"]), json!([]));
}
