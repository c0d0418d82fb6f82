//! [`FaultProxy`]: a loopback TCP proxy whose path can be cut, black-holed and healed.
//!
//! A proxy forwards every connection it accepts to one upstream address, byte for byte in
//! both directions. Its [`Link`] decides what passes:
//! - [`Link::Open`]: everything is forwarded;
//! - [`Link::Cut`]: every connection through it is closed, both ends, and new ones are
//!   closed as soon as they are accepted: a crashed host, or a firewall rejecting packets;
//! - [`Link::Blackholed`]: nothing is forwarded and nothing is closed. The proxy stops
//!   reading, so what is sent stays queued in the sockets, and new connections are accepted
//!   and held without reaching the upstream: a network partition as TCP sees it. Healing
//!   forwards what was queued, as TCP's retransmissions would.
//!
//! A connection ends as a whole: when either side closes, the proxy closes the other (Kafka
//! clients and brokers never half-close). Bytes a side had already sent when its link
//! changed may still be delivered, as packets in flight are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// What a [`FaultProxy`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Everything is forwarded.
    Open,
    /// Connections are closed, new ones at once.
    Cut,
    /// Nothing passes and nothing is closed.
    Blackholed,
}

/// A TCP proxy on 127.0.0.1 port 0 in front of one upstream address.
pub struct FaultProxy {
    addr: SocketAddr,
    link: Arc<watch::Sender<Link>>,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    forwarded_bytes: AtomicU64,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` with its link open.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", 0)))
            .expect("a loopback listener");
        let addr = listener.local_addr().expect("the listener's address");
        let link = Arc::new(watch::Sender::new(Link::Open));
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let accepting = Accept {
            listener,
            upstream,
            link: Arc::clone(&link),
            counters: Arc::clone(&counters),
        };
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = accepting.run() => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime drops every connection task and closes its sockets.
            })
            .expect("a proxy thread");
        FaultProxy {
            addr,
            link,
            counters,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current link.
    pub fn link(&self) -> Link {
        *self.link.borrow()
    }

    /// Sets what passes from now on.
    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }

    /// Closes every connection and refuses new ones until healed.
    pub fn cut(&self) {
        self.set(Link::Cut);
    }

    /// Lets nothing through, and closes nothing, until healed.
    pub fn blackhole(&self) {
        self.set(Link::Blackholed);
    }

    /// Opens the link again.
    pub fn heal(&self) {
        self.set(Link::Open);
    }

    /// Connections accepted so far, whatever became of them.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Bytes forwarded so far, both directions together (counted as they are taken to be
    /// passed on).
    pub fn forwarded_bytes(&self) -> u64 {
        self.counters.forwarded_bytes.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The accept loop and what every connection task needs.
struct Accept {
    listener: TcpListener,
    upstream: SocketAddr,
    link: Arc<watch::Sender<Link>>,
    counters: Arc<Counters>,
}

impl Accept {
    async fn run(self) {
        loop {
            let Ok((client, _)) = self.listener.accept().await else {
                continue;
            };
            self.counters.accepted.fetch_add(1, Ordering::Relaxed);
            if *self.link.borrow() == Link::Cut {
                continue; // dropped: closed at once
            }
            let link = self.link.subscribe();
            let counters = Arc::clone(&self.counters);
            tokio::spawn(carry(client, self.upstream, link, counters));
        }
    }
}

/// Carries one connection until either side closes or the link is cut.
async fn carry(
    client: TcpStream,
    upstream: SocketAddr,
    mut link: watch::Receiver<Link>,
    counters: Arc<Counters>,
) {
    if !wait_open(&mut link).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pump(client_read, server_write, link.clone(), &counters) => {}
        () = pump(server_read, client_write, link, &counters) => {}
    }
}

/// Copies one direction while the link is open; returns when either side closes or fails,
/// or the link is cut.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
    counters: &Counters,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if !wait_open(&mut link).await {
            return;
        }
        // Biased towards the link: when a change and data are ready together, the change
        // is seen first, so nothing sent after a black-hole began is forwarded. A read is
        // cancel-safe: if the link changes first, nothing read is lost.
        tokio::select! {
            biased;
            changed = link.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    // Counted first, so that whoever has received bytes sees them counted.
                    counters.forwarded_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if to.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}

/// Waits while the link is black-holed: `true` once it is open, `false` if it is cut or the
/// proxy is gone.
async fn wait_open(link: &mut watch::Receiver<Link>) -> bool {
    loop {
        match *link.borrow_and_update() {
            Link::Open => return true,
            Link::Cut => return false,
            Link::Blackholed => {}
        }
        if link.changed().await.is_err() {
            return false;
        }
    }
}
