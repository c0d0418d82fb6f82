//! Three `streambus serve` processes forming one cluster through the metadata quorum
//! (`--voters`): every node shows the same brokers, topics and leaders; partitions are spread
//! over the nodes and each is served by its leader, with librdkafka routing to it; the
//! quorum keeps committing when its leader is SIGKILLed, and the killed node comes back on
//! its directory with what was decided without it. Nodes started in racks (`--rack`) report
//! them, and every partition's replicas span the racks. `STREAMBUS_TEST_ECHO=1` echoes the
//! logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use anyhow::{Context, Result, ensure};
use support::cluster::{
    AGREE, Cluster, NODES, agreed, agreed_view, create_replicated, expected, metric, produce, read,
    segment_bytes,
};
use support::{create_topic, poll};

#[test]
fn three_nodes_share_metadata_spread_partitions_and_survive_the_quorum_leaders_death() -> Result<()>
{
    let mut cluster = Cluster::start()?;
    let ids: Vec<String> = cluster
        .dirs
        .iter()
        .map(|dir| std::fs::read_to_string(dir.path().join("meta.properties")).unwrap())
        .map(|text| {
            text.lines()
                .find(|l| l.starts_with("cluster.id="))
                .unwrap()
                .to_string()
        })
        .collect();
    ensure!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one cluster id: {ids:?}"
    );
    let (topic, partitions, per_partition) = ("spread", 6, 50);
    create_topic(&cluster.node(2).bootstrap(), topic, partitions)?;
    let (brokers, leaders) = agreed_view(&cluster, topic)?;
    ensure!(brokers == [1, 2, 3], "brokers {brokers:?}");
    for id in 1..=NODES {
        let led = leaders.values().filter(|p| p.leader == id).count();
        ensure!(
            led == 2,
            "node {id} leads {led} of 6 partitions: {leaders:?}"
        );
    }

    produce(&cluster.bootstrap(), topic, partitions, per_partition)?;
    ensure!(
        read(
            &cluster.node(3).bootstrap(),
            topic,
            partitions,
            per_partition
        )? == expected(partitions, per_partition)
    );

    // The quorum leader dies; the two others elect a new one and keep deciding.
    let leader = poll("a quorum leader", AGREE, || cluster.quorum_leader(1))?;
    cluster.kill(leader)?;
    let survivor = (1..=NODES).find(|id| *id != leader).unwrap();
    poll("a topic created without the old leader", AGREE, || {
        create_topic(&cluster.node(survivor).bootstrap(), "after", 2).ok()
    })?;
    let new_leader = poll("a new quorum leader", AGREE, || {
        cluster.quorum_leader(survivor).filter(|l| *l != leader)
    })?;
    ensure!(new_leader != leader);

    // Back on its directory, the old leader learns what was decided and serves its data.
    cluster.restart(leader)?;
    let (brokers, _) = agreed_view(&cluster, "after")?;
    ensure!(
        brokers == [1, 2, 3],
        "brokers after the restart {brokers:?}"
    );
    ensure!(
        read(
            &cluster.node(leader).bootstrap(),
            topic,
            partitions,
            per_partition
        )? == expected(partitions, per_partition)
    );
    Ok(())
}

