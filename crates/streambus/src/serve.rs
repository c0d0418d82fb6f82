//! `streambus serve`: bind the listeners, open the broker, serve until SIGTERM or SIGINT,
//! then stop cleanly (stop accepting, finish in-flight requests, flush, mark logs clean).

use std::sync::Arc;

use anyhow::{Context, Result};
use streambus_broker::{AdvertisedAddr, Broker, HealthStatus};
use streambus_http::{Component, ComponentStatus, Health};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{ServeArgs, ServeConfig};

/// Runs the broker until a shutdown signal.
pub fn run(args: ServeArgs) -> Result<()> {
    let config = ServeConfig::assemble(args)?;
    crate::open_files::raise_and_log();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("streambus")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> Result<()> {
    let kafka = TcpListener::bind(config.kafka_addr)
        .await
        .with_context(|| format!("cannot listen for Kafka clients on {}", config.kafka_addr))?;
    let http = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http_addr))?;
    let kafka_addr = kafka.local_addr()?;
    let http_addr = http.local_addr()?;
    let health = Health::new();
    if config.enable_profiling {
        health.enable_profiling();
    }
    let (stop, stopped) = watch::channel(false);
    let http_task = tokio::spawn(streambus_http::serve(
        http,
        Arc::clone(&health),
        wait_for(stopped.clone()),
    ));

    let mut broker_config = config.broker;
    broker_config.advertised_addr = config
        .advertised
        .unwrap_or_else(|| AdvertisedAddr::from(kafka_addr));
    let data_dir = broker_config.data_dir.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(broker_config))
        .await
        .context("the broker failed to start")?
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
    let metrics = Arc::downgrade(&broker);
    health.set_metrics(Box::new(move || {
        metrics
            .upgrade()
            .map(|broker| broker.render_metrics())
            .unwrap_or_default()
    }));
    let components = Arc::downgrade(&broker);
    health.set_components(Box::new(move || {
        components
            .upgrade()
            .map(|broker| broker.health().into_iter().map(component).collect())
            .unwrap_or_default()
    }));
    health.set_broker(Arc::clone(&broker));
    health.set_ready(true);
    tracing::info!(
        kafka = %kafka_addr,
        http = %http_addr,
        data_dir = %data_dir.display(),
        node_id = broker.config().node_id,
        cluster_id = broker.cluster_id(),
        "streambus is serving"
    );

    let handing_over = Arc::clone(&broker);
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        // Leaderships move to other in-sync replicas while this node still serves their
        // fetches (Kafka's controlled shutdown); only then do the listeners stop.
        let _ = tokio::task::spawn_blocking(move || handing_over.hand_over_leaderships()).await;
        let _ = stop.send(true);
    });
    let served =
        streambus_broker::serve(kafka, Arc::clone(&broker), wait_for(stopped.clone())).await;
    health.set_ready(false);
    signal.abort();
    tracing::info!("stopping: flushing logs and closing the data directory");
    let closing = Arc::clone(&broker);
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .context("closing the broker failed")??;
    let _ = http_task.await;
    served.context("the Kafka listener failed")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// A broker component as the HTTP surface reports it.
fn component(health: streambus_broker::ComponentHealth) -> Component {
    Component {
        name: health.name.to_string(),
        status: match health.status {
            HealthStatus::Healthy => ComponentStatus::Healthy,
            HealthStatus::Degraded => ComponentStatus::Degraded,
            HealthStatus::Unhealthy => ComponentStatus::Unhealthy,
        },
        detail: health.detail,
    }
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stopping| *stopping).await;
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; use Ctrl-C to stop");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
    }
}
