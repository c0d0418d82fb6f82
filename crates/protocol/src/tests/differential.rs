//! Differential tests against the `kafka-protocol` crate: for every message, arbitrary
//! values at every version both crates support are encoded by us, decoded and re-encoded by
//! them, and must come back byte for byte; and their decoding of our bytes re-decodes with
//! us to the same value.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable as TheirDecode, Encodable as TheirEncode};
use proptest::prelude::*;

use crate::Message;
use crate::arbitrary::*;

/// The versions both crates support for a message.
pub(super) fn common_versions<T: Message, U: kafka_protocol::protocol::Message>()
-> std::ops::RangeInclusive<i16> {
    let ours = T::VERSIONS;
    let theirs = U::VERSIONS;
    ours.min.max(theirs.min)..=ours.max.min(theirs.max)
}

/// Our bytes -> their decode -> their encode must equal our bytes, and decode back to `value`.
pub(super) fn check<T, U>(value: &T, version: i16)
where
    T: Message + PartialEq + std::fmt::Debug,
    U: TheirDecode + TheirEncode + std::fmt::Debug,
{
    let mut ours = crate::Output::new();
    value.encode(&mut ours, version).unwrap();
    let ours = ours.into_bytes().freeze();
    let theirs_value = U::decode(&mut ours.clone(), version)
        .unwrap_or_else(|e| panic!("they cannot decode our v{version} bytes: {e:#}"));
    let mut theirs = BytesMut::new();
    theirs_value.encode(&mut theirs, version).unwrap();
    assert_eq!(
        ours,
        theirs.clone().freeze(),
        "v{version}: bytes differ; ours {value:?} theirs {theirs_value:?}"
    );
    let back = T::decode(&mut Bytes::from(theirs), version).unwrap();
    assert_eq!(&back, value);
}

macro_rules! differential_test {
    ($module:ident, $ty:ident, $arb:ident) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            #[test]
            fn $module(
                (version, value) in
                    common_versions::<crate::messages::$module::$ty, kafka_protocol::messages::$ty>()
                        .prop_flat_map(|v| (Just(v), $arb(v)))
            ) {
                check::<_, kafka_protocol::messages::$ty>(&value, version);
            }
        }
    };
}

mod generated {
    use super::*;
    for_each_message!(differential_test);
}

static UNCOVERED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

macro_rules! coverage_row {
    ($module:ident, $ty:ident, $arb:ident) => {
        let ours = <crate::messages::$module::$ty as Message>::VERSIONS;
        let common =
            common_versions::<crate::messages::$module::$ty, kafka_protocol::messages::$ty>();
        if (*common.start(), *common.end()) != (ours.min, ours.max) {
            UNCOVERED.lock().unwrap().push(format!(
                "{} ours {:?} common {:?}",
                stringify!($ty),
                ours,
                common
            ));
        }
    };
}

/// Every version we support is also checked against the other implementation, except old
/// versions it no longer speaks; those are pinned byte for byte in `tests/concrete.rs`.
#[test]
fn differential_covers_every_supported_version() {
    for_each_message!(coverage_row);
    let uncovered = UNCOVERED.lock().unwrap();
    let pinned_elsewhere = [
        "OffsetCommitRequest ours VersionRange { min: 0, max: 8 } common 2..=8",
        "OffsetCommitResponse ours VersionRange { min: 0, max: 8 } common 2..=8",
        "OffsetFetchRequest ours VersionRange { min: 0, max: 8 } common 1..=8",
        "OffsetFetchResponse ours VersionRange { min: 0, max: 8 } common 1..=8",
    ];
    assert_eq!(*uncovered, pinned_elsewhere);
}
