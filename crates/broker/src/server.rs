//! Accepting connections, and stopping cleanly.
//!
//! `serve` takes a bound listener and a shutdown future (so tests bind port 0 and stop when
//! they like). On shutdown it stops accepting, tells every connection to stop after the
//! request it is serving, and waits for them, up to a grace period.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::Broker;
use crate::connection;
use crate::context::{ANONYMOUS, ConnectionInfo};

/// How long connections get to finish their in-flight requests at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves Kafka clients on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    broker.groups().start_timers().await;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
                    }
                    let info = ConnectionInfo {
                        id: broker.next_connection_id.fetch_add(1, Ordering::Relaxed),
                        peer,
                        listener: "PLAINTEXT",
                        principal: ANONYMOUS.to_string(),
                    };
                    let broker = Arc::clone(&broker);
                    let stopped = stopped.clone();
                    connections.spawn(async move {
                        let _open = broker.metrics.connection_opened();
                        connection::run(stream, Arc::clone(&broker), info, stopped).await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "a connection task panicked; the broker goes on");
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Parked JoinGroup and SyncGroup requests would otherwise hold their connections until
    // the rebalance ends; they are answered COORDINATOR_NOT_AVAILABLE and clients retry.
    broker.groups().shutdown();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "connections still busy at shutdown; closing them"
        );
        connections.abort_all();
    }
    Ok(())
}
