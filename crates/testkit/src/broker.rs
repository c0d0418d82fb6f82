//! [`TestBroker`]: a broker in the test process on a loopback port and a temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use streambus_broker::{AdvertisedAddr, Broker, BrokerConfig};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A broker serving on loopback for the duration of a test.
pub struct TestBroker {
    addr: SocketAddr,
    dir: Option<TempDir>,
    data_dir: PathBuf,
    configure: Arc<dyn Fn(&mut BrokerConfig) + Send + Sync>,
    broker: Option<Arc<Broker>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestBroker {
    /// A broker with default settings (auto-creation off).
    pub fn start() -> TestBroker {
        Self::start_with(|_| {})
    }

    /// A broker whose config `configure` adjusts before it opens.
    pub fn start_with(configure: impl Fn(&mut BrokerConfig) + Send + Sync + 'static) -> TestBroker {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let data_dir = dir.path().join("data");
        let mut broker = TestBroker {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: Some(dir),
            data_dir,
            configure: Arc::new(configure),
            broker: None,
            stop: None,
            thread: None,
        };
        broker.launch();
        broker
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The running broker, for assertions on its state.
    pub fn broker(&self) -> &Arc<Broker> {
        self.broker.as_ref().expect("the broker is running")
    }

    /// Stops the broker cleanly and starts it again on the same directory and port.
    pub fn restart(&mut self) {
        self.shutdown();
        self.launch();
    }

    /// Stops the broker cleanly: stop accepting, finish requests, close the logs.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the broker thread exits cleanly");
        }
        if let Some(broker) = self.broker.take() {
            broker.close().expect("the broker closes cleanly");
        }
    }

    fn launch(&mut self) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(self.addr))
            .expect("a loopback listener");
        self.addr = listener.local_addr().expect("the listener's address");
        let mut config = BrokerConfig::new(&self.data_dir, AdvertisedAddr::from(self.addr));
        (self.configure)(&mut config);
        let broker = Broker::open(config).expect("the test broker opens");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = Arc::clone(&broker);
        let thread = std::thread::Builder::new()
            .name("test-broker".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let shutdown = async {
                        let _ = stopped.await;
                    };
                    if let Err(e) = streambus_broker::serve(listener, serving, shutdown).await {
                        tracing::error!(error = %e, "test broker failed");
                    }
                });
            })
            .expect("a broker thread");
        self.broker = Some(broker);
        self.stop = Some(stop);
        self.thread = Some(thread);
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(broker) = self.broker.take() {
            let _ = broker.close();
        }
        drop(self.dir.take());
    }
}
