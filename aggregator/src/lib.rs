//! Materializes per-experiment, per-variant results in ClickHouse (filled in by the
//! aggregator issue).
