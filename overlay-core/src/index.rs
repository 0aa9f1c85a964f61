//! Tables keyed by 32-byte hashes on the flood and pull paths.
//!
//! Peers choose advertised hashes and can grind transaction hashes, so the tables hash keys
//! with a per-node secret seed (from the host's seed) rather than using their bytes as is.
//! Nothing iterates these tables in an order that reaches the wire or the trace, so runs
//! stay identical on every target. Lookups are O(1) instead of a B-tree's 32-byte
//! comparisons, which dominated the simulator's profile.

use crate::wire::Hash;

pub type HashIndex<V> = hashbrown::HashMap<Hash, V, foldhash::fast::FixedState>;

/// An empty table hashing with `seed`.
pub fn hash_index<V>(seed: u64) -> HashIndex<V> {
    HashIndex::with_hasher(foldhash::fast::FixedState::with_seed(seed))
}
