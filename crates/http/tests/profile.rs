//! `GET /debug/pprof/profile`: off by default, bounded seconds, one at a time, and an SVG
//! flame graph of real samples when enabled.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use streambus_http::{Health, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// Keeps a core busy until `stop`, so the profiler has something to sample.
fn spin(stop: &AtomicBool) -> u64 {
    let mut x = 1u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_only_when_enabled_and_answers_a_flame_graph() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let health = Health::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, Arc::clone(&health), async {
        let _ = stopped.await;
    }));

    let off = get(addr, "/debug/pprof/profile?seconds=1").await;
    assert!(off.starts_with("HTTP/1.1 404"), "{off}");
    assert!(off.contains("profiling is off"), "{off}");

    health.enable_profiling();
    for bad in ["0", "61", "soon"] {
        let response = get(addr, &format!("/debug/pprof/profile?seconds={bad}")).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{bad}: {response}");
    }

    let busy = Arc::new(AtomicBool::new(false));
    let spinner = {
        let busy = Arc::clone(&busy);
        std::thread::spawn(move || spin(&busy))
    };
    let first = tokio::spawn(get(addr, "/debug/pprof/profile?seconds=2"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = get(addr, "/debug/pprof/profile?seconds=1").await;
    assert!(second.starts_with("HTTP/1.1 409"), "{second}");
    let first = first.await.unwrap();
    busy.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    let head = &first[..first.len().min(400)];
    assert!(first.starts_with("HTTP/1.1 200"), "{head}");
    assert!(first.contains("content-type: image/svg+xml"), "{head}");
    assert!(first.contains("<svg"), "no svg in the body: {head}");
    // The spinning function is in the graph.
    assert!(
        first.contains("spin"),
        "the busy function is not in the profile"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
