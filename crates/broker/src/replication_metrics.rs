//! The replication and quorum metrics of `/metrics`, sampled at scrape time: what an
//! operator of a cluster watches to see partitions at risk and the quorum's health.
//!
//! - `streambus_partition_isr_size{topic,partition}`: in-sync replicas of each partition led
//!   here (with the other per-partition metrics, up to the same partition limit);
//! - `streambus_replica_lag_records{topic,partition,replica}`: records each follower is
//!   behind the leader here, as of its last fetch;
//! - `streambus_under_replicated_partitions`: partitions led here with fewer in-sync
//!   replicas than replicas;
//! - `streambus_partitions_led`: partitions led here;
//! - `streambus_quorum_leader` (node id, -1 while none is known) and `streambus_quorum_term`;
//!   a single node is its own leader, at term 0;
//! - `streambus_leader_elections_total{reason}`: partition leader changes this node
//!   committed, by why: `failover` (the leader's session ended), `unclean` (a replica
//!   outside the ISR, automatic or asked for), `controlled_shutdown`, `preferred`
//!   (ElectLeaders) and `reassignment` (the leader was moved off the partition). The node
//!   leading the quorum commits most of them, so sum over the nodes for the cluster.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::Broker;
use crate::metrics::PER_PARTITION_LIMIT;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IsrLabels {
    topic: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LagLabels {
    topic: String,
    partition: i32,
    replica: i32,
}

/// Why a partition's leader changed.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the label values, as written
pub(crate) enum ElectionReason {
    failover,
    unclean,
    controlled_shutdown,
    preferred,
    reassignment,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ElectionLabels {
    reason: ElectionReason,
}

/// The gauges, registered once and set at every scrape, and the election counter.
#[derive(Debug, Default)]
pub(crate) struct ReplicationMetrics {
    elections: Family<ElectionLabels, Counter>,
    isr_size: Family<IsrLabels, Gauge>,
    lag: Family<LagLabels, Gauge>,
    under_replicated: Gauge,
    led: Gauge,
    quorum_leader: Gauge,
    quorum_term: Gauge,
}

impl ReplicationMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "streambus_partition_isr_size",
            "In-sync replicas of each partition led here",
            self.isr_size.clone(),
        );
        registry.register(
            "streambus_replica_lag_records",
            "Records a follower is behind the leader here, as of its last fetch",
            self.lag.clone(),
        );
        registry.register(
            "streambus_under_replicated_partitions",
            "Partitions led here with fewer in-sync replicas than replicas",
            self.under_replicated.clone(),
        );
        registry.register(
            "streambus_partitions_led",
            "Partitions led here",
            self.led.clone(),
        );
        registry.register(
            "streambus_quorum_leader",
            "Node id of the metadata quorum's leader as this node knows it (-1: none)",
            self.quorum_leader.clone(),
        );
        registry.register(
            "streambus_leader_elections",
            "Partition leader changes this node committed, by reason",
            self.elections.clone(),
        );
        registry.register(
            "streambus_quorum_term",
            "The metadata quorum's current Raft term",
            self.quorum_term.clone(),
        );
    }

    /// Counts one committed leader change.
    pub(crate) fn leader_elected(&self, reason: ElectionReason) {
        self.elections
            .get_or_create(&ElectionLabels { reason })
            .inc();
    }

    pub(crate) fn sample(&self, broker: &Broker) {
        self.isr_size.clear();
        self.lag.clear();
        let image = broker.image();
        let led: Vec<_> = broker
            .replicas()
            .partitions()
            .into_iter()
            .filter(|p| p.is_leader())
            .collect();
        let per_partition = led.len() <= PER_PARTITION_LIMIT;
        let mut under = 0;
        for partition in &led {
            let tp = partition.topic_partition();
            let isr = partition.isr().len();
            // While a reassignment runs, the replicas it will end with.
            let replicas = image
                .partition(&tp.topic, tp.partition)
                .map_or(1, |p| p.target_replicas().len());
            if isr < replicas {
                under += 1;
            }
            if !per_partition {
                continue;
            }
            let labels = IsrLabels {
                topic: tp.topic.clone(),
                partition: tp.partition,
            };
            self.isr_size.get_or_create(&labels).set(isr as i64);
            for (replica, lag) in partition.follower_lags() {
                let labels = LagLabels {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    replica,
                };
                self.lag.get_or_create(&labels).set(lag);
            }
        }
        self.under_replicated.set(under);
        self.led.set(led.len() as i64);
        match broker.quorum_status() {
            Some(quorum) => {
                let leader = quorum
                    .leader
                    .and_then(|l| i64::try_from(l).ok())
                    .unwrap_or(-1);
                self.quorum_leader.set(leader);
                self.quorum_term
                    .set(i64::try_from(quorum.term).unwrap_or(i64::MAX));
            }
            None => {
                self.quorum_leader.set(i64::from(broker.config().node_id));
                self.quorum_term.set(0);
            }
        }
    }
}
