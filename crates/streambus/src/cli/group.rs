//! `streambus group list|describe|reset-offsets|delete`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use streambus_client::admin::{
    GroupDescription, GroupOffset, MemberDescription, OffsetResetPlan, ResetTarget,
};

use super::ClientArgs;
use super::output::{Table, or_dash};

/// `streambus group`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// List the consumer groups
    List {
        /// Only groups in this state (Stable, Empty, PreparingRebalance...); repeat for more
        #[arg(long = "state", value_name = "STATE")]
        states: Vec<String>,
    },
    /// Show a group's state, members, and committed offsets with lag
    Describe {
        /// The group id
        group: String,
    },
    /// Move a group's committed offsets (a dry run unless --execute); the group must
    /// have no active members
    ResetOffsets {
        /// The group id
        group: String,
        /// The topic, or TOPIC:P,P,... for some partitions only
        #[arg(long, value_name = "TOPIC[:PARTITIONS]", value_parser = topic_partitions)]
        topic: (String, Option<Vec<i32>>),
        /// Where to: earliest, latest, offset:N, timestamp:MS or shift:N (N may be negative)
        #[arg(long, value_name = "TARGET", value_parser = reset_target, allow_hyphen_values = true)]
        to: ResetTarget,
        /// Commit the new offsets (without it, only print the plan)
        #[arg(long)]
        execute: bool,
    },
    /// Delete a group without members, and its committed offsets
    Delete {
        /// The group id
        group: String,
    },
}

pub async fn run(args: GroupArgs) -> Result<()> {
    let printer = args.client.printer();
    let admin = args.client.admin().await?;
    match args.command {
        GroupCommand::List { states } => {
            let groups = admin.list_groups(&states).await?;
            let value: Vec<Value> = groups
                .iter()
                .map(|g| json!({"group": g.group_id, "state": g.state, "protocol_type": g.protocol_type}))
                .collect();
            printer.print(&Value::Array(value), || {
                let mut table = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE"]);
                for g in &groups {
                    table.row(vec![
                        g.group_id.clone(),
                        or_dash(g.state.as_deref()),
                        or_dash(Some(g.protocol_type.as_str()).filter(|t| !t.is_empty())),
                    ]);
                }
                table.render()
            })
        }
        GroupCommand::Describe { group } => {
            let described = admin.describe_group(&group).await?;
            let offsets = admin.group_offsets(&group).await?;
            let rows = partition_rows(&described, &offsets);
            printer.print(&describe_json(&described, &rows), || {
                describe_text(&described, &rows)
            })
        }
        GroupCommand::ResetOffsets {
            group,
            topic: (topic, partitions),
            to,
            execute,
        } => {
            let plan = if execute {
                admin
                    .reset_offsets(&group, &topic, partitions.as_deref(), to)
                    .await?
            } else {
                admin
                    .plan_offset_reset(&group, &topic, partitions.as_deref(), to)
                    .await?
            };
            printer.print(&plan_json(&group, &topic, execute, &plan), || {
                plan_text(&group, execute, &plan)
            })
        }
        GroupCommand::Delete { group } => {
            admin.delete_group(&group).await?;
            printer.print(&json!({"group": group, "deleted": true}), || {
                format!("deleted group {group}\n")
            })
        }
    }
}

/// One partition of a group: its committed offset and lag, and the member it is assigned
/// to. Partitions assigned but never committed have no offset.
struct PartitionRow<'a> {
    topic: String,
    partition: i32,
    offset: Option<&'a GroupOffset>,
    member: Option<&'a MemberDescription>,
}

fn partition_rows<'a>(
    group: &'a GroupDescription,
    offsets: &'a [GroupOffset],
) -> Vec<PartitionRow<'a>> {
    let mut owners: BTreeMap<(String, i32), &MemberDescription> = BTreeMap::new();
    for member in &group.members {
        for (topic, partitions) in &member.assignment {
            for p in partitions {
                owners.insert((topic.clone(), *p), member);
            }
        }
    }
    let mut keys: BTreeSet<(String, i32)> = owners.keys().cloned().collect();
    keys.extend(offsets.iter().map(|o| (o.topic.clone(), o.partition)));
    keys.into_iter()
        .map(|(topic, partition)| PartitionRow {
            offset: offsets
                .iter()
                .find(|o| o.topic == topic && o.partition == partition),
            member: owners.get(&(topic.clone(), partition)).copied(),
            topic,
            partition,
        })
        .collect()
}

fn describe_json(group: &GroupDescription, rows: &[PartitionRow<'_>]) -> Value {
    let members: Vec<Value> = group
        .members
        .iter()
        .map(|m| {
            json!({
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "subscription": m.subscription,
                "assignment": m.assignment
                    .iter()
                    .map(|(topic, partitions)| json!({"topic": topic, "partitions": partitions}))
                    .collect::<Vec<Value>>(),
            })
        })
        .collect();
    let offsets: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "topic": r.topic,
                "partition": r.partition,
                "committed_offset": r.offset.map(|o| o.committed_offset),
                "log_end_offset": r.offset.and_then(|o| o.log_end_offset),
                "lag": r.offset.and_then(|o| o.lag),
                "member_id": r.member.map(|m| m.member_id.as_str()),
            })
        })
        .collect();
    json!({
        "group": group.group_id,
        "state": group.state,
        "protocol_type": group.protocol_type,
        "protocol": group.protocol,
        "coordinator": group.coordinator,
        "members": members,
        "offsets": offsets,
    })
}

