//! `streambus cluster info|elect-leaders|reassign|reassignments|drain|decommission`.

use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ClientArgs;
use super::output::{Table, or_dash};
use super::{drain, moves};

/// `streambus cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Show the cluster id, the controller and the brokers
    Info,
    /// Move partitions' leadership to their preferred replica (the first), or with
    /// --unclean elect a leader for partitions that have none
    ElectLeaders {
        /// Elect a live replica outside the in-sync set for partitions without a leader;
        /// the records only the lost leader had are gone
        #[arg(long)]
        unclean: bool,
        /// Only this topic's partitions (all partitions if not given)
        #[arg(long)]
        topic: Option<String>,
        /// Only this partition of --topic
        #[arg(long, requires = "topic")]
        partition: Option<i32>,
    },
    /// Move a partition to new replicas (copying its data first), or cancel its move
    Reassign {
        /// The topic
        topic: String,
        /// The partition
        partition: i32,
        /// The new replicas' node ids, preferred leader first: 1,2,3
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "cancel",
            conflicts_with = "cancel"
        )]
        replicas: Vec<i32>,
        /// Cancel the move in progress: the partition goes back to its replicas before it
        #[arg(long)]
        cancel: bool,
    },
    /// Show the moves of partitions in progress
    Reassignments {
        /// Only this topic's
        #[arg(long)]
        topic: Option<String>,
    },
    /// Move every leadership of a broker to other in-sync replicas (it keeps its
    /// replicas), e.g. before restarting it
    Drain {
        /// The broker's node id
        broker: i32,
    },
    /// Move every replica a broker holds to other brokers, before it leaves for good
    Decommission {
        /// The broker's node id
        broker: i32,
        /// Wait until the data has moved
        #[arg(long)]
        wait: bool,
        /// With --wait, give up waiting after this many seconds (the moves go on)
        #[arg(long, default_value_t = 600, requires = "wait")]
        timeout: u64,
    },
}

pub async fn run(args: ClusterArgs) -> Result<()> {
    let printer = args.client.printer();
    let admin = args.client.admin().await?;
    match args.command {
        ClusterCommand::ElectLeaders {
            unclean,
            topic,
            partition,
        } => moves::elect_leaders(&admin, &printer, unclean, topic, partition).await,
        ClusterCommand::Reassign {
            topic,
            partition,
            replicas,
            cancel,
        } => {
            let target = (!cancel).then_some(replicas);
            moves::reassign(&admin, &printer, topic, partition, target).await
        }
        ClusterCommand::Reassignments { topic } => {
            moves::reassignments(&admin, &printer, topic).await
        }
        ClusterCommand::Drain { broker } => drain::drain(&admin, &printer, broker).await,
        ClusterCommand::Decommission {
            broker,
            wait,
            timeout,
        } => {
            let wait = wait.then(|| Duration::from_secs(timeout));
            drain::decommission(&admin, &printer, broker, wait).await
        }
        ClusterCommand::Info => {
            let cluster = admin.describe_cluster().await?;
            let brokers: Vec<(i32, String, Option<u16>, Option<String>)> = cluster
                .brokers
                .iter()
                .map(|b| {
                    let (host, port) = match b.addr.rsplit_once(':') {
                        Some((host, port)) => (host.to_owned(), port.parse().ok()),
                        None => (b.addr.clone(), None),
                    };
                    (b.node_id, host, port, b.rack.clone())
                })
                .collect();
            let value = json!({
                "cluster_id": cluster.cluster_id,
                "controller": cluster.controller,
                "brokers": brokers
                    .iter()
                    .map(|(id, host, port, rack)| {
                        json!({"id": id, "host": host, "port": port, "rack": rack})
                    })
                    .collect::<Vec<Value>>(),
            });
            printer.print(&value, || {
                let mut out = format!(
                    "Cluster: {}  Controller: {}\n\n",
                    or_dash(cluster.cluster_id.as_deref()),
                    or_dash(cluster.controller)
                );
                let mut table = Table::new(&["BROKER", "HOST", "PORT", "RACK"]);
                for (id, host, port, rack) in &brokers {
                    table.row(vec![
                        id.to_string(),
                        host.clone(),
                        or_dash(*port),
                        or_dash(rack.as_deref()),
                    ]);
                }
                out.push_str(&table.render());
                out
            })
        }
    }
}
