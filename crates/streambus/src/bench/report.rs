//! What a benchmark run reports: counts, rates and latency percentiles from an HDR
//! histogram, printed for people or as one JSON object for machines.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies recorded in microseconds, from 1 µs to 10 minutes, at 3 significant digits.
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Latencies {
        // The bounds are constants that hdrhistogram accepts.
        #[allow(clippy::expect_used)]
        let histogram = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
        Latencies(histogram)
    }

    /// Records one latency (values beyond the bounds are clamped to them).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub fn add(&mut self, other: &Latencies) {
        // Histograms of the same bounds always add.
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// The percentiles of the report, in milliseconds; `None` when nothing was recorded.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(LatencySummary {
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p90_ms: ms(self.0.value_at_quantile(0.90)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            p999_ms: ms(self.0.value_at_quantile(0.999)),
            max_ms: ms(self.0.max()),
            mean_ms: self.0.mean() / 1000.0,
        })
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The result of one run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `produce`, `consume` or `e2e`.
    pub workload: &'static str,
    pub topic: String,
    pub records: u64,
    pub bytes: u64,
    pub errors: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub megabytes_per_second: f64,
    /// What the latencies measure: enqueue to acknowledgement (produce), send timestamp to
    /// receipt (e2e); absent for consume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_of: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySummary>,
    /// The settings of the run, as given.
    pub settings: serde_json::Value,
}

impl Report {
    pub fn new(
        workload: &'static str,
        topic: &str,
        records: u64,
        bytes: u64,
        errors: u64,
        elapsed: Duration,
        settings: serde_json::Value,
    ) -> Report {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Report {
            workload,
            topic: topic.to_owned(),
            records,
            bytes,
            errors,
            seconds,
            records_per_second: records as f64 / seconds,
            megabytes_per_second: bytes as f64 / seconds / 1_000_000.0,
            latency_of: None,
            latency: None,
            settings,
        }
    }

    pub fn with_latency(mut self, of: &'static str, latencies: &Latencies) -> Report {
        self.latency_of = Some(of);
        self.latency = latencies.summary();
        self
    }

    /// The report for people: aligned lines.
    pub fn human(&self) -> String {
        let mut out = format!(
            "{} {}: {} records, {} bytes in {:.2} s\n",
            self.workload, self.topic, self.records, self.bytes, self.seconds
        );
        out += &format!(
            "  throughput  {:>12.0} records/s  {:>10.2} MB/s\n",
            self.records_per_second, self.megabytes_per_second
        );
        if self.errors > 0 {
            out += &format!("  errors      {:>12}\n", self.errors);
        }
        if let (Some(of), Some(l)) = (self.latency_of, &self.latency) {
            out += &format!("  latency ({of}, ms)\n");
            for (name, value) in [
                ("p50", l.p50_ms),
                ("p90", l.p90_ms),
                ("p99", l.p99_ms),
                ("p99.9", l.p999_ms),
                ("max", l.max_ms),
                ("mean", l.mean_ms),
            ] {
                out += &format!("    {name:<6} {value:>10.3}\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_what_was_recorded() {
        let mut latencies = Latencies::new();
        for ms in 1..=1000u64 {
            latencies.record(Duration::from_millis(ms));
        }
        let summary = latencies.summary().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002 + 0.001;
        assert!(close(summary.p50_ms, 500.0), "{summary:?}");
        assert!(close(summary.p90_ms, 900.0), "{summary:?}");
        assert!(close(summary.p99_ms, 990.0), "{summary:?}");
        assert!(close(summary.p999_ms, 999.0), "{summary:?}");
        assert!(close(summary.max_ms, 1000.0), "{summary:?}");
        assert!(Latencies::new().summary().is_none());
    }

    #[test]
    fn rates_divide_by_the_elapsed_time() {
        let report = Report::new(
            "produce",
            "t",
            1000,
            2_000_000,
            0,
            Duration::from_secs(2),
            serde_json::json!({}),
        );
        assert_eq!(report.records_per_second, 500.0);
        assert_eq!(report.megabytes_per_second, 1.0);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["records"], 1000);
        assert!(json.get("latency").is_none());
        assert!(report.human().contains("500 records/s"));
    }
}
