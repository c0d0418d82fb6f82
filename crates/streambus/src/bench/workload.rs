//! What every benchmark shares: where the broker is, the topic (created if missing), the
//! record size, and when to stop.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Args;
use streambus_client::producer::{Acks, Compression, ProducerConfig};
use streambus_client::{ClientConfig, Cluster, ErrorCode};
use streambus_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};

use super::progress::Goal;

/// Flags of every benchmark.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Brokers to connect to: host:port, comma-separated
    #[arg(
        long,
        env = "STREAMBUS_BROKERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT"
    )]
    pub bootstrap: String,
    /// Topic to use; created with --partitions if it does not exist
    #[arg(long, default_value = "streambus-bench")]
    pub topic: String,
    /// Partitions of the topic when the benchmark creates it
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,
    /// Bytes of each record's value
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub message_size: u32,
    /// Stop after this many records
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Stop after this long instead: seconds, or a number with ms, s or m
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
}

impl Common {
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(&self.bootstrap);
        config.client_id = "streambus-bench".to_owned();
        config
    }

    /// The goal: `--duration`, else `--count`, else `default_count` records.
    pub fn goal(&self, default_count: u64) -> Goal {
        match (self.duration, self.count) {
            (Some(duration), _) => Goal::Duration(duration),
            (None, Some(count)) => Goal::Records(count),
            (None, None) => Goal::Records(default_count),
        }
    }

    /// Connects, and creates the topic unless it exists; its partition count.
    pub async fn prepare_topic(&self) -> Result<(std::sync::Arc<Cluster>, i32)> {
        let cluster = Cluster::connect(self.client_config()).await?;
        let request = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: self.topic.clone(),
                num_partitions: self.partitions,
                replication_factor: -1,
                ..Default::default()
            }],
            timeout_ms: 30_000,
            ..Default::default()
        };
        let response = cluster.call_controller(request).await?;
        let created = response
            .topics
            .first()
            .context("the broker did not answer for the topic")?;
        if created.error_code != ErrorCode::TopicAlreadyExists.code() {
            streambus_client::Error::check_with_message(
                created.error_code,
                created.error_message.as_deref(),
                || format!("creating topic {}", self.topic),
            )?;
        }
        let topic = cluster.topic(&self.topic, false).await?;
        Ok((
            cluster,
            i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
        ))
    }
}

/// Producer flags of `produce` and `e2e`.
#[derive(Debug, Clone, Args)]
pub struct ProducerArgs {
    /// Acknowledgement: all, 1 or 0
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    pub acks: Acks,
    /// Batch compression: none, gzip, snappy, lz4 or zstd
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: Compression,
    /// How long a batch waits for more records, in milliseconds
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Bytes of records that fill a batch
    #[arg(long, default_value_t = 16 * 1024)]
    pub batch_size: usize,
}

impl ProducerArgs {
    pub fn config(&self, client: ClientConfig) -> ProducerConfig {
        let mut config = ProducerConfig::new(client);
        config.acks = self.acks;
        config.idempotence = self.acks == Acks::All;
        config.compression = self.compression;
        config.linger = Duration::from_millis(self.linger_ms);
        config.batch_size = self.batch_size.max(1);
        config
    }

    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "acks": match self.acks { Acks::All => "all", Acks::Leader => "1", Acks::None => "0" },
            "compression": format!("{:?}", self.compression).to_lowercase(),
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
        })
    }
}

/// `size` bytes that compress like typical event payloads rather than like zeros: text-ish
/// runs with some variation.
pub fn payload(size: usize) -> Bytes {
    let words = [
        &b"order "[..],
        b"user-4821 ",
        b"status=ok ",
        b"amount:17.20 ",
        b"\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(words[(state % words.len() as u64) as usize]);
        out.push(b'0' + (state >> 40) as u8 % 10);
    }
    out.truncate(size);
    Bytes::from(out)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "{text:?}: a duration must be above zero and at most a day"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_acks(text: &str) -> Result<Acks, String> {
    match text {
        "all" | "-1" => Ok(Acks::All),
        "1" => Ok(Acks::Leader),
        "0" => Ok(Acks::None),
        _ => Err(format!("{text:?}: acks is all, 1 or 0")),
    }
}

fn parse_compression(text: &str) -> Result<Compression, String> {
    match text {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        _ => Err(format!(
            "{text:?}: compression is none, gzip, snappy, lz4 or zstd"
        )),
    }
}

/// Fails a run that delivered nothing, so that scripts notice.
pub fn check_progress(records: u64, what: &str) -> Result<()> {
    if records == 0 {
        bail!("no records were {what}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "0", "ten", "5h", "-1s", "100000000"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn payloads_have_the_size_asked_and_are_not_uniform() {
        let p = payload(1000);
        assert_eq!(p.len(), 1000);
        assert!(p.iter().collect::<std::collections::HashSet<_>>().len() > 10);
        assert_eq!(payload(1).len(), 1);
    }
}
