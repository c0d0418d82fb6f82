//! Headers, header-version rules, framing and error codes, checked against the
//! `kafka-protocol` crate where it has the same facts.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use streambus_protocol::frame::{self, FrameError, FrameStatus};
use streambus_protocol::header::{request_header_version, response_header_version};
use streambus_protocol::{ApiKey, DecodeError, ErrorCode, Output, RequestHeader, ResponseHeader};

#[test]
fn header_versions_match_the_other_implementation() {
    for api in ApiKey::ALL {
        let theirs = kafka_protocol::messages::ApiKey::try_from(*api as i16).unwrap();
        for v in api.supported().iter() {
            let key = *api as i16;
            assert_eq!(
                request_header_version(key, v),
                theirs.request_header_version(v),
                "{api:?} v{v}"
            );
            assert_eq!(
                response_header_version(key, v),
                theirs.response_header_version(v),
                "{api:?} v{v}"
            );
        }
    }
    // ApiVersions: flexible from v3 for the request header, but the response header stays v0.
    assert_eq!(request_header_version(18, 3), 2);
    assert_eq!(response_header_version(18, 3), 0);
    assert_eq!(request_header_version(0, 9), 2);
    assert_eq!(response_header_version(0, 9), 1);
    assert_eq!(request_header_version(0, 8), 1);
    assert_eq!(response_header_version(0, 8), 0);
}

#[test]
fn request_headers_match_the_other_implementation() {
    for version in 0..=2 {
        for client_id in [None, Some("rdkafka"), Some("")] {
            let ours = RequestHeader {
                api_key: 3,
                api_version: 12,
                correlation_id: -77,
                client_id: if version == 0 {
                    None
                } else {
                    client_id.map(String::from)
                },
            };
            let mut out = Output::new();
            ours.encode(&mut out, version).unwrap();
            let out = out.into_bytes();
            if version == 0 {
                // The other implementation no longer speaks header v0 (only ControlledShutdown
                // v0 used it): api key, api version, correlation id and nothing else.
                assert_eq!(&out[..], &[0, 3, 0, 12, 0xff, 0xff, 0xff, 0xb3]);
                assert_eq!(RequestHeader::decode(&mut out.freeze(), 0).unwrap(), ours);
                continue;
            }

            let mut theirs = kafka_protocol::messages::RequestHeader::default();
            theirs.request_api_key = 3;
            theirs.request_api_version = 12;
            theirs.correlation_id = -77;
            theirs.client_id = ours.client_id.clone().map(StrBytes::from_string);
            let mut their_out = BytesMut::new();
            theirs.encode(&mut their_out, version).unwrap();
            assert_eq!(out, their_out, "header v{version} {client_id:?}");

            let decoded = RequestHeader::decode(&mut their_out.freeze(), version).unwrap();
            assert_eq!(decoded, ours);
            let back = kafka_protocol::messages::RequestHeader::decode(&mut out.freeze(), version)
                .unwrap();
            assert_eq!(back.client_id.as_deref(), ours.client_id.as_deref());
        }
    }
}

#[test]
fn decode_frame_picks_the_header_version_and_leaves_the_body() {
    // Metadata v12 is flexible: header v2 with an (empty) tagged-field section.
    let header = RequestHeader {
        api_key: 3,
        api_version: 12,
        correlation_id: 5,
        client_id: Some("c".into()),
    };
    let mut frame = Output::new();
    header.encode(&mut frame, 2).unwrap();
    frame.put_slice(&[0xde, 0xad]);
    let mut frame = frame.into_bytes().freeze();
    assert_eq!(RequestHeader::decode_frame(&mut frame).unwrap(), header);
    assert_eq!(&frame[..], &[0xde, 0xad]);

    let err = RequestHeader::decode_frame(&mut Bytes::from_static(&[0, 3, 0])).unwrap_err();
    assert!(matches!(err.root(), DecodeError::UnexpectedEof { .. }));
}