#[test]
fn replicated_partitions_keep_identical_copies_and_a_returning_follower_rejoins_the_isr()
-> Result<()> {
    let mut cluster = Cluster::start()?;
    let (topic, partitions, per_partition) = ("copies", 3, 100);
    create_replicated(&cluster.node(1).bootstrap(), topic, partitions, 3)?;
    let (_, views) = agreed(&cluster, topic, |v| v.values().all(|p| p.isr == [1, 2, 3]))?;
    for (partition, view) in &views {
        let mut replicas = view.replicas.clone();
        replicas.sort_unstable();
        ensure!(replicas == [1, 2, 3], "partition {partition}: {view:?}");
        ensure!(
            view.replicas[0] == view.leader,
            "the preferred replica leads: {view:?}"
        );
    }

    // acks=all is answered once every in-sync replica has the records.
    produce(&cluster.bootstrap(), topic, partitions, per_partition)?;
    ensure!(
        read(
            &cluster.node(2).bootstrap(),
            topic,
            partitions,
            per_partition
        )? == expected(partitions, per_partition)
    );
    for partition in 0..partitions {
        let leader = views[&partition].leader;
        let copies: Vec<Vec<u8>> = (1..=NODES)
            .map(|id| segment_bytes(&cluster, id, topic, partition))
            .collect();
        poll("every replica to hold the leader's bytes", AGREE, || {
            let copies: Vec<Vec<u8>> = (1..=NODES)
                .map(|id| segment_bytes(&cluster, id, topic, partition))
                .collect();
            copies
                .iter()
                .all(|c| *c == copies[(leader - 1) as usize])
                .then_some(())
        })
        .with_context(|| {
            format!(
                "partition {partition}: sizes {:?}",
                copies.iter().map(Vec::len).collect::<Vec<_>>()
            )
        })?;
    }

    // A follower of partition 0 dies: it leaves the ISR, and acks=all goes on without it.
    let leader = views[&0].leader;
    let follower = views[&0]
        .replicas
        .iter()
        .copied()
        .find(|r| *r != leader)
        .unwrap();
    cluster.kill(follower)?;
    agreed(&cluster, topic, |v| !v[&0].isr.contains(&follower))?;
    let metric = |name: &str| metric(&cluster, leader, name);
    poll(
        "the leader to count its under-replicated partition",
        AGREE,
        || (metric("streambus_under_replicated_partitions ")? >= 1.0).then_some(()),
    )?;
    let isr = metric(&format!(
        "streambus_partition_isr_size{{topic=\"{topic}\",partition=\"0\"}} "
    ));
    ensure!(isr == Some(2.0), "ISR size metric {isr:?}");
    produce(&cluster.node(leader).bootstrap(), topic, 1, per_partition)?;

    // Back, it catches up and rejoins; its copy is the leader's again.
    cluster.restart(follower)?;
    agreed(&cluster, topic, |v| v[&0].isr == [1, 2, 3])?;
    poll(
        "the returning follower to hold the leader's bytes",
        AGREE,
        || {
            (segment_bytes(&cluster, follower, topic, 0)
                == segment_bytes(&cluster, leader, topic, 0))
            .then_some(())
        },
    )?;
    Ok(())
}

#[test]
fn replicas_are_spread_over_racks_and_brokers_report_theirs() -> Result<()> {
    // Two brokers in one rack, one in the other: without racks, round-robin would put both
    // replicas of some partitions in "east".
    let cluster = Cluster::start_in_racks(vec![Some("east"), Some("east"), Some("west")])?;
    let topic = "racked";
    create_replicated(&cluster.node(1).bootstrap(), topic, 6, 2)?;
    let (_, views) = agreed(&cluster, topic, |v| v.values().all(|p| p.isr.len() == 2))?;
    for (partition, view) in &views {
        ensure!(
            view.replicas.contains(&3),
            "partition {partition} has both replicas in rack east: {view:?}"
        );
    }
    let led_by_west = views.values().filter(|p| p.leader == 3).count();
    ensure!(
        led_by_west == 2,
        "the west broker leads {led_by_west} of 6 partitions, not its third: {views:?}"
    );
    let racks = support::block_on(async {
        let admin = streambus_client::admin::Admin::connect(streambus_client::ClientConfig::new(
            &cluster.bootstrap(),
        ))
        .await?;
        let described = admin.describe_cluster().await?;
        anyhow::Ok(
            described
                .brokers
                .into_iter()
                .map(|b| (b.node_id, b.rack))
                .collect::<Vec<_>>(),
        )
    })?;
    assert_eq!(
        racks,
        vec![
            (1, Some("east".to_owned())),
            (2, Some("east".to_owned())),
            (3, Some("west".to_owned()))
        ]
    );
    Ok(())
}

