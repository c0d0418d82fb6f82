//! Metadata (key 3): brokers, the controller, and topics with their partitions, creating
//! missing topics when the client allows it and the broker enables auto-creation.

use streambus_metadata::TopicImage;
use streambus_protocol::ErrorCode;
use streambus_protocol::messages::metadata_request::MetadataRequest;
use streambus_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};

use crate::Broker;
use crate::context::{RequestContext, operations};
use crate::topics::TopicSpec;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: MetadataRequest,
) -> MetadataResponse {
    // Before v4 clients cannot say, and Kafka auto-creates when the broker allows it.
    let allow_create = broker.config.auto_create_topics
        && (ctx.api_version < 4 || request.allow_auto_topic_creation);
    let mut topics: Vec<MetadataResponseTopic> = match request.topics {
        None => broker
            .image()
            .topics()
            .map(|t| describe(broker, t))
            .collect(),
        Some(requested) => {
            let mut out = Vec::with_capacity(requested.len());
            for wanted in requested {
                out.push(requested_topic(broker, wanted.name, wanted.topic_id, allow_create).await);
            }
            out
        }
    };
    if request.include_topic_authorized_operations {
        for topic in topics
            .iter_mut()
            .filter(|t| t.error_code == ErrorCode::None.code())
        {
            topic.topic_authorized_operations = operations::ALL_TOPIC;
        }
    }
    let image = broker.image();
    MetadataResponse {
        brokers: image
            .brokers()
            .map(|b| MetadataResponseBroker {
                node_id: b.node_id,
                host: b.host.clone(),
                port: i32::from(b.port),
                rack: b.rack.clone(),
            })
            .collect(),
        cluster_id: Some(broker.cluster_id.clone()),
        controller_id: broker.controller_id(),
        topics,
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            operations::ALL_CLUSTER
        } else {
            operations::NOT_REQUESTED
        },
        ..Default::default()
    }
}

async fn requested_topic(
    broker: &Broker,
    name: Option<String>,
    topic_id: streambus_protocol::Uuid,
    allow_create: bool,
) -> MetadataResponseTopic {
    let image = broker.image();
    let Some(name) = name else {
        // v10+: by topic id.
        let id = uuid::Uuid::from_bytes(topic_id);
        return match image.topic_by_id(id) {
            Some(topic) => describe(broker, topic),
            None => error_topic(None, topic_id, ErrorCode::UnknownTopicId),
        };
    };
    if let Some(topic) = image.topic(&name) {
        return describe(broker, topic);
    }
    if Broker::check_topic_name(&name).is_err() {
        return error_topic(Some(name), [0; 16], ErrorCode::InvalidTopicException);
    }
    if !allow_create {
        return error_topic(Some(name), [0; 16], ErrorCode::UnknownTopicOrPartition);
    }
    let spec = TopicSpec {
        name: name.clone(),
        partitions: -1,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: Vec::new(),
    };
    match broker.create_topic(&spec, false).await {
        Ok(_) => {}
        // Another client created it meanwhile.
        Err(e) if e.code == ErrorCode::TopicAlreadyExists => {}
        Err(e) => return error_topic(Some(name), [0; 16], e.code),
    }
    match broker.image().topic(&name) {
        Some(topic) => describe(broker, topic),
        None => error_topic(Some(name), [0; 16], ErrorCode::LeaderNotAvailable),
    }
}

fn error_topic(
    name: Option<String>,
    topic_id: streambus_protocol::Uuid,
    code: ErrorCode,
) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.code(),
        name,
        topic_id,
        topic_authorized_operations: operations::NOT_REQUESTED,
        ..Default::default()
    }
}

fn describe(broker: &Broker, topic: &TopicImage) -> MetadataResponseTopic {
    let live = broker.image();
    MetadataResponseTopic {
        error_code: ErrorCode::None.code(),
        name: Some(topic.name.clone()),
        topic_id: topic.id.into_bytes(),
        is_internal: crate::topics::is_internal(&topic.name),
        partitions: topic
            .partitions
            .iter()
            .map(|p| {
                let offline: Vec<i32> = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|id| live.broker(*id).is_none())
                    .collect();
                MetadataResponsePartition {
                    error_code: if p.leader < 0 {
                        ErrorCode::LeaderNotAvailable.code()
                    } else {
                        ErrorCode::None.code()
                    },
                    partition_index: p.partition,
                    leader_id: p.leader,
                    leader_epoch: p.leader_epoch,
                    replica_nodes: p.replicas.clone(),
                    isr_nodes: p.isr.clone(),
                    offline_replicas: offline,
                }
            })
            .collect(),
        topic_authorized_operations: operations::NOT_REQUESTED,
    }
}
