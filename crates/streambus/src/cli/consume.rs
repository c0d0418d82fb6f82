//! `streambus consume TOPIC`: print records, from a position, until the end or forever.
//!
//! Without `--group` the tool reads the topic's partitions (or `--partition`s) directly,
//! each from `--from`. With `--group` it joins the group as a member, starts where the group
//! committed (where it has not, at the beginning or end as `--from` says), and commits what it
//! printed every few seconds and before it leaves. Without `--follow` it stops once every partition it reads has
//! reached the end offset it had when the command started; `--count` stops after that many
//! records either way. Ctrl-C or SIGTERM stops it cleanly (committing, with a group).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use streambus_client::consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Seek};
use streambus_client::{OffsetSpec, TopicPartition, list_offsets};
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::ClientArgs;
use super::output::{Printer, base64_standard};

/// How long one poll waits for records.
const POLL: Duration = Duration::from_millis(200);
/// How often a group member commits what it printed, while it runs.
const COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// `streambus consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The topic to read
    topic: String,
    /// Where to start: beginning, end, an OFFSET, or @TIMESTAMP_MS (the first record at or
    /// after it); with --group, where the group has no committed offset (beginning or end)
    #[arg(long, value_name = "POSITION", default_value = "beginning", value_parser = start_position)]
    from: Start,
    /// Read only this partition; repeat for more (default: all)
    #[arg(long = "partition", value_name = "N", conflicts_with = "group",
          value_parser = clap::value_parser!(i32).range(0..))]
    partitions: Vec<i32>,
    /// Consume as a member of this group, from and committing its offsets
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Stop after this many records
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Keep waiting for new records instead of stopping at the end
    #[arg(long)]
    follow: bool,
    /// How to print each record with --output table: {topic} {partition} {offset}
    /// {timestamp} {key} {value} {headers}; \t \n \\ escapes, {{ and }} for braces
    #[arg(long, value_name = "TEMPLATE", default_value = "{value}", value_parser = Template::parse)]
    format: Template,
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Beginning,
    End,
    Offset(i64),
    Timestamp(i64),
}

fn start_position(text: &str) -> Result<Start, String> {
    match text {
        "beginning" => Ok(Start::Beginning),
        "end" => Ok(Start::End),
        _ => {
            if let Some(ms) = text.strip_prefix('@') {
                return ms
                    .parse()
                    .map(Start::Timestamp)
                    .map_err(|_| format!("expected @TIMESTAMP_MS, got {text:?}"));
            }
            match text.parse::<i64>() {
                Ok(offset) if offset >= 0 => Ok(Start::Offset(offset)),
                _ => Err(format!(
                    "expected beginning, end, an offset or @TIMESTAMP_MS, got {text:?}"
                )),
            }
        }
    }
}

/// A `--format` template, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Value,
    Headers,
}

impl Template {
    fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '\\' => match chars.next() {
                    Some('t') => literal.push('\t'),
                    Some('n') => literal.push('\n'),
                    Some('\\') => literal.push('\\'),
                    Some(other) => {
                        literal.push('\\');
                        literal.push(other);
                    }
                    None => literal.push('\\'),
                },
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!("unclosed placeholder {{{name} in {text:?}"));
                    }
                    let field = match name.as_str() {
                        "topic" => Field::Topic,
                        "partition" => Field::Partition,
                        "offset" => Field::Offset,
                        "timestamp" => Field::Timestamp,
                        "key" => Field::Key,
                        "value" => Field::Value,
                        "headers" => Field::Headers,
                        _ => {
                            return Err(format!(
                                "unknown placeholder {{{name}}}: use {{topic}} {{partition}} \
                                 {{offset}} {{timestamp}} {{key}} {{value}} {{headers}}"
                            ));
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template(pieces))
    }

    /// The record as text; null keys and values print as nothing, bytes that are not
    /// UTF-8 with replacement characters.
    fn render(&self, record: &ConsumerRecord) -> String {
        let text = |bytes: Option<&[u8]>| {
            bytes
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(Field::Topic) => out.push_str(&record.topic),
                Piece::Field(Field::Partition) => out.push_str(&record.partition.to_string()),
                Piece::Field(Field::Offset) => out.push_str(&record.offset.to_string()),
                Piece::Field(Field::Timestamp) => out.push_str(&record.timestamp.to_string()),
                Piece::Field(Field::Key) => out.push_str(&text(record.key.as_deref())),
                Piece::Field(Field::Value) => out.push_str(&text(record.value.as_deref())),
                Piece::Field(Field::Headers) => {
                    let headers: Vec<String> = record
                        .headers
                        .iter()
                        .map(|(k, v)| format!("{k}={}", text(v.as_deref())))
                        .collect();
                    out.push_str(&headers.join(","));
                }
            }
        }
        out
    }
}

