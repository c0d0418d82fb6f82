//! Malformed input: huge counts, negative lengths, bad varints, unknown tags, and arbitrary
//! bytes decoded as every request and response of every supported version.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use streambus_protocol::messages::{
    create_topics_request::CreateTopicsRequest,
    describe_producers_request::DescribeProducersRequest, metadata_request::MetadataRequest,
    produce_request::ProduceRequest,
};
use streambus_protocol::{
    ApiKey, DecodeError, Message, Request, RequestHeader, Response, decode_request,
};

#[test]
fn huge_array_count_is_rejected_before_allocating() {
    // Six bytes claiming 2^31-1 topics: must fail on the count check, not on allocation.
    let mut body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0x00, 0x00]);
    let err = MetadataRequest::decode(&mut body, 1).unwrap_err();
    assert_eq!(err.path(), "topics");
    assert_eq!(
        err.root(),
        &DecodeError::ArrayTooLong {
            count: (1 << 31) - 1,
            remaining: 2
        }
    );
}

#[test]
fn huge_compact_array_count_is_rejected_before_allocating() {
    // Flexible versions: an unsigned varint of 2^31 (count + 1), then one byte.
    let mut body = Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x08, 0x00]);
    let err = MetadataRequest::decode(&mut body, 9).unwrap_err();
    assert_eq!(
        err.root(),
        &DecodeError::ArrayTooLong {
            count: (1 << 31) - 1,
            remaining: 1
        }
    );

    let mut body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    let err = DescribeProducersRequest::decode(&mut body, 0).unwrap_err();
    assert!(
        matches!(err.root(), DecodeError::ArrayTooLong { .. }),
        "{err:?}"
    );
}

#[test]
fn nested_huge_count_is_rejected() {
    // One topic whose partition-assignment array claims 2^31-1 entries.
    let mut b = BytesMut::new();
    b.put_i32(1); // topics
    b.put_i16(1);
    b.put_slice(b"t"); // name
    b.put_i32(1); // num_partitions
    b.put_i16(1); // replication_factor
    b.put_i32(i32::MAX); // assignments
    let err = CreateTopicsRequest::decode(&mut b.freeze(), 2).unwrap_err();
    assert_eq!(err.path(), "topics.assignments");
    assert!(matches!(err.root(), DecodeError::ArrayTooLong { .. }));
}

#[test]
fn varint_longer_than_five_bytes_is_rejected() {
    let mut body = Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    let err = MetadataRequest::decode(&mut body, 9).unwrap_err();
    assert_eq!(err.root(), &DecodeError::VarintTooLong);
}

#[test]
fn negative_lengths_other_than_null_are_errors() {
    // Array count -2.
    let mut body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]);
    let err = MetadataRequest::decode(&mut body, 1).unwrap_err();
    assert_eq!(err.root(), &DecodeError::NegativeLength { length: -2 });

    // String length -2 (transactional id).
    let mut body = Bytes::from_static(&[0xff, 0xfe, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let err = ProduceRequest::decode(&mut body, 3).unwrap_err();
    assert_eq!(err.path(), "transactional_id");
    assert_eq!(err.root(), &DecodeError::NegativeLength { length: -2 });

    // Records length -7.
    let mut b = BytesMut::new();
    b.put_i16(-1); // transactional id: null
    b.put_i16(1);
    b.put_i32(1000);
    b.put_i32(1); // topics
    b.put_i16(1);
    b.put_slice(b"t");
    b.put_i32(1); // partitions
    b.put_i32(0); // index
    b.put_i32(-7); // records length
    let err = ProduceRequest::decode(&mut b.freeze(), 3).unwrap_err();
    assert_eq!(err.path(), "topic_data.partition_data.records");
    assert_eq!(err.root(), &DecodeError::NegativeLength { length: -7 });
}

#[test]
fn null_in_a_non_nullable_field_is_an_error() {
    // Metadata v0 topics are not nullable.
    let mut body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]);
    let err = MetadataRequest::decode(&mut body, 0).unwrap_err();
    assert_eq!(err.root(), &DecodeError::UnexpectedNull);
}

#[test]
fn invalid_utf8_is_an_error() {
    let mut body = Bytes::from_static(&[0, 0, 0, 1, 0, 2, 0xc3, 0x28]);
    let err = MetadataRequest::decode(&mut body, 1).unwrap_err();
    assert!(
        matches!(err.root(), DecodeError::InvalidUtf8 { .. }),
        "{err:?}"
    );
}

#[test]
fn unknown_tagged_fields_are_skipped() {
    // Metadata v9: null topics, allow_auto_topic_creation, the two include flags, then a
    // tagged section with two unknown tags.
    let mut b = BytesMut::new();
    b.put_u8(0); // topics: null
    b.put_u8(1);
    b.put_u8(0);
    b.put_u8(1);
    b.put_u8(2); // two tagged fields
    b.put_slice(&[7, 3, 0xaa, 0xbb, 0xcc]);
    b.put_slice(&[90, 0]);
    let mut body = b.freeze();
    let req = MetadataRequest::decode(&mut body, 9).unwrap();
    assert!(body.is_empty());
    assert_eq!(req.topics, None);
    assert!(req.allow_auto_topic_creation);
    assert!(req.include_topic_authorized_operations);
}

#[test]
fn unsupported_versions_are_rejected() {
    let err = ProduceRequest::decode(&mut Bytes::new(), 2).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::UnsupportedVersion { version: 2, .. }
    ));
    let header = RequestHeader {
        api_key: 999,
        ..RequestHeader::default()
    };
    assert_eq!(
        decode_request(&header, Bytes::new()).unwrap_err(),
        DecodeError::UnknownApiKey { key: 999 }
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes decoded as every request and response at every supported version
    /// either decode or return an error; they never panic.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let data = Bytes::from(data);
        for api in ApiKey::ALL {
            for version in api.supported().iter() {
                let _ = Request::decode(*api, version, &mut data.clone());
                let _ = Response::decode(*api, version, &mut data.clone());
            }
        }
    }

    /// Arbitrary bytes behind a valid header prefix reach every decoder through the frame path.
    #[test]
    fn arbitrary_request_frames_never_panic(
        api in proptest::sample::select(ApiKey::ALL),
        version_offset in 0i16..16,
        tail in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let range = api.supported();
        let version = range.min + version_offset % (range.max - range.min + 1);
        let mut frame = BytesMut::new();
        frame.put_i16(api as i16);
        frame.put_i16(version);
        frame.put_slice(&tail);
        let mut frame = frame.freeze();
        if let Ok(header) = RequestHeader::decode_frame(&mut frame) {
            let _ = decode_request(&header, frame);
        }
    }
}
