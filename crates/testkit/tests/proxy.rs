//! The fault proxy in front of a real echo server: bytes pass exactly while open, a cut
//! closes connections and refuses new ones, a black hole passes and closes nothing until it
//! heals, and then delivers what was queued.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use streambus_testkit::{FaultProxy, Link};

/// A loopback server that echoes every byte on every connection, until the test ends.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn connect(proxy: &FaultProxy, read_timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).unwrap();
    stream.set_read_timeout(Some(read_timeout)).unwrap();
    stream
}

fn echo(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    stream.write_all(message).unwrap();
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).unwrap();
    back
}

/// Whether the stream's peer has closed it: a read gives end of file or a reset.
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn an_open_link_carries_every_byte_both_ways() {
    let proxy = FaultProxy::start(echo_server());
    let mut stream = connect(&proxy, Duration::from_secs(10));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let message: Vec<u8> = (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    assert_eq!(echo(&mut stream, &message), message);
    assert_eq!(proxy.forwarded_bytes(), 2 << 20);
    assert_eq!((proxy.accepted(), proxy.link()), (1, Link::Open));
}

#[test]
fn a_cut_closes_connections_and_refuses_new_ones_until_healed() {
    let proxy = FaultProxy::start(echo_server());
    let mut before = connect(&proxy, Duration::from_secs(10));
    assert_eq!(echo(&mut before, b"before"), b"before");

    proxy.cut();
    assert!(
        closed(&mut before),
        "a connection through a cut link is closed"
    );
    let mut during = connect(&proxy, Duration::from_secs(10));
    assert!(closed(&mut during), "a new connection is closed at once");

    proxy.heal();
    let mut after = connect(&proxy, Duration::from_secs(10));
    assert_eq!(echo(&mut after, b"after"), b"after");
    assert_eq!(proxy.accepted(), 3);
}

#[test]
fn a_black_hole_holds_everything_and_delivers_it_when_healed() {
    let proxy = FaultProxy::start(echo_server());
    let mut open = connect(&proxy, Duration::from_millis(300));
    assert_eq!(echo(&mut open, b"open"), b"open");
    let forwarded = proxy.forwarded_bytes();

    proxy.blackhole();
    open.write_all(b"queued").unwrap();
    let mut held = connect(&proxy, Duration::from_millis(300));
    held.write_all(b"held").unwrap();
    assert!(
        !closed(&mut open),
        "nothing is closed and nothing comes back"
    );
    assert!(!closed(&mut held), "a new connection is held, not refused");
    assert_eq!(
        proxy.forwarded_bytes(),
        forwarded,
        "no byte crossed the black hole"
    );

    proxy.heal();
    for (stream, expected) in [(&mut open, &b"queued"[..]), (&mut held, &b"held"[..])] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut back = vec![0u8; expected.len()];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(
            back, expected,
            "what was sent into the black hole arrives after it heals"
        );
    }
}
