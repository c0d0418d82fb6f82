//! Damaged encodings, for every message and supported version: every proper prefix of a
//! valid encoding must fail with an error, and encodings with bytes overwritten must decode
//! or fail, never panic.

use proptest::prelude::*;

use crate::Message;
use crate::arbitrary::*;

fn check_prefixes<T: Message>(value: &T, version: i16) {
    let mut out = crate::Output::new();
    value.encode(&mut out, version).unwrap();
    let full = out.into_bytes().freeze();
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

/// Valid encodings with a few bytes overwritten decode or fail; they never panic.
fn check_mutations<T: Message>(value: &T, version: i16, edits: &[(usize, u8)]) {
    let mut out = crate::Output::new();
    value.encode(&mut out, version).unwrap();
    let mut out = out.into_bytes();
    if out.is_empty() {
        return;
    }
    for &(at, byte) in edits {
        let len = out.len();
        out[at % len] = byte;
    }
    let _ = T::decode(&mut out.freeze(), version);
}

macro_rules! mutated_test {
    ($module:ident, $ty:ident, $arb:ident) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            #[test]
            fn $module(
                (version, value) in {
                    let r = <crate::messages::$module::$ty as Message>::VERSIONS;
                    (r.min..=r.max).prop_flat_map(|v| (Just(v), $arb(v)))
                },
                edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            ) {
                check_mutations(&value, version, &edits);
            }
        }
    };
}

mod mutated {
    use super::*;
    for_each_message!(mutated_test);
}