#[test]
fn response_headers_match_the_other_implementation() {
    for version in 0..=1 {
        let mut out = Output::new();
        ResponseHeader { correlation_id: 42 }.encode(&mut out, version);
        let out = out.into_bytes();
        let mut theirs = kafka_protocol::messages::ResponseHeader::default();
        theirs.correlation_id = 42;
        let mut their_out = BytesMut::new();
        theirs.encode(&mut their_out, version).unwrap();
        assert_eq!(out, their_out);
        let back = ResponseHeader::decode(&mut out.freeze(), version).unwrap();
        assert_eq!(back.correlation_id, 42);
    }
}

#[test]
fn frame_needs_the_whole_prefix_and_payload() {
    assert_eq!(
        frame::check(&[], 100),
        Ok(FrameStatus::Incomplete { needed: 4 })
    );
    assert_eq!(
        frame::check(&[0, 0, 0], 100),
        Ok(FrameStatus::Incomplete { needed: 4 })
    );
    assert_eq!(
        frame::check(&[0, 0, 0, 3, 1], 100),
        Ok(FrameStatus::Incomplete { needed: 7 })
    );
    assert_eq!(
        frame::check(&[0, 0, 0, 3, 1, 2, 3, 9], 100),
        Ok(FrameStatus::Complete { size: 3 })
    );
    assert_eq!(
        frame::check(&[0, 0, 0, 0], 100),
        Ok(FrameStatus::Complete { size: 0 })
    );
}

#[test]
fn frame_sizes_are_checked_before_anything_is_read() {
    assert_eq!(
        frame::check(&[0xff, 0xff, 0xff, 0xff], 100),
        Err(FrameError::NegativeSize { size: -1 })
    );
    assert_eq!(
        frame::check(&[0x80, 0, 0, 0], 100),
        Err(FrameError::NegativeSize { size: i32::MIN })
    );
    // Too large is reported from the prefix alone, without waiting for the payload.
    assert_eq!(
        frame::check(&[0, 0, 0, 101], 100),
        Err(FrameError::TooLarge {
            size: 101,
            max: 100
        })
    );
    assert_eq!(
        frame::check(&[0x7f, 0xff, 0xff, 0xff], frame::DEFAULT_MAX_FRAME_SIZE),
        Err(FrameError::TooLarge {
            size: i32::MAX as usize,
            max: frame::DEFAULT_MAX_FRAME_SIZE
        })
    );
    assert_eq!(
        frame::check(&[0, 0, 0, 100], 100),
        Ok(FrameStatus::Incomplete { needed: 104 })
    );
}

#[test]
fn frames_split_without_copying_and_round_trip() {
    let mut buf = BytesMut::new();
    frame::write(&mut buf, b"hello").unwrap();
    frame::write(&mut buf, b"").unwrap();
    buf.extend_from_slice(&[0, 0, 0, 9, 1]);
    assert_eq!(
        frame::split(&mut buf, 100).unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        frame::split(&mut buf, 100).unwrap().as_deref(),
        Some(&b""[..])
    );
    assert_eq!(frame::split(&mut buf, 100).unwrap(), None);
    assert_eq!(buf.len(), 5, "an incomplete frame is left in place");
    assert_eq!(
        frame::split(&mut buf, 8),
        Err(FrameError::TooLarge { size: 9, max: 8 })
    );
}

#[test]
fn frames_written_in_place_match_copied_ones_and_failures_leave_nothing() {
    let mut copied = BytesMut::new();
    frame::write(&mut copied, b"hello").unwrap();
    let mut in_place = Output::from(BytesMut::from(&b"before"[..]));
    frame::write_with(
        &mut in_place,
        |out| -> Result<(), ()> {
            out.put_slice(b"hello");
            Ok(())
        },
        |_| (),
    )
    .unwrap();
    assert_eq!(&in_place.in_place()[..6], b"before");
    assert_eq!(&in_place.in_place()[6..], &copied[..]);

    let failed = frame::write_with(
        &mut in_place,
        |out| {
            out.put_slice(b"half a payload");
            Err("refused")
        },
        |_| "too long",
    );
    assert_eq!(failed, Err("refused"));
    assert_eq!(
        &in_place.in_place()[6..],
        &copied[..],
        "a failed payload is taken back"
    );
}

