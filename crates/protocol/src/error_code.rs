//! Kafka's error codes, as the protocol guide numbers and names them. Every error a client
//! can cause is answered with one of these in the response's error code field.

/// A Kafka protocol error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum ErrorCode {
    /// `UNKNOWN_SERVER_ERROR` (-1).
    UnknownServerError = -1,
    /// `NONE` (0).
    None = 0,
    /// `OFFSET_OUT_OF_RANGE` (1).
    OffsetOutOfRange = 1,
    /// `CORRUPT_MESSAGE` (2).
    CorruptMessage = 2,
    /// `UNKNOWN_TOPIC_OR_PARTITION` (3).
    UnknownTopicOrPartition = 3,
    /// `INVALID_FETCH_SIZE` (4).
    InvalidFetchSize = 4,
    /// `LEADER_NOT_AVAILABLE` (5).
    LeaderNotAvailable = 5,
    /// `NOT_LEADER_OR_FOLLOWER` (6).
    NotLeaderOrFollower = 6,
    /// `REQUEST_TIMED_OUT` (7).
    RequestTimedOut = 7,
    /// `BROKER_NOT_AVAILABLE` (8).
    BrokerNotAvailable = 8,
    /// `REPLICA_NOT_AVAILABLE` (9).
    ReplicaNotAvailable = 9,
    /// `MESSAGE_TOO_LARGE` (10).
    MessageTooLarge = 10,
    /// `STALE_CONTROLLER_EPOCH` (11).
    StaleControllerEpoch = 11,
    /// `OFFSET_METADATA_TOO_LARGE` (12).
    OffsetMetadataTooLarge = 12,
    /// `NETWORK_EXCEPTION` (13).
    NetworkException = 13,
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14).
    CoordinatorLoadInProgress = 14,
    /// `COORDINATOR_NOT_AVAILABLE` (15).
    CoordinatorNotAvailable = 15,
    /// `NOT_COORDINATOR` (16).
    NotCoordinator = 16,
    /// `INVALID_TOPIC_EXCEPTION` (17).
    InvalidTopicException = 17,
    /// `RECORD_LIST_TOO_LARGE` (18).
    RecordListTooLarge = 18,
    /// `NOT_ENOUGH_REPLICAS` (19).
    NotEnoughReplicas = 19,
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (20).
    NotEnoughReplicasAfterAppend = 20,
    /// `INVALID_REQUIRED_ACKS` (21).
    InvalidRequiredAcks = 21,
    /// `ILLEGAL_GENERATION` (22).
    IllegalGeneration = 22,
    /// `INCONSISTENT_GROUP_PROTOCOL` (23).
    InconsistentGroupProtocol = 23,
    /// `INVALID_GROUP_ID` (24).
    InvalidGroupId = 24,
    /// `UNKNOWN_MEMBER_ID` (25).
    UnknownMemberId = 25,
    /// `INVALID_SESSION_TIMEOUT` (26).
    InvalidSessionTimeout = 26,
    /// `REBALANCE_IN_PROGRESS` (27).
    RebalanceInProgress = 27,
    /// `INVALID_COMMIT_OFFSET_SIZE` (28).
    InvalidCommitOffsetSize = 28,
    /// `TOPIC_AUTHORIZATION_FAILED` (29).
    TopicAuthorizationFailed = 29,
    /// `GROUP_AUTHORIZATION_FAILED` (30).
    GroupAuthorizationFailed = 30,
    /// `CLUSTER_AUTHORIZATION_FAILED` (31).
    ClusterAuthorizationFailed = 31,
    /// `INVALID_TIMESTAMP` (32).
    InvalidTimestamp = 32,
    /// `UNSUPPORTED_SASL_MECHANISM` (33).
    UnsupportedSaslMechanism = 33,
    /// `ILLEGAL_SASL_STATE` (34).
    IllegalSaslState = 34,
    /// `UNSUPPORTED_VERSION` (35).
    UnsupportedVersion = 35,
    /// `TOPIC_ALREADY_EXISTS` (36).
    TopicAlreadyExists = 36,
    /// `INVALID_PARTITIONS` (37).
    InvalidPartitions = 37,
    /// `INVALID_REPLICATION_FACTOR` (38).
    InvalidReplicationFactor = 38,
    /// `INVALID_REPLICA_ASSIGNMENT` (39).
    InvalidReplicaAssignment = 39,
    /// `INVALID_CONFIG` (40).
    InvalidConfig = 40,
    /// `NOT_CONTROLLER` (41).
    NotController = 41,
    /// `INVALID_REQUEST` (42).
    InvalidRequest = 42,
    /// `UNSUPPORTED_FOR_MESSAGE_FORMAT` (43).
    UnsupportedForMessageFormat = 43,
    /// `POLICY_VIOLATION` (44).
    PolicyViolation = 44,
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
    OutOfOrderSequenceNumber = 45,
    /// `DUPLICATE_SEQUENCE_NUMBER` (46).
    DuplicateSequenceNumber = 46,
    /// `INVALID_PRODUCER_EPOCH` (47).
    InvalidProducerEpoch = 47,
    /// `INVALID_TXN_STATE` (48).
    InvalidTxnState = 48,
    /// `INVALID_PRODUCER_ID_MAPPING` (49).
    InvalidProducerIdMapping = 49,
    /// `INVALID_TRANSACTION_TIMEOUT` (50).
    InvalidTransactionTimeout = 50,
    /// `CONCURRENT_TRANSACTIONS` (51).
    ConcurrentTransactions = 51,
    /// `TRANSACTION_COORDINATOR_FENCED` (52).
    TransactionCoordinatorFenced = 52,
    /// `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (53).
    TransactionalIdAuthorizationFailed = 53,
    /// `SECURITY_DISABLED` (54).
    SecurityDisabled = 54,
    /// `OPERATION_NOT_ATTEMPTED` (55).
    OperationNotAttempted = 55,
    /// `KAFKA_STORAGE_ERROR` (56).
    KafkaStorageError = 56,
    /// `LOG_DIR_NOT_FOUND` (57).
    LogDirNotFound = 57,
    /// `SASL_AUTHENTICATION_FAILED` (58).
    SaslAuthenticationFailed = 58,
    /// `UNKNOWN_PRODUCER_ID` (59).
    UnknownProducerId = 59,
    /// `REASSIGNMENT_IN_PROGRESS` (60).
    ReassignmentInProgress = 60,
    /// `DELEGATION_TOKEN_AUTH_DISABLED` (61).
    DelegationTokenAuthDisabled = 61,
    /// `DELEGATION_TOKEN_NOT_FOUND` (62).
    DelegationTokenNotFound = 62,
    /// `DELEGATION_TOKEN_OWNER_MISMATCH` (63).
    DelegationTokenOwnerMismatch = 63,
    /// `DELEGATION_TOKEN_REQUEST_NOT_ALLOWED` (64).
    DelegationTokenRequestNotAllowed = 64,
    /// `DELEGATION_TOKEN_AUTHORIZATION_FAILED` (65).
    DelegationTokenAuthorizationFailed = 65,
    /// `DELEGATION_TOKEN_EXPIRED` (66).
    DelegationTokenExpired = 66,
    /// `INVALID_PRINCIPAL_TYPE` (67).
    InvalidPrincipalType = 67,
    /// `NON_EMPTY_GROUP` (68).
    NonEmptyGroup = 68,
    /// `GROUP_ID_NOT_FOUND` (69).
    GroupIdNotFound = 69,
    /// `FETCH_SESSION_ID_NOT_FOUND` (70).
    FetchSessionIdNotFound = 70,
    /// `INVALID_FETCH_SESSION_EPOCH` (71).
    InvalidFetchSessionEpoch = 71,
    /// `LISTENER_NOT_FOUND` (72).
    ListenerNotFound = 72,
    /// `TOPIC_DELETION_DISABLED` (73).
    TopicDeletionDisabled = 73,
    /// `FENCED_LEADER_EPOCH` (74).
    FencedLeaderEpoch = 74,
    /// `UNKNOWN_LEADER_EPOCH` (75).
    UnknownLeaderEpoch = 75,
    /// `UNSUPPORTED_COMPRESSION_TYPE` (76).
    UnsupportedCompressionType = 76,
    /// `STALE_BROKER_EPOCH` (77).
    StaleBrokerEpoch = 77,
    /// `OFFSET_NOT_AVAILABLE` (78).
    OffsetNotAvailable = 78,
    /// `MEMBER_ID_REQUIRED` (79).
    MemberIdRequired = 79,
    /// `PREFERRED_LEADER_NOT_AVAILABLE` (80).
    PreferredLeaderNotAvailable = 80,
    /// `GROUP_MAX_SIZE_REACHED` (81).
    GroupMaxSizeReached = 81,
    /// `FENCED_INSTANCE_ID` (82).
    FencedInstanceId = 82,
    /// `ELIGIBLE_LEADERS_NOT_AVAILABLE` (83).
    EligibleLeadersNotAvailable = 83,
    /// `ELECTION_NOT_NEEDED` (84).
    ElectionNotNeeded = 84,
    /// `NO_REASSIGNMENT_IN_PROGRESS` (85).
    NoReassignmentInProgress = 85,
    /// `GROUP_SUBSCRIBED_TO_TOPIC` (86).
    GroupSubscribedToTopic = 86,
    /// `INVALID_RECORD` (87).
    InvalidRecord = 87,
    /// `UNSTABLE_OFFSET_COMMIT` (88).
    UnstableOffsetCommit = 88,
    /// `THROTTLING_QUOTA_EXCEEDED` (89).
    ThrottlingQuotaExceeded = 89,
    /// `PRODUCER_FENCED` (90).
    ProducerFenced = 90,
    /// `RESOURCE_NOT_FOUND` (91).
    ResourceNotFound = 91,
    /// `DUPLICATE_RESOURCE` (92).
    DuplicateResource = 92,
    /// `UNACCEPTABLE_CREDENTIAL` (93).
    UnacceptableCredential = 93,
    /// `INCONSISTENT_VOTER_SET` (94).
    InconsistentVoterSet = 94,
    /// `INVALID_UPDATE_VERSION` (95).
    InvalidUpdateVersion = 95,
    /// `FEATURE_UPDATE_FAILED` (96).
    FeatureUpdateFailed = 96,
    /// `PRINCIPAL_DESERIALIZATION_FAILURE` (97).
    PrincipalDeserializationFailure = 97,
    /// `SNAPSHOT_NOT_FOUND` (98).
    SnapshotNotFound = 98,
    /// `POSITION_OUT_OF_RANGE` (99).
    PositionOutOfRange = 99,
    /// `UNKNOWN_TOPIC_ID` (100).
    UnknownTopicId = 100,
    /// `DUPLICATE_BROKER_REGISTRATION` (101).
    DuplicateBrokerRegistration = 101,
    /// `BROKER_ID_NOT_REGISTERED` (102).
    BrokerIdNotRegistered = 102,
    /// `INCONSISTENT_TOPIC_ID` (103).
    InconsistentTopicId = 103,
    /// `INCONSISTENT_CLUSTER_ID` (104).
    InconsistentClusterId = 104,
    /// `TRANSACTIONAL_ID_NOT_FOUND` (105).
    TransactionalIdNotFound = 105,
    /// `FETCH_SESSION_TOPIC_ID_ERROR` (106).
    FetchSessionTopicIdError = 106,
    /// `INELIGIBLE_REPLICA` (107).
    IneligibleReplica = 107,
    /// `NEW_LEADER_ELECTED` (108).
    NewLeaderElected = 108,
    /// `OFFSET_MOVED_TO_TIERED_STORAGE` (109).
    OffsetMovedToTieredStorage = 109,
    /// `FENCED_MEMBER_EPOCH` (110).
    FencedMemberEpoch = 110,
    /// `UNRELEASED_INSTANCE_ID` (111).
    UnreleasedInstanceId = 111,
    /// `UNSUPPORTED_ASSIGNOR` (112).
    UnsupportedAssignor = 112,
    /// `STALE_MEMBER_EPOCH` (113).
    StaleMemberEpoch = 113,
    /// `MISMATCHED_ENDPOINT_TYPE` (114).
    MismatchedEndpointType = 114,
    /// `UNSUPPORTED_ENDPOINT_TYPE` (115).
    UnsupportedEndpointType = 115,
    /// `UNKNOWN_CONTROLLER_ID` (116).
    UnknownControllerId = 116,
    /// `UNKNOWN_SUBSCRIPTION_ID` (117).
    UnknownSubscriptionId = 117,
    /// `TELEMETRY_TOO_LARGE` (118).
    TelemetryTooLarge = 118,
    /// `INVALID_REGISTRATION` (119).
    InvalidRegistration = 119,
    /// `TRANSACTION_ABORTABLE` (120).
    TransactionAbortable = 120,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::UnknownServerError,
        ErrorCode::None,
        ErrorCode::OffsetOutOfRange,
        ErrorCode::CorruptMessage,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::InvalidFetchSize,
        ErrorCode::LeaderNotAvailable,
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::RequestTimedOut,
        ErrorCode::BrokerNotAvailable,
        ErrorCode::ReplicaNotAvailable,
        ErrorCode::MessageTooLarge,
        ErrorCode::StaleControllerEpoch,
        ErrorCode::OffsetMetadataTooLarge,
        ErrorCode::NetworkException,
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
        ErrorCode::InvalidTopicException,
        ErrorCode::RecordListTooLarge,
        ErrorCode::NotEnoughReplicas,
        ErrorCode::NotEnoughReplicasAfterAppend,
        ErrorCode::InvalidRequiredAcks,
        ErrorCode::IllegalGeneration,
        ErrorCode::InconsistentGroupProtocol,
        ErrorCode::InvalidGroupId,
        ErrorCode::UnknownMemberId,
        ErrorCode::InvalidSessionTimeout,
        ErrorCode::RebalanceInProgress,
        ErrorCode::InvalidCommitOffsetSize,
        ErrorCode::TopicAuthorizationFailed,
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::ClusterAuthorizationFailed,
        ErrorCode::InvalidTimestamp,
        ErrorCode::UnsupportedSaslMechanism,
        ErrorCode::IllegalSaslState,
        ErrorCode::UnsupportedVersion,
        ErrorCode::TopicAlreadyExists,
        ErrorCode::InvalidPartitions,
        ErrorCode::InvalidReplicationFactor,
        ErrorCode::InvalidReplicaAssignment,
        ErrorCode::InvalidConfig,
        ErrorCode::NotController,
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedForMessageFormat,
        ErrorCode::PolicyViolation,
        ErrorCode::OutOfOrderSequenceNumber,
        ErrorCode::DuplicateSequenceNumber,
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::InvalidTxnState,
        ErrorCode::InvalidProducerIdMapping,
        ErrorCode::InvalidTransactionTimeout,
        ErrorCode::ConcurrentTransactions,
        ErrorCode::TransactionCoordinatorFenced,
        ErrorCode::TransactionalIdAuthorizationFailed,
        ErrorCode::SecurityDisabled,
        ErrorCode::OperationNotAttempted,
        ErrorCode::KafkaStorageError,
        ErrorCode::LogDirNotFound,
        ErrorCode::SaslAuthenticationFailed,
        ErrorCode::UnknownProducerId,
        ErrorCode::ReassignmentInProgress,
        ErrorCode::DelegationTokenAuthDisabled,
        ErrorCode::DelegationTokenNotFound,
        ErrorCode::DelegationTokenOwnerMismatch,
        ErrorCode::DelegationTokenRequestNotAllowed,
        ErrorCode::DelegationTokenAuthorizationFailed,
        ErrorCode::DelegationTokenExpired,
        ErrorCode::InvalidPrincipalType,
        ErrorCode::NonEmptyGroup,
        ErrorCode::GroupIdNotFound,
        ErrorCode::FetchSessionIdNotFound,
        ErrorCode::InvalidFetchSessionEpoch,
        ErrorCode::ListenerNotFound,
        ErrorCode::TopicDeletionDisabled,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::UnknownLeaderEpoch,
        ErrorCode::UnsupportedCompressionType,
        ErrorCode::StaleBrokerEpoch,
        ErrorCode::OffsetNotAvailable,
        ErrorCode::MemberIdRequired,
        ErrorCode::PreferredLeaderNotAvailable,
        ErrorCode::GroupMaxSizeReached,
        ErrorCode::FencedInstanceId,
        ErrorCode::EligibleLeadersNotAvailable,
        ErrorCode::ElectionNotNeeded,
        ErrorCode::NoReassignmentInProgress,
        ErrorCode::GroupSubscribedToTopic,
        ErrorCode::InvalidRecord,
        ErrorCode::UnstableOffsetCommit,
        ErrorCode::ThrottlingQuotaExceeded,
        ErrorCode::ProducerFenced,
        ErrorCode::ResourceNotFound,
        ErrorCode::DuplicateResource,
        ErrorCode::UnacceptableCredential,
        ErrorCode::InconsistentVoterSet,
        ErrorCode::InvalidUpdateVersion,
        ErrorCode::FeatureUpdateFailed,
        ErrorCode::PrincipalDeserializationFailure,
        ErrorCode::SnapshotNotFound,
        ErrorCode::PositionOutOfRange,
        ErrorCode::UnknownTopicId,
        ErrorCode::DuplicateBrokerRegistration,
        ErrorCode::BrokerIdNotRegistered,
        ErrorCode::InconsistentTopicId,
        ErrorCode::InconsistentClusterId,
        ErrorCode::TransactionalIdNotFound,
        ErrorCode::FetchSessionTopicIdError,
        ErrorCode::IneligibleReplica,
        ErrorCode::NewLeaderElected,
        ErrorCode::OffsetMovedToTieredStorage,
        ErrorCode::FencedMemberEpoch,
        ErrorCode::UnreleasedInstanceId,
        ErrorCode::UnsupportedAssignor,
        ErrorCode::StaleMemberEpoch,
        ErrorCode::MismatchedEndpointType,
        ErrorCode::UnsupportedEndpointType,
        ErrorCode::UnknownControllerId,
        ErrorCode::UnknownSubscriptionId,
        ErrorCode::TelemetryTooLarge,
        ErrorCode::InvalidRegistration,
        ErrorCode::TransactionAbortable,
    ];

    /// Whether a client may retry the request that got this error and expect it to succeed
    /// (Kafka's `RetriableException` subclasses): leadership moving, a coordinator loading,
    /// a timeout, a transient shortage of replicas.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::CorruptMessage
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::NotLeaderOrFollower
                | ErrorCode::RequestTimedOut
                | ErrorCode::ReplicaNotAvailable
                | ErrorCode::NetworkException
                | ErrorCode::CoordinatorLoadInProgress
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::NotEnoughReplicas
                | ErrorCode::NotEnoughReplicasAfterAppend
                | ErrorCode::NotController
                | ErrorCode::KafkaStorageError
                | ErrorCode::FetchSessionIdNotFound
                | ErrorCode::InvalidFetchSessionEpoch
                | ErrorCode::ListenerNotFound
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::OffsetNotAvailable
                | ErrorCode::PreferredLeaderNotAvailable
                | ErrorCode::EligibleLeadersNotAvailable
                | ErrorCode::ElectionNotNeeded
                | ErrorCode::UnstableOffsetCommit
                | ErrorCode::ThrottlingQuotaExceeded
                | ErrorCode::ConcurrentTransactions
        )
    }

    /// The numeric code sent on the wire.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The code with numeric value `code`, if it is one we know.
    pub fn from_code(code: i16) -> Option<ErrorCode> {
        match code {
            -1 => Some(ErrorCode::UnknownServerError),
            0 => Some(ErrorCode::None),
            1 => Some(ErrorCode::OffsetOutOfRange),
            2 => Some(ErrorCode::CorruptMessage),
            3 => Some(ErrorCode::UnknownTopicOrPartition),
            4 => Some(ErrorCode::InvalidFetchSize),
            5 => Some(ErrorCode::LeaderNotAvailable),
            6 => Some(ErrorCode::NotLeaderOrFollower),
            7 => Some(ErrorCode::RequestTimedOut),
            8 => Some(ErrorCode::BrokerNotAvailable),
            9 => Some(ErrorCode::ReplicaNotAvailable),
            10 => Some(ErrorCode::MessageTooLarge),
            11 => Some(ErrorCode::StaleControllerEpoch),
            12 => Some(ErrorCode::OffsetMetadataTooLarge),
            13 => Some(ErrorCode::NetworkException),
            14 => Some(ErrorCode::CoordinatorLoadInProgress),
            15 => Some(ErrorCode::CoordinatorNotAvailable),
            16 => Some(ErrorCode::NotCoordinator),
            17 => Some(ErrorCode::InvalidTopicException),
            18 => Some(ErrorCode::RecordListTooLarge),
            19 => Some(ErrorCode::NotEnoughReplicas),
            20 => Some(ErrorCode::NotEnoughReplicasAfterAppend),
            21 => Some(ErrorCode::InvalidRequiredAcks),
            22 => Some(ErrorCode::IllegalGeneration),
            23 => Some(ErrorCode::InconsistentGroupProtocol),
            24 => Some(ErrorCode::InvalidGroupId),
            25 => Some(ErrorCode::UnknownMemberId),
            26 => Some(ErrorCode::InvalidSessionTimeout),
            27 => Some(ErrorCode::RebalanceInProgress),
            28 => Some(ErrorCode::InvalidCommitOffsetSize),
            29 => Some(ErrorCode::TopicAuthorizationFailed),
            30 => Some(ErrorCode::GroupAuthorizationFailed),
            31 => Some(ErrorCode::ClusterAuthorizationFailed),
            32 => Some(ErrorCode::InvalidTimestamp),
            33 => Some(ErrorCode::UnsupportedSaslMechanism),
            34 => Some(ErrorCode::IllegalSaslState),
            35 => Some(ErrorCode::UnsupportedVersion),
            36 => Some(ErrorCode::TopicAlreadyExists),
            37 => Some(ErrorCode::InvalidPartitions),
            38 => Some(ErrorCode::InvalidReplicationFactor),
            39 => Some(ErrorCode::InvalidReplicaAssignment),
            40 => Some(ErrorCode::InvalidConfig),
            41 => Some(ErrorCode::NotController),
            42 => Some(ErrorCode::InvalidRequest),
            43 => Some(ErrorCode::UnsupportedForMessageFormat),
            44 => Some(ErrorCode::PolicyViolation),
            45 => Some(ErrorCode::OutOfOrderSequenceNumber),
            46 => Some(ErrorCode::DuplicateSequenceNumber),
            47 => Some(ErrorCode::InvalidProducerEpoch),
            48 => Some(ErrorCode::InvalidTxnState),
            49 => Some(ErrorCode::InvalidProducerIdMapping),
            50 => Some(ErrorCode::InvalidTransactionTimeout),
            51 => Some(ErrorCode::ConcurrentTransactions),
            52 => Some(ErrorCode::TransactionCoordinatorFenced),
            53 => Some(ErrorCode::TransactionalIdAuthorizationFailed),
            54 => Some(ErrorCode::SecurityDisabled),
            55 => Some(ErrorCode::OperationNotAttempted),
            56 => Some(ErrorCode::KafkaStorageError),
            57 => Some(ErrorCode::LogDirNotFound),
            58 => Some(ErrorCode::SaslAuthenticationFailed),
            59 => Some(ErrorCode::UnknownProducerId),
            60 => Some(ErrorCode::ReassignmentInProgress),
            61 => Some(ErrorCode::DelegationTokenAuthDisabled),
            62 => Some(ErrorCode::DelegationTokenNotFound),
            63 => Some(ErrorCode::DelegationTokenOwnerMismatch),
            64 => Some(ErrorCode::DelegationTokenRequestNotAllowed),
            65 => Some(ErrorCode::DelegationTokenAuthorizationFailed),
            66 => Some(ErrorCode::DelegationTokenExpired),
            67 => Some(ErrorCode::InvalidPrincipalType),
            68 => Some(ErrorCode::NonEmptyGroup),
            69 => Some(ErrorCode::GroupIdNotFound),
            70 => Some(ErrorCode::FetchSessionIdNotFound),
            71 => Some(ErrorCode::InvalidFetchSessionEpoch),
            72 => Some(ErrorCode::ListenerNotFound),
            73 => Some(ErrorCode::TopicDeletionDisabled),
            74 => Some(ErrorCode::FencedLeaderEpoch),
            75 => Some(ErrorCode::UnknownLeaderEpoch),
            76 => Some(ErrorCode::UnsupportedCompressionType),
            77 => Some(ErrorCode::StaleBrokerEpoch),
            78 => Some(ErrorCode::OffsetNotAvailable),
            79 => Some(ErrorCode::MemberIdRequired),
            80 => Some(ErrorCode::PreferredLeaderNotAvailable),
            81 => Some(ErrorCode::GroupMaxSizeReached),
            82 => Some(ErrorCode::FencedInstanceId),
            83 => Some(ErrorCode::EligibleLeadersNotAvailable),
            84 => Some(ErrorCode::ElectionNotNeeded),
            85 => Some(ErrorCode::NoReassignmentInProgress),
            86 => Some(ErrorCode::GroupSubscribedToTopic),
            87 => Some(ErrorCode::InvalidRecord),
            88 => Some(ErrorCode::UnstableOffsetCommit),
            89 => Some(ErrorCode::ThrottlingQuotaExceeded),
            90 => Some(ErrorCode::ProducerFenced),
            91 => Some(ErrorCode::ResourceNotFound),
            92 => Some(ErrorCode::DuplicateResource),
            93 => Some(ErrorCode::UnacceptableCredential),
            94 => Some(ErrorCode::InconsistentVoterSet),
            95 => Some(ErrorCode::InvalidUpdateVersion),
            96 => Some(ErrorCode::FeatureUpdateFailed),
            97 => Some(ErrorCode::PrincipalDeserializationFailure),
            98 => Some(ErrorCode::SnapshotNotFound),
            99 => Some(ErrorCode::PositionOutOfRange),
            100 => Some(ErrorCode::UnknownTopicId),
            101 => Some(ErrorCode::DuplicateBrokerRegistration),
            102 => Some(ErrorCode::BrokerIdNotRegistered),
            103 => Some(ErrorCode::InconsistentTopicId),
            104 => Some(ErrorCode::InconsistentClusterId),
            105 => Some(ErrorCode::TransactionalIdNotFound),
            106 => Some(ErrorCode::FetchSessionTopicIdError),
            107 => Some(ErrorCode::IneligibleReplica),
            108 => Some(ErrorCode::NewLeaderElected),
            109 => Some(ErrorCode::OffsetMovedToTieredStorage),
            110 => Some(ErrorCode::FencedMemberEpoch),
            111 => Some(ErrorCode::UnreleasedInstanceId),
            112 => Some(ErrorCode::UnsupportedAssignor),
            113 => Some(ErrorCode::StaleMemberEpoch),
            114 => Some(ErrorCode::MismatchedEndpointType),
            115 => Some(ErrorCode::UnsupportedEndpointType),
            116 => Some(ErrorCode::UnknownControllerId),
            117 => Some(ErrorCode::UnknownSubscriptionId),
            118 => Some(ErrorCode::TelemetryTooLarge),
            119 => Some(ErrorCode::InvalidRegistration),
            120 => Some(ErrorCode::TransactionAbortable),
            _ => None,
        }
    }

    /// The name the protocol guide gives the code, e.g. `UNSUPPORTED_VERSION`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::UnknownServerError => "UNKNOWN_SERVER_ERROR",
            ErrorCode::None => "NONE",
            ErrorCode::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            ErrorCode::CorruptMessage => "CORRUPT_MESSAGE",
            ErrorCode::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            ErrorCode::InvalidFetchSize => "INVALID_FETCH_SIZE",
            ErrorCode::LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            ErrorCode::NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            ErrorCode::RequestTimedOut => "REQUEST_TIMED_OUT",
            ErrorCode::BrokerNotAvailable => "BROKER_NOT_AVAILABLE",
            ErrorCode::ReplicaNotAvailable => "REPLICA_NOT_AVAILABLE",
            ErrorCode::MessageTooLarge => "MESSAGE_TOO_LARGE",
            ErrorCode::StaleControllerEpoch => "STALE_CONTROLLER_EPOCH",
            ErrorCode::OffsetMetadataTooLarge => "OFFSET_METADATA_TOO_LARGE",
            ErrorCode::NetworkException => "NETWORK_EXCEPTION",
            ErrorCode::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            ErrorCode::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            ErrorCode::NotCoordinator => "NOT_COORDINATOR",
            ErrorCode::InvalidTopicException => "INVALID_TOPIC_EXCEPTION",
            ErrorCode::RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            ErrorCode::NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            ErrorCode::NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            ErrorCode::InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            ErrorCode::IllegalGeneration => "ILLEGAL_GENERATION",
            ErrorCode::InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            ErrorCode::InvalidGroupId => "INVALID_GROUP_ID",
            ErrorCode::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            ErrorCode::InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            ErrorCode::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            ErrorCode::InvalidCommitOffsetSize => "INVALID_COMMIT_OFFSET_SIZE",
            ErrorCode::TopicAuthorizationFailed => "TOPIC_AUTHORIZATION_FAILED",
            ErrorCode::GroupAuthorizationFailed => "GROUP_AUTHORIZATION_FAILED",
            ErrorCode::ClusterAuthorizationFailed => "CLUSTER_AUTHORIZATION_FAILED",
            ErrorCode::InvalidTimestamp => "INVALID_TIMESTAMP",
            ErrorCode::UnsupportedSaslMechanism => "UNSUPPORTED_SASL_MECHANISM",
            ErrorCode::IllegalSaslState => "ILLEGAL_SASL_STATE",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            ErrorCode::InvalidPartitions => "INVALID_PARTITIONS",
            ErrorCode::InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            ErrorCode::InvalidReplicaAssignment => "INVALID_REPLICA_ASSIGNMENT",
            ErrorCode::InvalidConfig => "INVALID_CONFIG",
            ErrorCode::NotController => "NOT_CONTROLLER",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::UnsupportedForMessageFormat => "UNSUPPORTED_FOR_MESSAGE_FORMAT",
            ErrorCode::PolicyViolation => "POLICY_VIOLATION",
            ErrorCode::OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ErrorCode::DuplicateSequenceNumber => "DUPLICATE_SEQUENCE_NUMBER",
            ErrorCode::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            ErrorCode::InvalidTxnState => "INVALID_TXN_STATE",
            ErrorCode::InvalidProducerIdMapping => "INVALID_PRODUCER_ID_MAPPING",
            ErrorCode::InvalidTransactionTimeout => "INVALID_TRANSACTION_TIMEOUT",
            ErrorCode::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
            ErrorCode::TransactionCoordinatorFenced => "TRANSACTION_COORDINATOR_FENCED",
            ErrorCode::TransactionalIdAuthorizationFailed => {
                "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
            }
            ErrorCode::SecurityDisabled => "SECURITY_DISABLED",
            ErrorCode::OperationNotAttempted => "OPERATION_NOT_ATTEMPTED",
            ErrorCode::KafkaStorageError => "KAFKA_STORAGE_ERROR",
            ErrorCode::LogDirNotFound => "LOG_DIR_NOT_FOUND",
            ErrorCode::SaslAuthenticationFailed => "SASL_AUTHENTICATION_FAILED",
            ErrorCode::UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            ErrorCode::ReassignmentInProgress => "REASSIGNMENT_IN_PROGRESS",
            ErrorCode::DelegationTokenAuthDisabled => "DELEGATION_TOKEN_AUTH_DISABLED",
            ErrorCode::DelegationTokenNotFound => "DELEGATION_TOKEN_NOT_FOUND",
            ErrorCode::DelegationTokenOwnerMismatch => "DELEGATION_TOKEN_OWNER_MISMATCH",
            ErrorCode::DelegationTokenRequestNotAllowed => "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
            ErrorCode::DelegationTokenAuthorizationFailed => {
                "DELEGATION_TOKEN_AUTHORIZATION_FAILED"
            }
            ErrorCode::DelegationTokenExpired => "DELEGATION_TOKEN_EXPIRED",
            ErrorCode::InvalidPrincipalType => "INVALID_PRINCIPAL_TYPE",
            ErrorCode::NonEmptyGroup => "NON_EMPTY_GROUP",
            ErrorCode::GroupIdNotFound => "GROUP_ID_NOT_FOUND",
            ErrorCode::FetchSessionIdNotFound => "FETCH_SESSION_ID_NOT_FOUND",
            ErrorCode::InvalidFetchSessionEpoch => "INVALID_FETCH_SESSION_EPOCH",
            ErrorCode::ListenerNotFound => "LISTENER_NOT_FOUND",
            ErrorCode::TopicDeletionDisabled => "TOPIC_DELETION_DISABLED",
            ErrorCode::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            ErrorCode::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            ErrorCode::UnsupportedCompressionType => "UNSUPPORTED_COMPRESSION_TYPE",
            ErrorCode::StaleBrokerEpoch => "STALE_BROKER_EPOCH",
            ErrorCode::OffsetNotAvailable => "OFFSET_NOT_AVAILABLE",
            ErrorCode::MemberIdRequired => "MEMBER_ID_REQUIRED",
            ErrorCode::PreferredLeaderNotAvailable => "PREFERRED_LEADER_NOT_AVAILABLE",
            ErrorCode::GroupMaxSizeReached => "GROUP_MAX_SIZE_REACHED",
            ErrorCode::FencedInstanceId => "FENCED_INSTANCE_ID",
            ErrorCode::EligibleLeadersNotAvailable => "ELIGIBLE_LEADERS_NOT_AVAILABLE",
            ErrorCode::ElectionNotNeeded => "ELECTION_NOT_NEEDED",
            ErrorCode::NoReassignmentInProgress => "NO_REASSIGNMENT_IN_PROGRESS",
            ErrorCode::GroupSubscribedToTopic => "GROUP_SUBSCRIBED_TO_TOPIC",
            ErrorCode::InvalidRecord => "INVALID_RECORD",
            ErrorCode::UnstableOffsetCommit => "UNSTABLE_OFFSET_COMMIT",
            ErrorCode::ThrottlingQuotaExceeded => "THROTTLING_QUOTA_EXCEEDED",
            ErrorCode::ProducerFenced => "PRODUCER_FENCED",
            ErrorCode::ResourceNotFound => "RESOURCE_NOT_FOUND",
            ErrorCode::DuplicateResource => "DUPLICATE_RESOURCE",
            ErrorCode::UnacceptableCredential => "UNACCEPTABLE_CREDENTIAL",
            ErrorCode::InconsistentVoterSet => "INCONSISTENT_VOTER_SET",
            ErrorCode::InvalidUpdateVersion => "INVALID_UPDATE_VERSION",
            ErrorCode::FeatureUpdateFailed => "FEATURE_UPDATE_FAILED",
            ErrorCode::PrincipalDeserializationFailure => "PRINCIPAL_DESERIALIZATION_FAILURE",
            ErrorCode::SnapshotNotFound => "SNAPSHOT_NOT_FOUND",
            ErrorCode::PositionOutOfRange => "POSITION_OUT_OF_RANGE",
            ErrorCode::UnknownTopicId => "UNKNOWN_TOPIC_ID",
            ErrorCode::DuplicateBrokerRegistration => "DUPLICATE_BROKER_REGISTRATION",
            ErrorCode::BrokerIdNotRegistered => "BROKER_ID_NOT_REGISTERED",
            ErrorCode::InconsistentTopicId => "INCONSISTENT_TOPIC_ID",
            ErrorCode::InconsistentClusterId => "INCONSISTENT_CLUSTER_ID",
            ErrorCode::TransactionalIdNotFound => "TRANSACTIONAL_ID_NOT_FOUND",
            ErrorCode::FetchSessionTopicIdError => "FETCH_SESSION_TOPIC_ID_ERROR",
            ErrorCode::IneligibleReplica => "INELIGIBLE_REPLICA",
            ErrorCode::NewLeaderElected => "NEW_LEADER_ELECTED",
            ErrorCode::OffsetMovedToTieredStorage => "OFFSET_MOVED_TO_TIERED_STORAGE",
            ErrorCode::FencedMemberEpoch => "FENCED_MEMBER_EPOCH",
            ErrorCode::UnreleasedInstanceId => "UNRELEASED_INSTANCE_ID",
            ErrorCode::UnsupportedAssignor => "UNSUPPORTED_ASSIGNOR",
            ErrorCode::StaleMemberEpoch => "STALE_MEMBER_EPOCH",
            ErrorCode::MismatchedEndpointType => "MISMATCHED_ENDPOINT_TYPE",
            ErrorCode::UnsupportedEndpointType => "UNSUPPORTED_ENDPOINT_TYPE",
            ErrorCode::UnknownControllerId => "UNKNOWN_CONTROLLER_ID",
            ErrorCode::UnknownSubscriptionId => "UNKNOWN_SUBSCRIPTION_ID",
            ErrorCode::TelemetryTooLarge => "TELEMETRY_TOO_LARGE",
            ErrorCode::InvalidRegistration => "INVALID_REGISTRATION",
            ErrorCode::TransactionAbortable => "TRANSACTION_ABORTABLE",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl From<ErrorCode> for i16 {
    fn from(e: ErrorCode) -> i16 {
        e.code()
    }
}
