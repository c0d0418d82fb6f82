//! Which partition a record goes to, as the Java client decides it.
//!
//! - A keyed record: `toPositive(murmur2(key)) % partitions`, Kafka's `Utils.murmur2` with
//!   seed `0x9747b28c` and `toPositive(n) = n & 0x7fffffff`, so that our producer, the Java
//!   client and librdkafka's `murmur2_random` partitioner send a key to the same partition.
//! - A keyless record: the sticky partitioner of KIP-480. Records stick to one partition of
//!   their topic until its batch is complete (full, or taken by the sender), then a new
//!   partition is chosen at random, so keyless records fill batches instead of spreading
//!   one record per batch across every partition.

use std::collections::HashMap;

/// Kafka's 32-bit murmur2 hash of `data` (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's ints wrap, so u32 arithmetic gives the same bits.
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record among `partitions` (at least 1).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// The sticky partition of each topic for keyless records.
#[derive(Debug, Default)]
pub struct StickyPartitions {
    current: HashMap<String, i32>,
    random: u64,
}

impl StickyPartitions {
    /// Sticky partitions seeded from `seed` (any value; the clock in production).
    pub fn new(seed: u64) -> StickyPartitions {
        StickyPartitions {
            current: HashMap::new(),
            random: seed | 1,
        }
    }

    /// The partition of `topic` that keyless records go to now.
    pub fn partition(&mut self, topic: &str, partitions: i32) -> i32 {
        if let Some(&p) = self.current.get(topic)
            && p < partitions
        {
            return p;
        }
        let p = self.pick(partitions, None);
        self.current.insert(topic.to_owned(), p);
        p
    }

    /// The batch of `topic`-`partition` is complete: if keyless records were sticking to
    /// it, they move to another partition (a different one when there are several).
    pub fn batch_completed(&mut self, topic: &str, partition: i32, partitions: i32) {
        if self.current.get(topic) == Some(&partition) {
            let p = self.pick(partitions, Some(partition));
            self.current.insert(topic.to_owned(), p);
        }
    }

    fn pick(&mut self, partitions: i32, avoid: Option<i32>) -> i32 {
        let n = partitions.max(1) as u64;
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        match avoid {
            Some(previous) if n > 1 => {
                // One of the other n - 1 partitions, uniformly.
                let offset = 1 + (self.random % (n - 1)) as i32;
                (previous + offset) % partitions
            }
            _ => (self.random % n) as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client_on_kafkas_own_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data),
                expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn a_key_always_lands_on_the_same_partition_in_range() {
        for key in 0..1000 {
            let key = format!("key-{key}");
            let p = partition_for_key(key.as_bytes(), 7);
            assert!((0..7).contains(&p));
            assert_eq!(partition_for_key(key.as_bytes(), 7), p);
        }
        assert_eq!(partition_for_key(b"anything", 1), 0);
    }

    #[test]
    fn keyless_records_stick_until_the_batch_completes_then_move_elsewhere() {
        let mut sticky = StickyPartitions::new(42);
        let first = sticky.partition("t", 6);
        for _ in 0..100 {
            assert_eq!(sticky.partition("t", 6), first);
        }
        let mut seen = std::collections::HashSet::new();
        let mut previous = first;
        for _ in 0..200 {
            sticky.batch_completed("t", previous, 6);
            let next = sticky.partition("t", 6);
            assert_ne!(
                next, previous,
                "a completed batch moves the sticky partition"
            );
            seen.insert(next);
            previous = next;
        }
        assert_eq!(seen.len(), 6, "every partition gets its turn");
        // Completing another partition's batch does not move it.
        sticky.batch_completed("t", (previous + 1) % 6, 6);
        assert_eq!(sticky.partition("t", 6), previous);
        // One partition: always 0.
        sticky.batch_completed("one", 0, 1);
        assert_eq!(sticky.partition("one", 1), 0);
    }
}