#[test]
fn error_codes_match_the_other_implementation() {
    assert_eq!(ErrorCode::from_code(0), Some(ErrorCode::None));
    assert_eq!(ErrorCode::UnsupportedVersion.code(), 35);
    assert_eq!(ErrorCode::UnsupportedVersion.name(), "UNSUPPORTED_VERSION");
    assert_eq!(
        ErrorCode::from_code(3).map(ErrorCode::name),
        Some("UNKNOWN_TOPIC_OR_PARTITION")
    );
    assert_eq!(ErrorCode::from_code(-2), None);
    for code in ErrorCode::ALL.iter().filter(|c| c.code() != 0) {
        let theirs = kafka_protocol::ResponseError::try_from_code(code.code()).unwrap();
        assert_eq!(
            format!("{theirs:?}"),
            format!("{code:?}"),
            "code {}",
            code.code()
        );
        assert_eq!(ErrorCode::from_code(code.code()), Some(*code));
    }
    // Names are the upper-snake spelling of the variants.
    for code in ErrorCode::ALL {
        let camel: String = code
            .name()
            .split('_')
            .map(|w| w[..1].to_string() + &w[1..].to_lowercase())
            .collect();
        assert_eq!(camel, format!("{code:?}"));
    }
}

#[test]
fn whole_frames_round_trip_through_the_broker_and_client_paths() {
    use streambus_protocol::messages::{
        api_versions_request as req, api_versions_response as resp,
    };
    use streambus_protocol::{Request, Response, decode_request, decode_response};
    use streambus_protocol::{encode_request, encode_response};

    for version in 0..=3 {
        let request = Request::ApiVersions(req::ApiVersionsRequest {
            client_software_name: if version >= 3 {
                "sb".into()
            } else {
                String::new()
            },
            client_software_version: if version >= 3 {
                "1".into()
            } else {
                String::new()
            },
        });
        let header = RequestHeader {
            api_key: 18,
            api_version: version,
            correlation_id: 9,
            client_id: Some("client".into()),
        };
        let mut wire = Output::new();
        encode_request(&mut wire, &header, &request).unwrap();
        let mut wire = wire.into_bytes();
        let mut payload = frame::split(&mut wire, 1024).unwrap().unwrap();
        let decoded_header = RequestHeader::decode_frame(&mut payload).unwrap();
        assert_eq!(decoded_header, header);
        assert_eq!(decode_request(&decoded_header, payload).unwrap(), request);

        let response = Response::ApiVersions(resp::ApiVersionsResponse {
            api_keys: streambus_protocol::supported_versions()
                .iter()
                .map(|(api, range)| resp::ApiVersion {
                    api_key: *api as i16,
                    min_version: range.min,
                    max_version: range.max,
                })
                .collect(),
            ..Default::default()
        });
        let mut wire = Output::new();
        encode_response(&mut wire, version, 9, &response).unwrap();
        let mut wire = wire.into_bytes();
        let payload = frame::split(&mut wire, 1 << 20).unwrap().unwrap();
        // ApiVersions responses always carry header v0: the correlation id comes first and
        // the body's error code follows directly.
        assert_eq!(&payload[..6], &[0, 0, 0, 9, 0, 0]);
        let (h, decoded) = decode_response(ApiKey::ApiVersions, version, payload).unwrap();
        assert_eq!(h.correlation_id, 9);
        assert_eq!(decoded, response);
    }
}

#[test]
fn supported_versions_lists_every_api_once_in_key_order() {
    let table = streambus_protocol::supported_versions();
    assert_eq!(table.len(), ApiKey::ALL.len());
    assert!(table.windows(2).all(|w| (w[0].0 as i16) < (w[1].0 as i16)));
    for (api, range) in table {
        assert_eq!(api.supported(), *range);
        assert!(range.min <= range.max);
    }
    let find = |key: ApiKey| {
        table
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| (r.min, r.max))
    };
    assert_eq!(find(ApiKey::ApiVersions), Some((0, 3)));
    assert_eq!(find(ApiKey::Metadata), Some((0, 12)));
    assert_eq!(find(ApiKey::Produce), Some((3, 11)));
    assert_eq!(find(ApiKey::Fetch), Some((4, 13)));
}
