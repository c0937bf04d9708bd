//! Unit tests of the dedupe set.

use super::*;

fn id(n: u64) -> IdHash {
    IdHash::of(&format!("id-{n}"))
}

#[test]
fn duplicates_inside_the_window_are_seen() {
    let mut set = DedupeSet::new(3600, 1000);
    let a = IdHash::of("a");
    assert_eq!(set.insert(a, 1000), Seen::New);
    assert_eq!(set.insert(a, 1001), Seen::Duplicate);
    assert_eq!(set.insert(IdHash::of("b"), 1001), Seen::New);
    assert_eq!(set.len(), 2);
}

#[test]
fn ids_are_forgotten_after_the_window() {
    let mut set = DedupeSet::new(3600, 1000);
    let a = IdHash::of("a");
    set.insert(a, 0);
    assert_eq!(set.insert(a, 3000), Seen::Duplicate);
    // The slice of t=0 ends at 225 s; it is dropped once 225 + 3600 has passed.
    assert_eq!(set.insert(IdHash::of("z"), 3824), Seen::New);
    assert!(set.contains(a));
    assert_eq!(set.insert(IdHash::of("y"), 3825), Seen::New);
    assert!(!set.contains(a));
    assert_eq!(set.insert(a, 3826), Seen::New);
    assert!(set.contains(IdHash::of("z")));
}

/// Defect 1 of issue #14: the cap evicted only whole generations, so every id of the newest
/// one was kept whatever the cap.
#[test]
fn the_cap_is_a_hard_bound_and_evicts_oldest_ids_first() {
    let mut set = DedupeSet::new(6 * 3600, 1000);
    let mut false_alarms = 0;
    for n in 0..50_000 {
        match set.insert(id(n), 1_800_000_000) {
            Seen::New => {}
            Seen::PossiblyForgotten => false_alarms += 1,
            Seen::Duplicate => panic!("{n} is new"),
        }
        assert!(set.len() <= 1000);
    }
    assert!(
        false_alarms < 250,
        "{false_alarms} of 50000 new ids taken as forgotten"
    );
    assert_eq!(set.len(), 1000);
    assert_eq!(set.evicted_early(), 49_000);
    // The newest 1000 are remembered, everything older is forgotten.
    assert!(set.contains(id(49_999)) && set.contains(id(49_000)));
    assert!(!set.contains(id(48_999)) && !set.contains(id(0)));
    assert!(
        set.heap_bytes() <= max_heap_bytes(1000),
        "{}",
        set.heap_bytes()
    );
    assert_eq!(
        set.oldest_remembered(),
        Some(1_800_000_000 - 1_800_000_000 % 1350)
    );
}

#[test]
fn memory_stays_within_the_documented_bound_under_churn() {
    for cap in [1usize, 7, 1000, 4096, 70_000] {
        let mut set = DedupeSet::new(3600, cap);
        let mut peak = 0;
        for n in 0..(cap as u64 * 5 + 10_000) {
            set.insert(id(n), 1_000 + (n / 500) as i64);
            if n % 7 == 0 {
                set.forget(id(n / 2)); // tombstones in the table
            }
            peak = peak.max(set.heap_bytes());
        }
        assert!(set.len() <= cap);
        assert!(
            peak <= max_heap_bytes(cap),
            "cap {cap}: {peak} > {}",
            max_heap_bytes(cap)
        );
    }
    // At most 55 bytes per id for any cap, about 45 for the default one.
    for cap in [1_000_000usize, 3_670_000, 5_000_000, 8_000_000] {
        let per_id = max_heap_bytes(cap) as f64 / (cap as f64);
        assert!(per_id < 55.0, "{cap}: {per_id}");
    }
    assert!(max_heap_bytes(5_000_000) < 5_000_000 * 46);
}

#[test]
fn forget_lets_an_id_in_again() {
    let mut set = DedupeSet::new(60, 10);
    let a = IdHash::of("a");
    set.insert(a, 0);
    set.forget(a);
    assert!(!set.contains(a));
    assert_eq!(set.insert(a, 1), Seen::New);
    assert_eq!(set.insert(a, 2), Seen::Duplicate);
    // The stale queue slot of the first insert does not evict the second.
    for n in 0..9 {
        set.insert(id(n), 3);
    }
    assert!(set.contains(a));
}

#[test]
fn expiry_and_the_cap_work_together() {
    let mut set = DedupeSet::new(1600, 10); // slices of 100 s
    for n in 0..6 {
        set.insert(id(n), 0);
    }
    for n in 6..12 {
        set.insert(id(n), 150);
    }
    assert_eq!(set.len(), 10);
    assert_eq!(set.evicted_early(), 2);
    assert!(!set.contains(id(1)) && set.contains(id(2)));
    // The slice of t=0 (ending at 100 s) expires at 1700 s; the one of t=100 at 1800 s.
    set.insert(id(100), 1700);
    assert!(!set.contains(id(5)) && set.contains(id(6)));
    assert_eq!(set.len(), 7);
    set.insert(id(101), 1800);
    assert_eq!(set.len(), 2);
}

#[test]
fn hashes_are_stable_within_a_process_and_distinct() {
    assert_eq!(IdHash::of("x"), IdHash::of("x"));
    assert_ne!(IdHash::of("x"), IdHash::of("y"));
}

#[test]
fn resends_of_ids_forgotten_early_are_reported() {
    let mut set = DedupeSet::new(6 * 3600, 1000);
    for n in 0..5_000 {
        set.insert(id(n), 1_800_000_000);
    }
    // Remembered: duplicates. Forgotten early but recently: possible duplicates. Forgotten long
    // ago: new (the filter covers about the last `max_ids` evictions).
    assert_eq!(set.insert(id(4_500), 1_800_000_001), Seen::Duplicate);
    let recent = (3_500..4_000)
        .filter(|n| set.insert(id(*n), 1_800_000_001) == Seen::PossiblyForgotten)
        .count();
    assert_eq!(recent, 500);
    let ancient = (0..500)
        .filter(|n| set.insert(id(*n), 1_800_000_001) == Seen::PossiblyForgotten)
        .count();
    assert!(ancient < 10, "{ancient}");
}

#[test]
fn the_process_bound_splits_between_partitions_and_shrinks_sets() {
    let budget = 16 << 20;
    assert_eq!(cap_for(5_000_000, usize::MAX, 8), 5_000_000);
    let one = cap_for(5_000_000, budget, 1);
    let eight = cap_for(5_000_000, budget, 8);
    assert!(
        max_heap_bytes(one) <= budget && max_heap_bytes(one + 1) > budget,
        "{one}"
    );
    assert!(
        8 * max_heap_bytes(eight) <= budget && eight < one / 4,
        "{eight}"
    );
    assert_eq!(cap_for(5_000_000, 0, 3), 1);

    let mut set = DedupeSet::new(3600, one);
    for n in 0..one as u64 {
        set.insert(id(n), 1_000);
    }
    let before = set.heap_bytes();
    set.set_max_ids(eight);
    assert_eq!(set.len(), eight);
    assert_eq!(set.evicted_early(), (one - eight) as u64);
    assert!(set.heap_bytes() <= max_heap_bytes(eight) && set.heap_bytes() < before / 4);
    assert!(set.contains(id(one as u64 - 1)) && !set.contains(id(0)));
    // Still works after shrinking.
    assert_eq!(set.insert(id(one as u64 - 1), 1_001), Seen::Duplicate);
    assert_ne!(set.insert(id(u64::MAX), 1_001), Seen::Duplicate);
}
