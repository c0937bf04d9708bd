//! Unit tests of the sink (no I/O): error classification, retry delays, poison-row isolation.

use super::*;

#[test]
fn exception_codes_are_parsed_and_classified() {
    let bad = |t: &str| clickhouse::error::Error::BadResponse(t.to_owned());
    assert_eq!(
        exception_code("Code: 27, e.displayText() = DB::Exception: x"),
        Some(27)
    );
    assert!(is_data_error(&bad(
        "Code: 27, e.displayText() = DB::Exception: Cannot parse input"
    )));
    assert!(is_data_error(&bad(
        "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100)"
    )));
    assert!(!is_data_error(&bad("Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower")));
    assert!(!is_data_error(&bad(
        "Code: 241. DB::Exception: Memory limit exceeded"
    )));
    assert!(!is_data_error(&clickhouse::error::Error::TimedOut));
}

#[test]
fn retry_delays_grow_with_jitter_and_cap() {
    let retry = Retry {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };
    for attempt in 0..10 {
        let d = retry.delay(attempt);
        let base = Duration::from_millis(100 * (1 << attempt)).min(Duration::from_secs(2));
        assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
    }
}

#[tokio::test]
async fn isolate_finds_exactly_the_bad_rows() {
    let bad_rows = [3usize, 500, 501, 999];
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let insert = |part: Range<usize>| -> PartInsert<'_> {
        calls.fetch_add(1, Ordering::Relaxed);
        let poisoned = part.clone().any(|r| bad_rows.contains(&r));
        Box::pin(async move {
            if poisoned {
                Err(clickhouse::error::Error::BadResponse(
                    "Code: 53. TYPE_MISMATCH".into(),
                ))
            } else {
                Ok(())
            }
        })
    };
    let (inserted, bad) = isolate(1000, insert).await;
    assert_eq!(inserted, 996);
    let found: Vec<usize> = bad.iter().map(|(r, _)| *r).collect();
    assert_eq!(found, bad_rows);
    assert!(bad[0].1.contains("TYPE_MISMATCH"));
    // Logarithmic, not linear, in the batch size.
    assert!(calls.load(Ordering::Relaxed) < 100, "{calls:?}");
}
