//! How long fsyncs take, for every log of the process: a fixed-bucket histogram of the
//! group-commit syncs in [`crate::PartitionLog::sync_to`] (one observation covers every file
//! that sync made durable). Plain atomics, so recording costs two adds; the broker exports
//! it as `streambus_fsync_duration_seconds`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: 50 µs to 1 s. A last bucket takes the rest.
pub const FSYNC_BUCKETS_SECONDS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// The process-wide fsync histogram.
#[derive(Debug)]
pub struct FsyncStats {
    /// Observations per bucket, the last one above every bound.
    counts: [AtomicU64; FSYNC_BUCKETS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
}

static STATS: FsyncStats = FsyncStats {
    counts: [const { AtomicU64::new(0) }; FSYNC_BUCKETS_SECONDS.len() + 1],
    sum_nanos: AtomicU64::new(0),
};

/// The fsync histogram of this process.
pub fn fsync_stats() -> &'static FsyncStats {
    &STATS
}

/// A reading of the histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct FsyncSnapshot {
    /// Total time spent in fsyncs, in seconds.
    pub sum_seconds: f64,
    /// Number of fsyncs.
    pub count: u64,
    /// `(upper bound in seconds, observations in that bucket)`, the last bound infinite.
    pub buckets: Vec<(f64, u64)>,
}

impl FsyncStats {
    pub(crate) fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = FSYNC_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(FSYNC_BUCKETS_SECONDS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The histogram now.
    pub fn snapshot(&self) -> FsyncSnapshot {
        let bounds = FSYNC_BUCKETS_SECONDS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds
            .zip(&self.counts)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        FsyncSnapshot {
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_buckets() {
        let stats = FsyncStats {
            counts: [const { AtomicU64::new(0) }; FSYNC_BUCKETS_SECONDS.len() + 1],
            sum_nanos: AtomicU64::new(0),
        };
        stats.observe(Duration::from_micros(40));
        stats.observe(Duration::from_micros(300));
        stats.observe(Duration::from_secs(3));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.count, 3);
        assert_eq!(snapshot.buckets[0], (0.000_05, 1));
        assert_eq!(snapshot.buckets[3], (0.000_5, 1));
        assert_eq!(snapshot.buckets[14], (f64::INFINITY, 1));
        assert!((snapshot.sum_seconds - 3.000_34).abs() < 1e-9);
    }
}
