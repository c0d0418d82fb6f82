//! InitProducerId (key 22): a producer id for an idempotent producer.
//!
//! Without a transactional id, as Kafka does, every request gets a new producer id with
//! epoch 0, also when a v3+ client names its current id and epoch (KIP-360): Kafka bumps the
//! epoch of an existing id only for transactional producers, and a fresh id is just as good
//! for an idempotent one (its sequences restart either way), while bumping an epoch on a
//! client's word could fence another producer. Naming only one of id and epoch is
//! INVALID_REQUEST. Ids come from this broker's block (see `Broker::next_producer_id`), so
//! they are unique across restarts. `transaction_timeout_ms` has no meaning here.
//!
//! Transactions are not supported yet. A transactional id is answered with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the code Produce uses for transactional batches:
//! both the Java client and librdkafka treat it as fatal and report it at
//! `initTransactions()`, whereas coordinator errors (NOT_COORDINATOR and the like) would
//! have them retry for ever. An empty transactional id is INVALID_REQUEST, as in Kafka.

use streambus_protocol::ErrorCode;
use streambus_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use streambus_protocol::messages::init_producer_id_response::InitProducerIdResponse;

use crate::Broker;
use crate::context::RequestContext;

/// First version that carries the producer's current id and epoch.
const CURRENT_ID_FROM: i16 = 3;

pub(crate) async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let refuse = |code: ErrorCode| InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    match request.transactional_id.as_deref() {
        None => {}
        Some("") => return refuse(ErrorCode::InvalidRequest),
        Some(id) => {
            tracing::debug!(
                connection = ctx.connection.id,
                transactional_id = id,
                "refused a transactional producer: transactions are not supported yet"
            );
            return refuse(ErrorCode::TransactionalIdAuthorizationFailed);
        }
    }
    if ctx.api_version >= CURRENT_ID_FROM
        && ((request.producer_id == -1) != (request.producer_epoch == -1))
    {
        return refuse(ErrorCode::InvalidRequest);
    }
    match broker.next_producer_id() {
        Ok(producer_id) => InitProducerIdResponse {
            error_code: ErrorCode::None.code(),
            producer_id,
            producer_epoch: 0,
            ..Default::default()
        },
        Err(e) => refuse(e.code),
    }
}

#[cfg(test)]
mod tests {
    use streambus_protocol::ApiKey;

    use super::*;
    use crate::handlers::testing;

    fn idempotent() -> InitProducerIdRequest {
        InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        }
    }

    #[tokio::test]
    async fn ids_are_unique_across_blocks_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let broker = testing::open(dir.path());
        let ctx = testing::ctx(ApiKey::InitProducerId, 4);
        let mut ids = Vec::new();
        for _ in 0..1_005 {
            let response = handle(&broker, &ctx, idempotent()).await;
            assert_eq!(response.error_code, 0);
            assert_eq!(response.producer_epoch, 0);
            ids.push(response.producer_id);
        }
        assert_eq!(ids, (0..1_005).collect::<Vec<i64>>());
        assert_eq!(broker.image().next_producer_id(), 2_000);
        broker.close().unwrap();
        drop(broker);

        let broker = testing::open(dir.path());
        let response = handle(&broker, &ctx, idempotent()).await;
        assert_eq!(response.producer_id, 2_000);
    }

    #[tokio::test]
    async fn bumps_get_a_new_id_and_transactions_are_refused() {
        let (_dir, broker) = testing::broker();
        let ctx = testing::ctx(ApiKey::InitProducerId, 4);
        let first = handle(&broker, &ctx, idempotent()).await;
        let bump = InitProducerIdRequest {
            producer_id: first.producer_id,
            producer_epoch: 0,
            ..idempotent()
        };
        let bumped = handle(&broker, &ctx, bump).await;
        assert_eq!(bumped.error_code, 0);
        assert_ne!(bumped.producer_id, first.producer_id);
        assert_eq!(bumped.producer_epoch, 0);

        let half = InitProducerIdRequest {
            producer_id: first.producer_id,
            ..idempotent()
        };
        assert_eq!(
            handle(&broker, &ctx, half).await.error_code,
            ErrorCode::InvalidRequest.code()
        );
        let transactional = InitProducerIdRequest {
            transactional_id: Some("tx".into()),
            ..idempotent()
        };
        let response = handle(&broker, &ctx, transactional).await;
        assert_eq!(
            response.error_code,
            ErrorCode::TransactionalIdAuthorizationFailed.code()
        );
        assert_eq!((response.producer_id, response.producer_epoch), (-1, -1));
        let empty = InitProducerIdRequest {
            transactional_id: Some(String::new()),
            ..idempotent()
        };
        assert_eq!(
            handle(&broker, &ctx, empty).await.error_code,
            ErrorCode::InvalidRequest.code()
        );
    }
}
