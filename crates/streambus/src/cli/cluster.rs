//! `streambus cluster info`.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ClientArgs;
use super::output::{Table, or_dash};

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
}

pub async fn run(args: ClusterArgs) -> Result<()> {
    let printer = args.client.printer();
    let admin = args.client.admin().await?;
    match args.command {
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
