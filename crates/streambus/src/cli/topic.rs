//! `streambus topic create|list|describe|delete|alter-config`.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use streambus_client::admin::{
    AlterConfig, ConfigEntry, ConfigResource, CreatedTopic, NewTopic, TopicDescription,
};

use super::output::{Table, ids, plural, topic_id};
use super::{ClientArgs, key_value};

/// `streambus topic`.
#[derive(Debug, Args)]
pub struct TopicArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: TopicCommand,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic
    Create {
        /// The topic's name
        name: String,
        /// How many partitions (the broker's default if not given)
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        partitions: Option<i32>,
        /// How many copies of each partition (the broker's default if not given)
        #[arg(long, value_parser = clap::value_parser!(i16).range(1..))]
        replication_factor: Option<i16>,
        /// A config override, KEY=VALUE; repeat for more
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        /// Only check that the topic could be created
        #[arg(long)]
        validate_only: bool,
    },
    /// List the topics
    List,
    /// Show a topic's partitions (leader, replicas, in-sync replicas) and configs
    Describe {
        /// The topic's name
        name: String,
    },
    /// Delete a topic and its data
    Delete {
        /// The topic's name
        name: String,
    },
    /// Change a topic's configs: set keys, or delete overrides so defaults apply again
    AlterConfig {
        /// The topic's name
        name: String,
        /// Set a config, KEY=VALUE; repeat for more
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
        set: Vec<(String, String)>,
        /// Remove a config override; repeat for more
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
}

pub async fn run(args: TopicArgs) -> Result<()> {
    let printer = args.client.printer();
    let admin = args.client.admin().await?;
    match args.command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            validate_only,
        } => {
            let mut topic = NewTopic::new(&name)
                .partitions(partitions.unwrap_or(-1))
                .replication_factor(replication_factor.unwrap_or(-1));
            topic.configs = configs;
            let created = if validate_only {
                admin.validate_topic(&topic).await?
            } else {
                admin.create_topic(&topic).await?
            };
            printer.print(&created_json(&created, validate_only), || {
                let verb = if validate_only {
                    "topic can be created:"
                } else {
                    "created topic"
                };
                format!(
                    "{verb} {} ({}, replication factor {})\n",
                    created.name,
                    plural(u64::try_from(created.partitions).unwrap_or(0), "partition"),
                    created.replication_factor
                )
            })
        }
        TopicCommand::List => {
            let topics = admin.list_topics().await?;
            let value: Vec<Value> = topics
                .iter()
                .map(
                    |t| json!({"name": t.name, "partitions": t.partitions, "internal": t.internal}),
                )
                .collect();
            printer.print(&Value::Array(value), || {
                let mut table = Table::new(&["NAME", "PARTITIONS", "INTERNAL"]);
                for t in &topics {
                    table.row(vec![
                        t.name.clone(),
                        t.partitions.to_string(),
                        t.internal.to_string(),
                    ]);
                }
                table.render()
            })
        }
        TopicCommand::Describe { name } => {
            let topic = admin.describe_topic(&name).await?;
            printer.print(&described_json(&topic), || describe_text(&topic))
        }
        TopicCommand::Delete { name } => {
            admin.delete_topic(&name).await?;
            printer.print(&json!({"name": name, "deleted": true}), || {
                format!("deleted topic {name}\n")
            })
        }
        TopicCommand::AlterConfig { name, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                bail!("nothing to change: give --set KEY=VALUE or --delete KEY");
            }
            let mut changes: Vec<AlterConfig> = set
                .iter()
                .map(|(k, v)| AlterConfig::Set(k.clone(), v.clone()))
                .collect();
            changes.extend(delete.iter().cloned().map(AlterConfig::Delete));
            admin
                .alter_configs(&ConfigResource::Topic(name.clone()), &changes)
                .await?;
            let set_json: serde_json::Map<String, Value> = set
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let value = json!({"name": name, "set": set_json, "deleted": delete});
            printer.print(&value, || {
                let mut parts: Vec<String> = Vec::new();
                if !set.is_empty() {
                    let pairs: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    parts.push(format!("set {}", pairs.join(", ")));
                }
                if !delete.is_empty() {
                    parts.push(format!("deleted {}", delete.join(", ")));
                }
                format!("altered topic {name}: {}\n", parts.join("; "))
            })
        }
    }
}

fn created_json(created: &CreatedTopic, validate_only: bool) -> Value {
    json!({
        "name": created.name,
        "id": topic_id(&created.id),
        "partitions": created.partitions,
        "replication_factor": created.replication_factor,
        "validate_only": validate_only,
        "configs": configs_json(&created.configs),
    })
}

fn described_json(topic: &TopicDescription) -> Value {
    let partitions: Vec<Value> = topic
        .partitions
        .iter()
        .map(|p| {
            json!({
                "partition": p.id,
                "leader": p.leader,
                "leader_epoch": p.leader_epoch,
                "replicas": p.replicas,
                "isr": p.isr,
            })
        })
        .collect();
    json!({
        "name": topic.name,
        "id": topic_id(&topic.id),
        "internal": topic.internal,
        "partitions": partitions,
        "configs": configs_json(&topic.configs),
    })
}

/// Configs as JSON: every field the broker gave, in name order.
pub fn configs_json(configs: &[ConfigEntry]) -> Value {
    Value::Array(
        configs
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "value": c.value,
                    "source": c.source.name(),
                    "is_default": c.is_default,
                    "read_only": c.read_only,
                    "sensitive": c.sensitive,
                })
            })
            .collect(),
    )
}

/// Configs as a table of name, value and source.
pub fn configs_table(configs: &[ConfigEntry]) -> String {
    let mut table = Table::new(&["CONFIG", "VALUE", "SOURCE"]);
    for c in configs {
        let value = match (&c.value, c.sensitive) {
            (_, true) => "(sensitive)".to_owned(),
            (Some(v), false) => v.clone(),
            (None, false) => "-".to_owned(),
        };
        table.row(vec![c.name.clone(), value, c.source.name().to_owned()]);
    }
    table.render()
}

fn describe_text(topic: &TopicDescription) -> String {
    let mut out = format!(
        "Topic: {}  Id: {}  Partitions: {}  Internal: {}\n\n",
        topic.name,
        topic_id(&topic.id),
        topic.partitions.len(),
        topic.internal
    );
    let mut table = Table::new(&["PARTITION", "LEADER", "REPLICAS", "ISR"]);
    for p in &topic.partitions {
        table.row(vec![
            p.id.to_string(),
            if p.leader < 0 {
                "none".to_owned()
            } else {
                p.leader.to_string()
            },
            ids(&p.replicas),
            ids(&p.isr),
        ]);
    }
    out.push_str(&table.render());
    out.push('\n');
    out.push_str(&configs_table(&topic.configs));
    out
}
