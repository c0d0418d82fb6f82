//! The cluster layer against a real broker: bootstrap, metadata, pipelined requests, the
//! errors a user sees when no broker answers, and the circuit breaker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use streambus_client::backoff::BreakerConfig;
use streambus_client::{ClientConfig, Cluster, Error, ErrorCode};
use streambus_protocol::messages::metadata_request::MetadataRequest;
use streambus_testkit::TestBroker;
use support::{block_on, create_topic};

mod support;

fn config(broker: &TestBroker) -> ClientConfig {
    let mut config = ClientConfig::new(&broker.bootstrap());
    config.request_timeout = Duration::from_secs(10);
    config
}

#[test]
fn learns_brokers_and_topic_leaders_from_the_bootstrap_address() {
    let broker = TestBroker::start();
    block_on(learns_brokers_and_topic_leaders(&broker));
}

async fn learns_brokers_and_topic_leaders(broker: &TestBroker) {
    let cluster = Cluster::connect(config(broker)).await.unwrap();
    let brokers = cluster.brokers();
    assert_eq!(brokers.len(), 1);
    assert_eq!(brokers[0].addr, broker.bootstrap());

    create_topic(broker, "orders", 3).await;
    let topic = cluster.topic("orders", false).await.unwrap();
    assert_eq!(topic.partitions.len(), 3);
    assert_eq!(
        topic.partitions.iter().map(|p| p.id).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        cluster.leader("orders", 2).await.unwrap(),
        brokers[0].node_id
    );

    let missing = cluster.topic("no-such-topic", false).await.unwrap_err();
    assert_eq!(missing.code(), Some(ErrorCode::UnknownTopicOrPartition));
    assert!(missing.to_string().contains("no-such-topic"), "{missing}");
    let out_of_range = cluster.leader("orders", 3).await.unwrap_err();
    assert_eq!(
        out_of_range.code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
}

#[test]
fn many_requests_in_flight_on_one_connection_each_get_their_own_response() {
    let broker = TestBroker::start();
    block_on(pipelined_requests(&broker));
}

async fn pipelined_requests(broker: &TestBroker) {
    let cluster = Cluster::connect(config(broker)).await.unwrap();
    for name in ["a", "bb", "ccc"] {
        create_topic(broker, name, 1).await;
    }
    let connection = cluster.connection(&broker.bootstrap()).await.unwrap();
    let calls = (0..60).map(|i| {
        let connection = connection.clone();
        let name = ["a", "bb", "ccc"][i % 3].to_owned();
        async move {
            let request = MetadataRequest {
                topics: Some(vec![
                    streambus_protocol::messages::metadata_request::MetadataRequestTopic {
                        topic_id: [0; 16],
                        name: Some(name.clone()),
                    },
                ]),
                ..Default::default()
            };
            let response = connection.call(request).await.unwrap();
            (name, response.topics[0].name.clone().unwrap())
        }
    });
    for (asked, answered) in futures_util::future::join_all(calls).await {
        assert_eq!(asked, answered);
    }
}

#[tokio::test]
async fn a_refused_connection_says_no_broker_and_how_to_start_one() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let error = Cluster::connect(ClientConfig::new(&addr))
        .await
        .err()
        .unwrap();
    assert!(matches!(error, Error::NoBroker { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("no broker at {addr}: is `streambus serve` running?")
    );
}

#[tokio::test]
async fn bad_bootstrap_lists_are_refused_before_connecting() {
    for bootstrap in ["", " , ", "localhost", "localhost:http"] {
        let error = Cluster::connect(ClientConfig::new(bootstrap))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, Error::Invalid(_)),
            "{bootstrap:?}: {error:?}"
        );
    }
}

#[test]
fn the_breaker_opens_on_a_dead_broker_and_closes_once_it_is_back() {
    let mut broker = TestBroker::start();
    let addr = broker.bootstrap();
    let mut config = ClientConfig::new(&addr);
    config.request_timeout = Duration::from_secs(5);
    config.breaker = BreakerConfig {
        failure_threshold: 2,
        open_for: Duration::from_millis(300),
        max_open_for: Duration::from_millis(600),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = runtime.block_on(Cluster::connect(config)).unwrap();
    broker.shutdown();

    // Transport failures open the circuit; then calls are refused untried.
    runtime.block_on(async {
        let mut failures = 0;
        for _ in 0..10 {
            match cluster.call_addr(&addr, MetadataRequest::default()).await {
                Err(Error::CircuitOpen { failures: seen, .. }) => {
                    assert_eq!(seen, 2);
                    break;
                }
                Err(e) => {
                    assert!(e.is_retriable(), "{e:?}");
                    failures += 1;
                }
                Ok(_) => panic!("the broker is down"),
            }
        }
        assert_eq!(failures, 2, "failures before the circuit opened");
        let refused = cluster.call_addr(&addr, MetadataRequest::default()).await;
        let message = refused.err().unwrap().to_string();
        assert!(message.contains("failed 2 times in a row"), "{message}");
    });

    broker.restart();
    // Once the open time has passed a probe goes through, succeeds and closes the circuit.
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match cluster.call_addr(&addr, MetadataRequest::default()).await {
                Ok(_) => break,
                Err(e) => assert!(e.is_retriable(), "{e:?}"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the circuit never closed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for _ in 0..3 {
            cluster
                .call_addr(&addr, MetadataRequest::default())
                .await
                .unwrap();
        }
    });
}
