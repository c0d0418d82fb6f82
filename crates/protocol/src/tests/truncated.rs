//! Every proper prefix of a valid encoding must fail to decode with an error, never a
//! panic, for every message and supported version.

use bytes::BytesMut;
use proptest::prelude::*;

use crate::Message;
use crate::arbitrary::*;

fn check_prefixes<T: Message>(value: &T, version: i16) {
    let mut out = BytesMut::new();
    value.encode(&mut out, version).unwrap();
    let full = out.freeze();
    for len in 0..full.len() {
        let mut prefix = full.slice(..len);
        assert!(
            T::decode(&mut prefix, version).is_err(),
            "v{version}: prefix of {len}/{} bytes decoded",
            full.len()
        );
    }
}

macro_rules! truncated_test {
    ($module:ident, $ty:ident, $arb:ident) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
            #[test]
            fn $module(
                (version, value) in {
                    let r = <crate::messages::$module::$ty as Message>::VERSIONS;
                    (r.min..=r.max).prop_flat_map(|v| (Just(v), $arb(v)))
                }
            ) {
                check_prefixes(&value, version);
            }
        }
    };
}

mod generated {
    use super::*;
    for_each_message!(truncated_test);
}
