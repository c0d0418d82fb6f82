//! `streambus cluster elect-leaders|reassign|reassignments`: who leads partitions and
//! which brokers hold them.
//!
//! An election answers per partition; a partition whose leader is already the one the
//! election would pick (ELECTION_NOT_NEEDED) is reported but is not a failure, any other
//! error makes the command fail after the table is printed. A reassignment names one
//! partition; once the broker accepts it, the move in progress (if data must be copied
//! first) is read back and shown.

use anyhow::{Result, bail};
use serde_json::{Value, json};
use streambus_client::admin::{
    Admin, ElectionType, OngoingReassignment, PartitionMove, PartitionOutcome,
};
use streambus_client::{Error, ErrorCode};

use super::output::{Printer, Table, ids};

/// `cluster elect-leaders`: elect for one partition, one topic's, or every partition.
pub async fn elect_leaders(
    admin: &Admin,
    printer: &Printer,
    unclean: bool,
    topic: Option<String>,
    partition: Option<i32>,
) -> Result<()> {
    let election = if unclean {
        ElectionType::Unclean
    } else {
        ElectionType::Preferred
    };
    let partitions: Option<Vec<(String, i32)>> = match (topic, partition) {
        (Some(topic), Some(partition)) => Some(vec![(topic, partition)]),
        (Some(topic), None) => {
            let described = admin.describe_topic(&topic).await?;
            Some(
                described
                    .partitions
                    .iter()
                    .map(|p| (topic.clone(), p.id))
                    .collect(),
            )
        }
        (None, _) => None,
    };
    let outcomes = admin.elect_leaders(election, partitions.as_deref()).await?;
    let rows: Vec<(&PartitionOutcome, Option<KafkaFailure<'_>>)> = outcomes
        .iter()
        .map(|o| (o, o.result.as_ref().err().map(kafka_error)))
        .collect();
    let value: Vec<Value> = rows
        .iter()
        .map(|(o, error)| {
            json!({
                "topic": o.topic,
                "partition": o.partition,
                "error": error.map(|(code, _)| code.name()),
                "message": error.and_then(|(_, message)| message),
            })
        })
        .collect();
    printer.print(&Value::Array(value), || {
        if rows.is_empty() {
            return "no partition needed an election\n".to_owned();
        }
        let mut table = Table::new(&["TOPIC", "PARTITION", "RESULT"]);
        for (o, error) in &rows {
            let result = match error {
                None => "elected".to_owned(),
                Some((code, Some(message))) => format!("{}: {message}", code.name()),
                Some((code, None)) => code.name().to_owned(),
            };
            table.row(vec![o.topic.clone(), o.partition.to_string(), result]);
        }
        table.render()
    })?;
    let failed = rows
        .iter()
        .filter(|(_, error)| error.is_some_and(|(code, _)| code != ErrorCode::ElectionNotNeeded))
        .count();
    if failed > 0 {
        bail!("{failed} of {} elections failed", rows.len());
    }
    Ok(())
}

/// `cluster reassign`: move a partition to `replicas`, or cancel its move (`None`).
pub async fn reassign(
    admin: &Admin,
    printer: &Printer,
    topic: String,
    partition: i32,
    replicas: Option<Vec<i32>>,
) -> Result<()> {
    let change = PartitionMove {
        partition: (topic.clone(), partition),
        replicas: replicas.clone(),
    };
    let outcomes = admin.alter_partition_reassignments(&[change]).await?;
    for outcome in outcomes {
        outcome.result?;
    }
    let ongoing = admin
        .list_partition_reassignments(Some(&[(topic.clone(), partition)]))
        .await?
        .into_iter()
        .next();
    let value = json!({
        "topic": topic,
        "partition": partition,
        "target": replicas,
        "ongoing": ongoing.as_ref().map(ongoing_json),
    });
    printer.print(&value, || match (&replicas, &ongoing) {
        (None, _) => format!("cancelled the move of {topic}-{partition}\n"),
        (Some(target), Some(m)) => format!(
            "moving {topic}-{partition} to replicas {} (adding {}, removing {}); \
             it completes once the new replicas are in sync\n",
            ids(target),
            or_none(&m.adding),
            or_none(&m.removing)
        ),
        (Some(target), None) => format!("{topic}-{partition} is on replicas {}\n", ids(target)),
    })
}

/// `cluster reassignments`: the moves in progress, of one topic or all.
pub async fn reassignments(admin: &Admin, printer: &Printer, topic: Option<String>) -> Result<()> {
    let ongoing: Vec<OngoingReassignment> = admin
        .list_partition_reassignments(None)
        .await?
        .into_iter()
        .filter(|m| topic.as_ref().is_none_or(|t| *t == m.topic))
        .collect();
    let value = Value::Array(ongoing.iter().map(ongoing_json).collect());
    printer.print(&value, || {
        if ongoing.is_empty() {
            return "no partition is being moved\n".to_owned();
        }
        let mut table = Table::new(&["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"]);
        for m in &ongoing {
            table.row(vec![
                m.topic.clone(),
                m.partition.to_string(),
                ids(&m.replicas),
                or_none(&m.adding),
                or_none(&m.removing),
            ]);
        }
        table.render()
    })
}

fn ongoing_json(m: &OngoingReassignment) -> Value {
    json!({
        "topic": m.topic,
        "partition": m.partition,
        "replicas": m.replicas,
        "adding": m.adding,
        "removing": m.removing,
    })
}

/// Node ids, or `-` for none.
fn or_none(list: &[i32]) -> String {
    if list.is_empty() {
        "-".to_owned()
    } else {
        ids(list)
    }
}

/// A per-partition error's code and the broker's message.
type KafkaFailure<'a> = (ErrorCode, Option<&'a str>);

/// The code and message of a per-partition Kafka error (any other error cannot come from a
/// response's partition entry).
fn kafka_error(error: &Error) -> KafkaFailure<'_> {
    match error {
        Error::Kafka { code, message, .. } => (*code, message.as_deref()),
        _ => (ErrorCode::UnknownServerError, None),
    }
}
