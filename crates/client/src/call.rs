//! The pairing of each request type with its response type, so that callers write
//! `connection.call(MetadataRequest { .. })` and get a `MetadataResponse` back, and the
//! highest version of each API this client fills in correctly.
//!
//! The caps matter where a newer version changes what the client must send: Fetch v13
//! names topics by id only, which this client does not track, so it stays at v12.

use streambus_protocol::messages::*;
use streambus_protocol::{Message, Request, Response};

/// A request this client can send, and what it gets back.
pub trait Call: Message {
    /// The response type.
    type Response;
    /// The highest version the client may use (at most the codec's highest).
    const MAX_VERSION: i16;
    /// Wraps the request for encoding.
    fn into_request(self) -> Request;
    /// Unwraps the response of this API, or `None` for another API's.
    fn from_response(response: Response) -> Option<Self::Response>;
}

macro_rules! calls {
    ($($api:ident: $req:ty => $resp:ty $(, max $max:literal)?;)*) => {$(
        impl Call for $req {
            type Response = $resp;
            const MAX_VERSION: i16 = calls!(@max $req $(, $max)?);
            fn into_request(self) -> Request {
                Request::$api(self)
            }
            fn from_response(response: Response) -> Option<$resp> {
                match response {
                    Response::$api(r) => Some(r),
                    _ => None,
                }
            }
        }
    )*};
    (@max $req:ty) => { <$req as Message>::VERSIONS.max };
    (@max $req:ty, $max:literal) => { $max };
}

calls! {
    Produce: produce_request::ProduceRequest => produce_response::ProduceResponse;
    Fetch: fetch_request::FetchRequest => fetch_response::FetchResponse, max 12;
    ListOffsets: list_offsets_request::ListOffsetsRequest => list_offsets_response::ListOffsetsResponse;
    Metadata: metadata_request::MetadataRequest => metadata_response::MetadataResponse;
    OffsetCommit: offset_commit_request::OffsetCommitRequest => offset_commit_response::OffsetCommitResponse;
    OffsetFetch: offset_fetch_request::OffsetFetchRequest => offset_fetch_response::OffsetFetchResponse;
    FindCoordinator: find_coordinator_request::FindCoordinatorRequest => find_coordinator_response::FindCoordinatorResponse;
    JoinGroup: join_group_request::JoinGroupRequest => join_group_response::JoinGroupResponse;
    Heartbeat: heartbeat_request::HeartbeatRequest => heartbeat_response::HeartbeatResponse;
    LeaveGroup: leave_group_request::LeaveGroupRequest => leave_group_response::LeaveGroupResponse;
    SyncGroup: sync_group_request::SyncGroupRequest => sync_group_response::SyncGroupResponse;
    DescribeGroups: describe_groups_request::DescribeGroupsRequest => describe_groups_response::DescribeGroupsResponse;
    ListGroups: list_groups_request::ListGroupsRequest => list_groups_response::ListGroupsResponse;
    ApiVersions: api_versions_request::ApiVersionsRequest => api_versions_response::ApiVersionsResponse;
    CreateTopics: create_topics_request::CreateTopicsRequest => create_topics_response::CreateTopicsResponse;
    DeleteTopics: delete_topics_request::DeleteTopicsRequest => delete_topics_response::DeleteTopicsResponse;
    DeleteRecords: delete_records_request::DeleteRecordsRequest => delete_records_response::DeleteRecordsResponse;
    InitProducerId: init_producer_id_request::InitProducerIdRequest => init_producer_id_response::InitProducerIdResponse;
    DescribeConfigs: describe_configs_request::DescribeConfigsRequest => describe_configs_response::DescribeConfigsResponse;
    AlterConfigs: alter_configs_request::AlterConfigsRequest => alter_configs_response::AlterConfigsResponse;
    CreatePartitions: create_partitions_request::CreatePartitionsRequest => create_partitions_response::CreatePartitionsResponse;
    DeleteGroups: delete_groups_request::DeleteGroupsRequest => delete_groups_response::DeleteGroupsResponse;
    IncrementalAlterConfigs: incremental_alter_configs_request::IncrementalAlterConfigsRequest => incremental_alter_configs_response::IncrementalAlterConfigsResponse;
    OffsetDelete: offset_delete_request::OffsetDeleteRequest => offset_delete_response::OffsetDeleteResponse;
    DescribeCluster: describe_cluster_request::DescribeClusterRequest => describe_cluster_response::DescribeClusterResponse;
    OffsetForLeaderEpoch: offset_for_leader_epoch_request::OffsetForLeaderEpochRequest => offset_for_leader_epoch_response::OffsetForLeaderEpochResponse;
    ElectLeaders: elect_leaders_request::ElectLeadersRequest => elect_leaders_response::ElectLeadersResponse;
    AlterPartitionReassignments: alter_partition_reassignments_request::AlterPartitionReassignmentsRequest => alter_partition_reassignments_response::AlterPartitionReassignmentsResponse;
    ListPartitionReassignments: list_partition_reassignments_request::ListPartitionReassignmentsRequest => list_partition_reassignments_response::ListPartitionReassignmentsResponse;
}