/// Bytes as JSON: a string when they are UTF-8, else `{"base64": "..."}`; null for none.
fn bytes_json(bytes: Option<&[u8]>) -> Value {
    match bytes {
        None => Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => json!({"base64": base64_standard(b)}),
        },
    }
}

fn record_json(record: &ConsumerRecord) -> Value {
    json!({
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestamp_type": if record.log_append_time { "LogAppendTime" } else { "CreateTime" },
        "key": bytes_json(record.key.as_deref()),
        "value": bytes_json(record.value.as_deref()),
        "headers": record
            .headers
            .iter()
            .map(|(k, v)| json!({"key": k, "value": bytes_json(v.as_deref())}))
            .collect::<Vec<Value>>(),
    })
}

pub async fn run(args: ConsumeArgs) -> Result<()> {
    let printer = args.client.printer();
    let mut config = ConsumerConfig::new(args.client.client_config());
    config.group_id = args.group.clone();
    config.enable_auto_commit = false;
    config.fetch_max_wait = POLL;
    config.auto_offset_reset = match (args.group.is_some(), args.from) {
        (_, Start::End) => OffsetReset::Latest,
        (true, Start::Beginning) | (false, _) => OffsetReset::Earliest,
        (true, _) => clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            "with --group, --from can only be beginning or end (where the group has no \
             committed offset)\n",
        )
        .exit(),
    };
    // Installed first, so that a Ctrl-C at any time stops the command cleanly.
    let mut stop = Stop::install()?;
    // The topic's partitions and end offsets, looked up apart from the consumer.
    let admin = args.client.admin().await?;
    let cluster = admin.cluster();
    let topic = cluster.topic(&args.topic, false).await?;
    let partitions: Vec<i32> = if args.partitions.is_empty() {
        topic.partitions.iter().map(|p| p.id).collect()
    } else {
        if let Some(p) = args
            .partitions
            .iter()
            .find(|p| topic.partitions.iter().all(|q| q.id != **p))
        {
            bail!(
                "topic {} has no partition {p} (it has {})",
                args.topic,
                topic.partitions.len()
            );
        }
        args.partitions.clone()
    };
    let tps: Vec<TopicPartition> = partitions
        .iter()
        .map(|p| (args.topic.clone(), *p))
        .collect();
    // The end offsets at the start: without --follow, reading stops there.
    let asked: Vec<(TopicPartition, OffsetSpec)> = tps
        .iter()
        .map(|tp| (tp.clone(), OffsetSpec::Latest))
        .collect();
    let ends: BTreeMap<TopicPartition, i64> = list_offsets(cluster, &asked, false)
        .await?
        .into_iter()
        .map(|(tp, listed)| (tp, listed.offset))
        .collect();

    let mut consumer = Consumer::new(config).await?;
    if args.group.is_some() {
        consumer
            .subscribe(std::slice::from_ref(&args.topic))
            .await?;
    } else {
        consumer.assign(&tps).await?;
        let seek = match args.from {
            Start::Beginning => Seek::Beginning,
            Start::End => Seek::End,
            Start::Offset(offset) => Seek::Offset(offset),
            Start::Timestamp(ms) => Seek::Timestamp(ms),
        };
        for (topic, partition) in &tps {
            consumer.seek(topic, *partition, seek).await?;
        }
    }

    let mut unprinted = BTreeMap::new();
    let read = pump(
        &mut consumer,
        &mut stop,
        &args,
        &printer,
        &ends,
        &mut unprinted,
    )
    .await;
    let committed = match &args.group {
        Some(group) => commit(&mut consumer, &unprinted)
            .await
            .with_context(|| format!("cannot commit the offsets of group {group}")),
        None => Ok(()),
    };
    let closed = consumer.close().await;
    read?;
    committed?;
    closed?;
    Ok(())
}

/// SIGINT (Ctrl-C) and SIGTERM, which stop the command as if it had reached the end.
struct Stop {
    interrupt: Signal,
    terminate: Signal,
}

impl Stop {
    fn install() -> Result<Stop> {
        let install = |kind| signal(kind).context("cannot handle signals");
        Ok(Stop {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
        })
    }
}