fn describe_text(group: &GroupDescription, rows: &[PartitionRow<'_>]) -> String {
    let mut out = format!(
        "Group: {}  State: {}  Protocol: {}  Members: {}  Coordinator: {}\n",
        group.group_id,
        group.state,
        or_dash(Some(group.protocol.as_str()).filter(|p| !p.is_empty())),
        group.members.len(),
        group.coordinator
    );
    if !group.members.is_empty() {
        let mut table = Table::new(&["MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"]);
        for m in &group.members {
            let assignment: Vec<String> = m
                .assignment
                .iter()
                .map(|(topic, partitions)| {
                    let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
                    format!("{topic}:{}", list.join(","))
                })
                .collect();
            table.row(vec![
                m.member_id.clone(),
                m.client_id.clone(),
                m.client_host.clone(),
                or_dash(Some(assignment.join(" ")).filter(|a| !a.is_empty())),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    if !rows.is_empty() {
        let mut table = Table::new(&[
            "TOPIC",
            "PARTITION",
            "COMMITTED",
            "LOG-END",
            "LAG",
            "MEMBER-ID",
        ]);
        for r in rows {
            table.row(vec![
                r.topic.clone(),
                r.partition.to_string(),
                or_dash(r.offset.map(|o| o.committed_offset)),
                or_dash(r.offset.and_then(|o| o.log_end_offset)),
                or_dash(r.offset.and_then(|o| o.lag)),
                or_dash(r.member.map(|m| m.member_id.as_str())),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}

fn plan_json(group: &str, topic: &str, executed: bool, plan: &[OffsetResetPlan]) -> Value {
    json!({
        "group": group,
        "topic": topic,
        "executed": executed,
        "partitions": plan
            .iter()
            .map(|p| json!({
                "topic": p.topic,
                "partition": p.partition,
                "current_offset": p.current,
                "new_offset": p.new_offset,
            }))
            .collect::<Vec<Value>>(),
    })
}

fn plan_text(group: &str, executed: bool, plan: &[OffsetResetPlan]) -> String {
    let mut table = Table::new(&["TOPIC", "PARTITION", "CURRENT", "NEW"]);
    for p in plan {
        table.row(vec![
            p.topic.clone(),
            p.partition.to_string(),
            or_dash(p.current),
            p.new_offset.to_string(),
        ]);
    }
    let mut out = table.render();
    if executed {
        out.push_str(&format!("\ncommitted the new offsets of group {group}\n"));
    } else {
        out.push_str("\ndry run: nothing was committed; add --execute to commit these offsets\n");
    }
    out
}

/// Parses `TOPIC` or `TOPIC:P,P,...`.
fn topic_partitions(text: &str) -> Result<(String, Option<Vec<i32>>), String> {
    let (topic, partitions) = match text.split_once(':') {
        None => (text, None),
        Some((topic, list)) => {
            let parsed: Result<Vec<i32>, _> =
                list.split(',').map(|p| p.trim().parse::<i32>()).collect();
            match parsed {
                Ok(partitions) if partitions.iter().all(|p| *p >= 0) => (topic, Some(partitions)),
                _ => return Err(format!("expected TOPIC:P,P,..., got {text:?}")),
            }
        }
    };
    if topic.is_empty() {
        return Err("the topic name is empty".to_owned());
    }
    Ok((topic.to_owned(), partitions))
}

/// Parses `earliest`, `latest`, `offset:N`, `timestamp:MS` or `shift:N`.
fn reset_target(text: &str) -> Result<ResetTarget, String> {
    let number = |value: &str, what: &str| {
        value
            .parse::<i64>()
            .map_err(|_| format!("{what} needs a number, got {value:?}"))
    };
    match text.split_once(':') {
        None if text == "earliest" => Ok(ResetTarget::Earliest),
        None if text == "latest" => Ok(ResetTarget::Latest),
        Some(("offset", n)) => {
            let offset = number(n, "offset")?;
            if offset < 0 {
                return Err(format!("an offset cannot be negative, got {offset}"));
            }
            Ok(ResetTarget::Offset(offset))
        }
        Some(("timestamp", ms)) => Ok(ResetTarget::Timestamp(number(ms, "timestamp")?)),
        Some(("shift", n)) => Ok(ResetTarget::ShiftBy(number(n, "shift")?)),
        _ => Err(format!(
            "expected earliest, latest, offset:N, timestamp:MS or shift:N, got {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_targets_parse() {
        assert_eq!(reset_target("earliest"), Ok(ResetTarget::Earliest));
        assert_eq!(reset_target("latest"), Ok(ResetTarget::Latest));
        assert_eq!(reset_target("offset:7"), Ok(ResetTarget::Offset(7)));
        assert_eq!(
            reset_target("timestamp:1700000000000"),
            Ok(ResetTarget::Timestamp(1_700_000_000_000))
        );
        assert_eq!(reset_target("shift:-3"), Ok(ResetTarget::ShiftBy(-3)));
        for bad in [
            "",
            "first",
            "offset:",
            "offset:-1",
            "shift:x",
            "timestamp",
            "offset:1:2",
        ] {
            assert!(reset_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn topics_take_an_optional_partition_list() {
        assert_eq!(topic_partitions("t"), Ok(("t".into(), None)));
        assert_eq!(
            topic_partitions("t:0,2"),
            Ok(("t".into(), Some(vec![0, 2])))
        );
        for bad in ["", ":1", "t:", "t:a", "t:-1"] {
            assert!(topic_partitions(bad).is_err(), "{bad:?}");
        }
    }
}
