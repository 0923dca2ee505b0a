use std::collections::HashMap;

use super::*;

fn build(combine: Combine, capacity: usize, pairs: &[(u64, u64)]) -> AddressIndex {
    let mut builder = Builder::with_capacity(combine, capacity);
    for &(key, value) in pairs {
        builder.push(key, value).unwrap();
    }
    builder.finish().unwrap()
}

fn on_disk(index: &AddressIndex) -> bool {
    matches!(index.0, Storage::Disk { .. })
}

/// What a HashMap with the same rule holds.
fn model(combine: Combine, pairs: &[(u64, u64)]) -> HashMap<u64, u64> {
    let mut map = HashMap::new();
    for &(key, value) in pairs {
        map.entry(key)
            .and_modify(|v: &mut u64| *v = combine.apply(*v, value))
            .or_insert(value);
    }
    map
}

/// Random pairs over few enough keys that most keys repeat, in different runs.
fn random_pairs(seed: u64, count: usize, keys: u64) -> Vec<(u64, u64)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pairs: Vec<(u64, u64)> = (0..count)
        .map(|_| {
            (
                rng.u64(..keys).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                rng.u64(..1000),
            )
        })
        .collect();
    pairs.extend([(0, 5), (u64::MAX, 6), (0, 7), (u64::MAX, 3)]);
    pairs
}

fn assert_matches_model(combine: Combine, capacity: usize, seed: u64) {
    let pairs = random_pairs(seed, 20_000, 3_000);
    let index = build(combine, capacity, &pairs);
    let model = model(combine, &pairs);
    assert_eq!(index.len(), model.len());
    for (&key, &value) in &model {
        assert_eq!(index.get(key), Some(value), "key {key:#x}, {combine:?}");
    }
    let mut rng = fastrand::Rng::with_seed(seed + 1);
    for key in (0..5_000).map(|_| rng.u64(..)).chain([1, u64::MAX - 1]) {
        assert_eq!(index.get(key), model.get(&key).copied(), "absent {key:#x}");
    }
}

#[test]
fn spilled_runs_merge_to_what_a_hash_map_holds_with_min_and_max() {
    for (combine, seed) in [(Combine::Min, 1), (Combine::Max, 2), (Combine::Min, 3)] {
        assert!(on_disk(&build(combine, 4, &random_pairs(seed, 100, 30))));
        assert_matches_model(combine, 4, seed);
        assert_matches_model(combine, 1_000, seed);
    }
}

#[test]
fn in_memory_when_nothing_spills() {
    let index = build(
        Combine::Max,
        DEFAULT_CAPACITY,
        &random_pairs(4, 20_000, 3_000),
    );
    assert!(!on_disk(&index));
    assert_matches_model(Combine::Max, DEFAULT_CAPACITY, 4);
}

#[test]
fn keys_at_block_boundaries() {
    // Even keys only, three full blocks and one key over, pushed in reverse order.
    let count = BLOCK as u64 * 3 + 1;
    let pairs: Vec<(u64, u64)> = (0..count).rev().map(|i| (i * 2 + 10, i)).collect();
    let index = build(Combine::Min, 7, &pairs);
    assert!(on_disk(&index));
    assert_eq!(index.len() as u64, count);
    for i in 0..count {
        assert_eq!(index.get(i * 2 + 10), Some(i), "key of pair {i}");
        assert_eq!(index.get(i * 2 + 11), None, "after pair {i}");
    }
    for key in [0, 9, count * 2 + 10, u64::MAX] {
        assert_eq!(index.get(key), None, "{key}");
    }
}

#[test]
fn a_key_repeated_across_every_run_is_combined_once() {
    let pairs: Vec<(u64, u64)> = (0..50).map(|i| (42, 100 - i)).collect();
    let min = build(Combine::Min, 3, &pairs);
    assert_eq!((min.len(), min.get(42)), (1, Some(51)));
    let max = build(Combine::Max, 3, &pairs);
    assert_eq!((max.len(), max.get(42)), (1, Some(100)));
    assert!(max.contains(42) && !max.contains(41));
}

#[test]
fn empty_index() {
    for index in [
        Builder::new(Combine::Min).finish().unwrap(),
        AddressIndex::default(),
    ] {
        assert!(index.is_empty());
        assert_eq!(index.len(), 0);
        assert_eq!(index.get(0), None);
        assert_eq!(index.get(u64::MAX), None);
    }
}