/// Commits, for each assigned partition, the offset of the first record not printed: the
/// position, unless records were handed out and not printed (past the end, or past
/// `--count`).
async fn commit(consumer: &mut Consumer, unprinted: &BTreeMap<TopicPartition, i64>) -> Result<()> {
    let offsets: Vec<(TopicPartition, i64)> = consumer
        .assignment()
        .into_iter()
        .filter_map(|tp| {
            let offset = unprinted
                .get(&tp)
                .copied()
                .or_else(|| consumer.position(&tp.0, tp.1))?;
            Some((tp, offset))
        })
        .collect();
    if offsets.is_empty() {
        return Ok(());
    }
    Ok(consumer.commit_offsets(&offsets).await?)
}

/// Polls and prints until done: `--count` records, Ctrl-C, or (without `--follow`) every
/// partition this consumer reads at its starting end offset. Records handed out but not
/// printed leave their first offset in `unprinted`.
async fn pump(
    consumer: &mut Consumer,
    stop: &mut Stop,
    args: &ConsumeArgs,
    printer: &Printer,
    ends: &BTreeMap<TopicPartition, i64>,
    unprinted: &mut BTreeMap<TopicPartition, i64>,
) -> Result<()> {
    let mut printed = 0u64;
    let mut next_commit = Instant::now() + COMMIT_INTERVAL;
    loop {
        if args.group.is_some() && Instant::now() >= next_commit {
            commit(consumer, unprinted).await?;
            next_commit = Instant::now() + COMMIT_INTERVAL;
        }
        if args.count.is_some_and(|count| printed >= count) {
            return Ok(());
        }
        if !args.follow && at_ends(consumer, ends) {
            return Ok(());
        }
        let records = tokio::select! {
            records = consumer.poll(POLL) => records?,
            _ = stop.interrupt.recv() => return Ok(()),
            _ = stop.terminate.recv() => return Ok(()),
        };
        let mut done = false;
        for record in records {
            let tp = (record.topic.clone(), record.partition);
            let past_end = !args.follow && ends.get(&tp).is_some_and(|end| record.offset >= *end);
            if done || past_end || unprinted.contains_key(&tp) {
                unprinted.entry(tp).or_insert(record.offset);
                continue;
            }
            printer.print_item(&record_json(&record), || args.format.render(&record))?;
            printed += 1;
            done = args.count.is_some_and(|count| printed >= count);
        }
        if done {
            return Ok(());
        }
    }
}

/// Whether every partition the consumer reads now has reached its end offset.
fn at_ends(consumer: &Consumer, ends: &BTreeMap<TopicPartition, i64>) -> bool {
    let assigned: BTreeSet<TopicPartition> = consumer.assignment().into_iter().collect();
    // A group member before its first assignment has none yet.
    !assigned.is_empty()
        && assigned.iter().all(|(topic, partition)| {
            let end = ends.get(&(topic.clone(), *partition));
            match (end, consumer.position(topic, *partition)) {
                (None, _) => true,
                (Some(end), Some(position)) => position >= *end,
                (Some(_), None) => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse() {
        assert_eq!(start_position("beginning"), Ok(Start::Beginning));
        assert_eq!(start_position("end"), Ok(Start::End));
        assert_eq!(start_position("42"), Ok(Start::Offset(42)));
        assert_eq!(
            start_position("@1700000000000"),
            Ok(Start::Timestamp(1_700_000_000_000))
        );
        for bad in ["", "-1", "start", "@", "@x", "1.5"] {
            assert!(start_position(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_fill_in_the_record() {
        let record = ConsumerRecord {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            timestamp: 1000,
            log_append_time: false,
            key: Some(b"k".to_vec().into()),
            value: None,
            headers: vec![("a".into(), Some(b"1".to_vec().into())), ("b".into(), None)],
        };
        let template = Template::parse(
            "{topic}/{partition}@{offset} {timestamp}\\t{key}={value} [{headers}] {{}}",
        )
        .unwrap();
        assert_eq!(template.render(&record), "t/2@7 1000\tk= [a=1,b=] {}");
        assert_eq!(Template::parse("{value}").unwrap().render(&record), "");
        for bad in ["{nope}", "{", "{value"] {
            assert!(Template::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn record_bytes_are_strings_or_base64() {
        assert_eq!(bytes_json(None), Value::Null);
        assert_eq!(bytes_json(Some(b"hi")), json!("hi"));
        assert_eq!(bytes_json(Some(&[0xff, 0])), json!({"base64": "/wA="}));
    }
}
