//! Runs the broker's request path on arbitrary bytes: frame size check, header, body.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use streambus_protocol::{RequestHeader, decode_request, frame};

/// A small maximum so the fuzzer also exercises the too-large path.
const MAX_FRAME: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(mut payload)) = frame::split(&mut buf, MAX_FRAME) {
        if let Ok(header) = RequestHeader::decode_frame(&mut payload) {
            let _ = decode_request(&header, payload);
        }
    }
});
