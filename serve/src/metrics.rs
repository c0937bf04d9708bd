//! What `abacus serve` counts, rendered as Prometheus text at `GET /metrics`: requests and a
//! latency histogram per endpoint, evaluations by reason and errors by code, exposures
//! published / deduplicated / dropped (by cause), the producer queue depth, reloads and the
//! configuration version. Lock-free atomics on the request path (hand-written like ingest's
//! metrics: a dozen series do not justify a metrics framework).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::eval::OfrepReason;
use crate::request::ErrorCode;
use crate::snapshot::ConfigStore;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency histogram, seconds.
const LATENCY_BOUNDS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// A latency histogram: one counter per bucket (cumulated when rendered).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    #[inline]
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BOUNDS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.buckets[LATENCY_BOUNDS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// The HTTP endpoints, for per-endpoint series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /ofrep/v1/evaluate/flags/{key}`.
    OfrepFlag,
    /// `POST /ofrep/v1/evaluate/flags`.
    OfrepBulk,
    /// `POST /v1/assign`.
    Assign,
    /// `POST /v1/flags/eval`.
    FlagsEval,
    /// `POST /v1/exposures`.
    Exposures,
    /// `GET /healthz`, `/readyz`, `/metrics` and unknown paths.
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 6] = [
        Self::OfrepFlag,
        Self::OfrepBulk,
        Self::Assign,
        Self::FlagsEval,
        Self::Exposures,
        Self::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::OfrepFlag => "ofrep_flag",
            Self::OfrepBulk => "ofrep_bulk",
            Self::Assign => "assign",
            Self::FlagsEval => "flags_eval",
            Self::Exposures => "exposures",
            Self::Other => "other",
        }
    }
}

/// Status codes counted per endpoint (anything else counts as `other`).
const STATUSES: [u16; 11] = [200, 202, 304, 400, 401, 404, 405, 413, 415, 500, 503];

#[derive(Debug, Default)]
struct EndpointSeries {
    by_status: [Counter; STATUSES.len() + 1],
    latency: Histogram,
}

/// Why an exposure was not published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCause {
    /// The producer queue was full (Kafka slow or down for a while).
    QueueFull,
    /// Kafka did not acknowledge it in time, or refused it.
    DeliveryFailed,
    /// Exposure logging is off (`serve.exposures = false`).
    Disabled,
    /// Any other producer error.
    ProducerError,
}

impl DropCause {
    const ALL: [DropCause; 4] = [
        Self::QueueFull,
        Self::DeliveryFailed,
        Self::Disabled,
        Self::ProducerError,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::DeliveryFailed => "delivery_failed",
            Self::Disabled => "disabled",
            Self::ProducerError => "producer_error",
        }
    }
}

/// Everything `abacus serve` counts.
#[derive(Debug, Default)]
pub struct Metrics {
    endpoints: [EndpointSeries; Endpoint::ALL.len()],
    reasons: [Counter; OfrepReason::ALL.len()],
    errors: [Counter; 5],
    /// Exposures handed to the producer.
    pub exposures_queued: Counter,
    /// Exposures Kafka acknowledged.
    pub exposures_published: Counter,
    /// Exposures not published because the same event id was published recently.
    pub exposures_deduplicated: Counter,
    dropped: [Counter; DropCause::ALL.len()],
    /// Exposures waiting in the producer queue (set by the publisher).
    pub queue_depth: AtomicU64,
}

impl Metrics {
    /// Counts a request and its latency.
    #[inline]
    pub fn request(&self, endpoint: Endpoint, status: u16, latency: Duration) {
        let series = &self.endpoints[endpoint as usize];
        let i = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        series.by_status[i].inc();
        series.latency.observe(latency);
    }

    /// Counts an evaluation.
    #[inline]
    pub fn evaluation(&self, reason: OfrepReason) {
        self.reasons[reason as usize].inc();
    }

    /// Counts evaluations: `counts[i]` of reason `OfrepReason::ALL[i]` (one atomic add per
    /// reason instead of one per evaluation: the counters are shared by every worker thread).
    pub fn evaluations(&self, counts: &[u64; OfrepReason::ALL.len()]) {
        for (counter, &n) in self.reasons.iter().zip(counts) {
            if n > 0 {
                counter.add(n);
            }
        }
    }

    /// Counts an evaluation error.
    pub fn error(&self, code: ErrorCode) {
        self.errors[code as usize].inc();
    }

    /// Counts dropped exposures.
    pub fn dropped(&self, cause: DropCause, n: u64) {
        self.dropped[cause as usize].add(n);
    }

    /// Dropped exposures of one cause.
    pub fn dropped_by(&self, cause: DropCause) -> u64 {
        self.dropped[cause as usize].get()
    }

