//! `streambus cluster drain|decommission BROKER`: taking a broker out of service.
//!
//! A drain moves the broker's leaderships to other in-sync replicas (it keeps its
//! replicas: for maintenance, before a restart); a decommission moves every replica it
//! holds to other brokers (for good, before it is shut down), and with `--wait` waits until
//! the data has moved. Both print what changed per partition, and fail (after printing) if
//! any partition could not be changed. The plans are the admin client's
//! ([`streambus_client::admin::plan_drain`], [`streambus_client::admin::plan_decommission`]).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};
use streambus_client::admin::{Admin, BrokerMove};

use super::output::{Printer, Table, ids, plural};

/// How often `--wait` asks whether the moves are done.
const POLL: Duration = Duration::from_millis(500);

/// `cluster drain BROKER`.
pub async fn drain(admin: &Admin, printer: &Printer, broker: i32) -> Result<()> {
    let (moves, stuck) = admin.drain_leaderships(broker).await?;
    let value = json!({
        "broker": broker,
        "moved": moves
            .iter()
            .map(|m| {
                let mut value = move_json(m);
                value["leader"] = json!(m.result.is_ok().then(|| m.to[0]));
                value
            })
            .collect::<Vec<_>>(),
        "stuck": stuck.iter().map(|(topic, partition)| json!({"topic": topic, "partition": partition})).collect::<Vec<_>>(),
    });
    printer.print(&value, || {
        if moves.is_empty() && stuck.is_empty() {
            return format!("broker {broker} leads no partition\n");
        }
        let mut table = Table::new(&["TOPIC", "PARTITION", "REPLICAS", "RESULT"]);
        for m in &moves {
            let result = match &m.result {
                Ok(()) => format!("led by {}", m.to[0]),
                Err(e) => e.to_string(),
            };
            table.row(vec![
                m.topic.clone(),
                m.partition.to_string(),
                ids(&m.to),
                result,
            ]);
        }
        for (topic, partition) in &stuck {
            table.row(vec![
                topic.clone(),
                partition.to_string(),
                "-".to_owned(),
                "stays: no other replica in sync, or being moved".to_owned(),
            ]);
        }
        table.render()
    })?;
    let failed = moves.iter().filter(|m| m.result.is_err()).count() + stuck.len();
    if failed > 0 {
        bail!(
            "{} still led by broker {broker}",
            plural(failed as u64, "partition")
        );
    }
    Ok(())
}

/// `cluster decommission BROKER [--wait --timeout SECS]`.
pub async fn decommission(
    admin: &Admin,
    printer: &Printer,
    broker: i32,
    wait: Option<Duration>,
) -> Result<()> {
    let moves = admin.decommission(broker).await?;
    let failed = moves.iter().filter(|m| m.result.is_err()).count();
    let completed = match wait {
        Some(timeout) if failed == 0 => {
            wait_for(admin, &moves, timeout).await?;
            true
        }
        _ => false,
    };
    let value = json!({
        "broker": broker,
        "moves": moves.iter().map(move_json).collect::<Vec<_>>(),
        "completed": completed || moves.is_empty(),
    });
    printer.print(&value, || {
        if moves.is_empty() {
            return format!("broker {broker} holds no replicas\n");
        }
        let mut table = Table::new(&["TOPIC", "PARTITION", "FROM", "TO", "RESULT"]);
        for m in &moves {
            let result = match &m.result {
                Ok(()) if completed => "moved".to_owned(),
                Ok(()) => "moving".to_owned(),
                Err(e) => e.to_string(),
            };
            table.row(vec![
                m.topic.clone(),
                m.partition.to_string(),
                ids(&m.from),
                ids(&m.to),
                result,
            ]);
        }
        let mut out = table.render();
        if completed {
            out.push_str(&format!("\nbroker {broker} holds no replicas\n"));
        } else if failed == 0 {
            out.push_str(
                "\nthe new replicas copy the data first; \
                 `streambus cluster reassignments` shows the moves in progress\n",
            );
        }
        out
    })?;
    if failed > 0 {
        bail!(
            "{} of {} could not be moved off broker {broker}",
            failed,
            plural(moves.len() as u64, "partition")
        );
    }
    Ok(())
}

/// Waits until none of `moves` is in progress, at most `timeout`.
async fn wait_for(admin: &Admin, moves: &[BrokerMove], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let ongoing = admin.list_partition_reassignments(None).await?;
        let left: Vec<String> = ongoing
            .iter()
            .filter(|o| {
                moves
                    .iter()
                    .any(|m| m.topic == o.topic && m.partition == o.partition)
            })
            .map(|o| format!("{}-{}", o.topic, o.partition))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "still moving after {timeout:?}: {} (the moves go on; \
                 `streambus cluster reassignments` shows them)",
                left.join(", ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn move_json(m: &BrokerMove) -> Value {
    let error = m.result.as_ref().err();
    json!({
        "topic": m.topic,
        "partition": m.partition,
        "from": m.from,
        "to": m.to,
        "error": error.and_then(|e| e.code()).map(|c| c.name()),
        "message": error.map(ToString::to_string),
    })
}
