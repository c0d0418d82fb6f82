//! Unit tests that need the generated test strategies: round trips of every message at
//! every supported version.

use proptest::prelude::*;

use crate::Message;
use crate::arbitrary::*;

/// Encodes `value`, decodes it back and checks equality and that the whole body was read.
fn roundtrip<T: Message + PartialEq + std::fmt::Debug>(value: &T, version: i16) {
    let mut out = crate::Output::new();
    value.encode(&mut out, version).unwrap();
    let mut bytes = out.into_bytes().freeze();
    let decoded = T::decode(&mut bytes, version).unwrap();
    assert_eq!(&decoded, value, "version {version}");
    assert!(bytes.is_empty(), "{} bytes left after decode", bytes.len());
}

macro_rules! roundtrip_test {
    ($module:ident, $ty:ident, $arb:ident) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
            #[test]
            fn $module(
                (version, value) in {
                    let r = <crate::messages::$module::$ty as Message>::VERSIONS;
                    (r.min..=r.max).prop_flat_map(|v| (Just(v), $arb(v)))
                }
            ) {
                roundtrip(&value, version);
            }
        }
    };
}

mod roundtrip {
    use super::*;
    for_each_message!(roundtrip_test);
}

mod differential;
mod truncated;