#[test]
fn a_broker_outside_the_voters_follows_the_quorum_and_serves_its_replicas() -> Result<()> {
    let mut cluster = Cluster::start()?;
    let observer = cluster.add_observer()?;
    let (topic, partitions, per_partition) = ("observed", 4, 50);
    // Created through the observer: its commit goes to the quorum's leader.
    create_replicated(&cluster.node(observer).bootstrap(), topic, partitions, 3)?;
    let (brokers, views) = agreed(&cluster, topic, |v| v.values().all(|p| p.isr.len() == 3))?;
    assert_eq!(
        brokers,
        vec![1, 2, 3, observer],
        "every node lists the observer"
    );
    let held = views
        .values()
        .filter(|p| p.replicas.contains(&observer))
        .count();
    let led = views.values().filter(|p| p.leader == observer).count();
    ensure!(
        held == 3 && led == 1,
        "the observer holds {held} and leads {led}: {views:?}"
    );
    let (_, health) = cluster.node(observer).http_get("/health")?;
    ensure!(health.contains("this node Learner"), "{health}");

    // It serves clients that know only it.
    let only = cluster.node(observer).bootstrap();
    produce(&only, topic, partitions, per_partition)?;
    assert_eq!(
        read(&only, topic, partitions, per_partition)?,
        expected(partitions, per_partition)
    );

    // Its session is watched like a voter's: killed, it loses its leadership and ISRs.
    cluster.kill(observer)?;
    agreed(&cluster, topic, |v| {
        v.values()
            .all(|p| p.leader >= 0 && p.leader != observer && !p.isr.contains(&observer))
    })?;
    // Back on its directory, it catches up and rejoins every ISR.
    cluster.restart(observer)?;
    let (_, views) = agreed(&cluster, topic, |v| v.values().all(|p| p.isr.len() == 3))?;
    let (id, p) = views
        .iter()
        .find(|(_, p)| p.replicas.contains(&observer))
        .unwrap();
    poll("the observer's copy to be the leader's", AGREE, || {
        let copy = segment_bytes(&cluster, observer, topic, *id);
        (!copy.is_empty() && copy == segment_bytes(&cluster, p.leader, topic, *id)).then_some(())
    })?;
    assert_eq!(
        read(
            &cluster.node(observer).bootstrap(),
            topic,
            partitions,
            per_partition
        )?,
        expected(partitions, per_partition)
    );
    Ok(())
}

/// The `streambus_requests_total{api="Fetch"}` count of node `id`, if it served any.
fn fetches_served(cluster: &Cluster, id: i32) -> Result<Option<u64>> {
    Ok(metric(cluster, id, "streambus_requests_total{api=\"Fetch\"}").map(|v| v as u64))
}

#[test]
fn a_follower_fetches_all_its_partitions_on_a_leader_in_one_request() -> Result<()> {
    let cluster = Cluster::start()?;
    let (topic, partitions) = ("many", 12);
    create_replicated(&cluster.node(1).bootstrap(), topic, partitions, 3)?;
    let (_, views) = agreed(&cluster, topic, |v| v.values().all(|p| p.isr.len() == 3))?;
    let led_by_1 = views.values().filter(|p| p.leader == 1).count();
    ensure!(
        led_by_1 >= 2,
        "node 1 leads {led_by_1} partitions: {views:?}"
    );
    // Idle, each of the two followers keeps one fetch waiting at node 1 at a time, which node
    // 1 holds for the fetch's whole wait (500 ms): about four requests each in a second, and
    // not four per partition. The window's edges may add a request per follower.
    let window = std::time::Duration::from_secs(2);
    let before = fetches_served(&cluster, 1)?.unwrap_or(0);
    std::thread::sleep(window);
    let after = fetches_served(&cluster, 1)?.context("node 1 served no fetch")?;
    let served = after - before;
    ensure!(served > 0, "no follower fetched from node 1 in {window:?}");
    let rounds = (window.as_millis() / 500) as u64 + 2;
    ensure!(
        served <= 2 * rounds,
        "node 1 served {served} fetches in {window:?} to followers of its {led_by_1} partitions"
    );
    Ok(())
}
