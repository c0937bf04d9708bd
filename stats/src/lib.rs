//! Statistics for A/B tests (filled in by the stats issue): pure functions over plain
//! numbers, with no I/O and no async.