    /// Dropped exposures, every cause.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(Counter::get).sum()
    }

    /// Requests answered with `status` on `endpoint`.
    pub fn requests(&self, endpoint: Endpoint, status: u16) -> u64 {
        let i = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        self.endpoints[endpoint as usize].by_status[i].get()
    }

    /// The Prometheus text exposition.
    pub fn render(&self, store: &ConfigStore) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = writeln!(
            out,
            "# HELP abacus_serve_requests_total HTTP requests by endpoint and status\n# TYPE abacus_serve_requests_total counter"
        );
        for e in Endpoint::ALL {
            let series = &self.endpoints[e as usize];
            for (i, c) in series.by_status.iter().enumerate() {
                let status = STATUSES.get(i).map_or("other".to_owned(), u16::to_string);
                let _ = writeln!(
                    out,
                    "abacus_serve_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {}",
                    e.label(),
                    c.get()
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP abacus_serve_request_seconds Request latency by endpoint (handler time)\n# TYPE abacus_serve_request_seconds histogram"
        );
        for e in Endpoint::ALL {
            self.endpoints[e as usize].latency.render(
                &mut out,
                "abacus_serve_request_seconds",
                &format!("endpoint=\"{}\"", e.label()),
            );
        }
        let _ = writeln!(
            out,
            "# HELP abacus_serve_evaluations_total Successful evaluations by OpenFeature reason\n# TYPE abacus_serve_evaluations_total counter"
        );
        for r in OfrepReason::ALL {
            let _ = writeln!(
                out,
                "abacus_serve_evaluations_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.reasons[r as usize].get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP abacus_serve_evaluation_errors_total Failed evaluations by OFREP error code\n# TYPE abacus_serve_evaluation_errors_total counter"
        );
        for code in [
            ErrorCode::ParseError,
            ErrorCode::TargetingKeyMissing,
            ErrorCode::InvalidContext,
            ErrorCode::FlagNotFound,
            ErrorCode::General,
        ] {
            let _ = writeln!(
                out,
                "abacus_serve_evaluation_errors_total{{code=\"{}\"}} {}",
                code.as_str(),
                self.errors[code as usize].get()
            );
        }
        let counters = [
            (
                "abacus_serve_exposures_queued_total",
                "Exposures handed to the Kafka producer",
                self.exposures_queued.get(),
            ),
            (
                "abacus_serve_exposures_published_total",
                "Exposures acknowledged by Kafka",
                self.exposures_published.get(),
            ),
            (
                "abacus_serve_exposures_deduplicated_total",
                "Exposures not sent again because their event id was published recently",
                self.exposures_deduplicated.get(),
            ),
            (
                "abacus_serve_reloads_total",
                "Successful configuration loads",
                store.reloads.get(),
            ),
            (
                "abacus_serve_reload_failures_total",
                "Failed configuration reloads (the previous configuration kept serving)",
                store.reload_failures.get(),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP abacus_serve_exposures_dropped_total Exposures not published, by cause\n# TYPE abacus_serve_exposures_dropped_total counter"
        );
        for cause in DropCause::ALL {
            let _ = writeln!(
                out,
                "abacus_serve_exposures_dropped_total{{cause=\"{}\"}} {}",
                cause.label(),
                self.dropped_by(cause)
            );
        }
        let _ = writeln!(
            out,
            "# HELP abacus_serve_exposure_queue_depth Exposures waiting for Kafka\n# TYPE abacus_serve_exposure_queue_depth gauge\nabacus_serve_exposure_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        let failing = u8::from(store.last_error().is_some());
        let _ = writeln!(
            out,
            "# HELP abacus_serve_config_reload_failing 1 while the last reload failed (the previous configuration serves)\n# TYPE abacus_serve_config_reload_failing gauge\nabacus_serve_config_reload_failing {failing}"
        );
        if let Some(s) = store.load() {
            let loaded = s
                .loaded_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let _ = writeln!(
                out,
                "# HELP abacus_serve_config_info The configuration serving now\n# TYPE abacus_serve_config_info gauge\nabacus_serve_config_info{{version=\"{}\",experiments=\"{}\",flags=\"{}\"}} 1",
                s.version,
                s.definitions.experiments.len(),
                s.definitions.flags.len()
            );
            let _ = writeln!(
                out,
                "# HELP abacus_serve_config_loaded_timestamp_seconds When the serving configuration was loaded\n# TYPE abacus_serve_config_loaded_timestamp_seconds gauge\nabacus_serve_config_loaded_timestamp_seconds {loaded}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_cumulate_and_render() {
        let m = Metrics::default();
        m.request(Endpoint::OfrepFlag, 200, Duration::from_micros(50));
        m.request(Endpoint::OfrepFlag, 200, Duration::from_millis(3));
        m.request(Endpoint::OfrepFlag, 404, Duration::from_secs(5));
        m.evaluation(OfrepReason::Split);
        m.dropped(DropCause::QueueFull, 3);
        let text = m.render(&ConfigStore::new());
        for line in [
            "abacus_serve_requests_total{endpoint=\"ofrep_flag\",status=\"200\"} 2",
            "abacus_serve_requests_total{endpoint=\"ofrep_flag\",status=\"404\"} 1",
            "abacus_serve_request_seconds_bucket{endpoint=\"ofrep_flag\",le=\"0.0001\"} 1",
            "abacus_serve_request_seconds_bucket{endpoint=\"ofrep_flag\",le=\"0.005\"} 2",
            "abacus_serve_request_seconds_bucket{endpoint=\"ofrep_flag\",le=\"+Inf\"} 3",
            "abacus_serve_request_seconds_count{endpoint=\"ofrep_flag\"} 3",
            "abacus_serve_evaluations_total{reason=\"SPLIT\"} 1",
            "abacus_serve_exposures_dropped_total{cause=\"queue_full\"} 3",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert_eq!(m.dropped_total(), 3);
    }
}
