//! The floodgate and the bounded stores a node serves from (stellar-core `Floodgate.cpp`,
//! the herder's transaction queue, SCP state, tx-set and quorum-set caches).
//!
//! stellar-core bounds floodgate records only by ledger (`clearBelow`); here every structure
//! also has a hard capacity, evicting oldest-ledger-first, so a node that never sees a
//! ledger close (a watcher out of sync, a simulation) still has bounded memory.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use blake2::{Blake2b256, Digest};

use crate::ConnId;
use crate::auth::NodeId;
use crate::index::{HashIndex, hash_index};
use crate::wire::{Hash, ScpEnvelope, ScpStatementType};

/// The floodgate's key for a message: BLAKE2b-256 of its whole `StellarMessage` XDR (type
/// tag included), as libsodium's `crypto_generichash` computes it.
pub fn flood_key(message: &[u8]) -> Hash {
    Blake2b256::digest(message).into()
}

/// SHA-256, the hash that names transactions, tx sets and quorum sets on the wire.
pub fn sha256(data: &[u8]) -> Hash {
    sha2::Sha256::digest(data).into()
}

/// Peers remembered per record: more than any node's connection limits allow.
const MAX_PEERS_PER_RECORD: usize = 256;

#[derive(Debug, Clone)]
struct Record {
    ledger: u32,
    /// Insertion order, for eviction.
    seq: u64,
    /// Connections that sent us the message or were sent it. stellar-core keys these by
    /// the peer's address (v25) or NodeID (master); a connection handle is as precise within
    /// a connection's life and takes 8 bytes instead of 32.
    peers: Vec<ConnId>,
}

/// The peers one message's record knows of (see [`Floodgate::told`]).
#[derive(Debug)]
pub struct Told<'a>(Option<&'a mut Vec<ConnId>>);

impl Told<'_> {
    /// Marks `to` as having the message; false if it already had it (do not send). Without
    /// a record (none was made), everyone may be sent it.
    pub fn mark_sent(&mut self, to: ConnId) -> bool {
        match &mut self.0 {
            Some(peers) if peers.contains(&to) => false,
            Some(peers) => {
                if peers.len() < MAX_PEERS_PER_RECORD {
                    peers.push(to);
                }
                true
            }
            None => true,
        }
    }
}

/// Which flooded messages each peer has (`Floodgate`).
#[derive(Debug)]
pub struct Floodgate {
    records: HashIndex<Record>,
    by_age: BTreeMap<(u32, u64), Hash>,
    next_seq: u64,
    capacity: usize,
    /// Records evicted by capacity (not by ledger).
    pub evicted: u64,
}

impl Floodgate {
    /// `seed` keys the record table's hashing (see [`crate::index`]).
    pub fn new(capacity: usize, seed: u64) -> Self {
        Floodgate {
            records: hash_index(seed),
            by_age: BTreeMap::new(),
            next_seq: 0,
            capacity,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn contains(&self, key: &Hash) -> bool {
        self.records.contains_key(key)
    }

    fn record(&mut self, key: Hash, ledger: u32) -> &mut Record {
        if !self.records.contains_key(&key) {
            while self.records.len() >= self.capacity.max(1) {
                let Some((_, old)) = self.by_age.pop_first() else {
                    break;
                };
                self.records.remove(&old);
                self.evicted += 1;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.by_age.insert((ledger, seq), key);
            return self.records.entry(key).or_insert(Record {
                ledger,
                seq,
                peers: Vec::new(),
            });
        }
        // Present: the entry only finds it.
        self.records.entry(key).or_insert(Record {
            ledger,
            seq: 0,
            peers: Vec::new(),
        })
    }

    /// `addRecord`: `from` sent us the message. Returns whether the message is new here.
    pub fn add_record(&mut self, key: Hash, from: ConnId, ledger: u32) -> bool {
        let new = !self.records.contains_key(&key);
        let r = self.record(key, ledger);
        if !r.peers.contains(&from) && r.peers.len() < MAX_PEERS_PER_RECORD {
            r.peers.push(from);
        }
        new
    }

    /// Creates the record for a message we broadcast (no-op if it exists).
    pub fn ensure(&mut self, key: Hash, ledger: u32) {
        self.record(key, ledger);
    }

    /// Marks `to` as having the message; false if it already had it (do not send).
    pub fn mark_sent(&mut self, key: &Hash, to: ConnId) -> bool {
        self.told(key).mark_sent(to)
    }

    /// The record of one message, looked up once for marking many peers (a broadcast).
    pub fn told(&mut self, key: &Hash) -> Told<'_> {
        Told(self.records.get_mut(key).map(|r| &mut r.peers))
    }

    /// Whether the peer on `conn` is known to have the message.
    pub fn knows(&self, key: &Hash, conn: ConnId) -> bool {
        self.records
            .get(key)
            .is_some_and(|r| r.peers.contains(&conn))
    }

    /// The connections known to have the message (`getPeersKnows`).
    pub fn peers_knowing(&self, key: &Hash) -> &[ConnId] {
        self.records.get(key).map_or(&[], |r| &r.peers)
    }

    /// `clearBelow`: forgets records created before ledger `ledger`.
    pub fn clear_below(&mut self, ledger: u32) {
        while let Some((&(l, seq), _)) = self.by_age.first_key_value() {
            if l >= ledger {
                break;
            }
            if let Some(key) = self.by_age.remove(&(l, seq)) {
                self.records.remove(&key);
            }
        }
    }

    /// `forgetRecord`: lets a later copy of the message flood again.
    pub fn forget(&mut self, key: &Hash) {
        if let Some(r) = self.records.remove(key) {
            self.by_age.remove(&(r.ledger, r.seq));
        }
    }
}

/// A map with a capacity in entries and in bytes that evicts its oldest entries first:
/// transactions to serve demands from, tx sets and quorum sets to answer GET_* with.
#[derive(Debug)]
pub struct BoundedStore {
    items: HashIndex<(Arc<[u8]>, u32)>,
    order: VecDeque<Hash>,
    bytes: usize,
    max_items: usize,
    max_bytes: usize,
}

impl BoundedStore {
    /// `seed` keys the table's hashing (see [`crate::index`]).
    pub fn new(max_items: usize, max_bytes: usize, seed: u64) -> Self {
        BoundedStore {
            items: hash_index(seed),
            order: VecDeque::new(),
            bytes: 0,
            max_items,
            max_bytes,
        }
    }

    /// Adds `bytes` under `hash` (tagged with a ledger for `clear_below`); returns false if it
    /// was already there. An item larger than the whole byte budget is not kept.
    pub fn insert(&mut self, hash: Hash, bytes: Arc<[u8]>, ledger: u32) -> bool {
        if self.items.contains_key(&hash) {
            return false;
        }
        if bytes.len() > self.max_bytes {
            return false;
        }
        while !self.order.is_empty()
            && (self.items.len() >= self.max_items || self.bytes + bytes.len() > self.max_bytes)
        {
            self.evict_oldest();
        }
        self.bytes += bytes.len();
        self.items.insert(hash, (bytes, ledger));
        self.order.push_back(hash);
        true
    }

    fn evict_oldest(&mut self) {
        while let Some(h) = self.order.pop_front() {
            if let Some((b, _)) = self.items.remove(&h) {
                self.bytes -= b.len();
                return;
            }
        }
    }

    pub fn get(&self, hash: &Hash) -> Option<&Arc<[u8]>> {
        self.items.get(hash).map(|(b, _)| b)
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.items.contains_key(hash)
    }

    pub fn remove(&mut self, hash: &Hash) -> bool {
        match self.items.remove(hash) {
            Some((b, _)) => {
                self.bytes -= b.len();
                // The order queue is cleaned lazily by eviction; keep it bounded here.
                if self.order.len() > 2 * self.max_items.max(16) {
                    let items = &self.items;
                    self.order.retain(|h| items.contains_key(h));
                }
                true
            }
            None => false,
        }
    }

    /// Drops items tagged with a ledger below `ledger`.
    pub fn clear_below(&mut self, ledger: u32) {
        let before = self.items.len();
        let mut freed = 0;
        self.items.retain(|_, (b, l)| {
            let keep = *l >= ledger;
            if !keep {
                freed += b.len();
            }
            keep
        });
        if self.items.len() != before {
            self.bytes -= freed;
            let items = &self.items;
            self.order.retain(|h| items.contains_key(h));
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The SCP envelopes a node can answer GET_SCP_STATE with: the latest statement per node
/// and slot among those it broadcast, for the most recent slots.
#[derive(Debug)]
pub struct ScpState {
    /// (slot, node, nomination or ballot) → StellarMessage XDR of the SCP_MESSAGE: SCP keeps
    /// a node's latest nomination and latest ballot statement apart.
    envelopes: BTreeMap<(u64, NodeId, bool), Arc<[u8]>>,
    /// Envelopes kept per slot (how many slots are kept, without walking every envelope).
    per_slot: BTreeMap<u64, usize>,
    max_slots: usize,
    max_envelopes: usize,
}

impl ScpState {
    pub fn new(max_slots: usize, max_envelopes: usize) -> Self {
        ScpState {
            envelopes: BTreeMap::new(),
            per_slot: BTreeMap::new(),
            max_slots,
            max_envelopes,
        }
    }

    /// Keeps `message` (an SCP_MESSAGE's StellarMessage XDR) unless a newer statement from
    /// the same node and slot is already kept.
    pub fn insert(&mut self, message: Arc<[u8]>) {
        let Some(bytes) = message.get(4..) else {
            return;
        };
        if let Ok(env) = ScpEnvelope::decode(bytes) {
            self.insert_decoded(Arc::clone(&message), &env);
        }
    }

    /// [`ScpState::insert`] for a message its caller decoded already (`env` must be the
    /// decoding of `message` after its type tag).
    pub fn insert_decoded(&mut self, message: Arc<[u8]>, env: &ScpEnvelope<'_>) {
        let key = Self::key(env);
        if self.replaces(&key, env) {
            self.store(key, message);
        }
    }

    fn key(env: &ScpEnvelope<'_>) -> (u64, NodeId, bool) {
        let is_ballot = env.statement_type() != ScpStatementType::Nominate;
        (env.slot_index, NodeId(*env.node_id), is_ballot)
    }

    fn replaces(&self, key: &(u64, NodeId, bool), env: &ScpEnvelope<'_>) -> bool {
        match self.envelopes.get(key) {
            None => true,
            Some(old) => old
                .get(4..)
                .and_then(|b| ScpEnvelope::decode(b).ok())
                .is_none_or(|old| old.is_superseded_by(env)),
        }
    }

    fn store(&mut self, key: (u64, NodeId, bool), message: Arc<[u8]>) {
        if self.envelopes.insert(key, message).is_none() {
            *self.per_slot.entry(key.0).or_default() += 1;
        }
        // Forget the oldest slots beyond the window, then enforce the entry cap.
        while self.per_slot.len() > self.max_slots || self.envelopes.len() > self.max_envelopes {
            let Some(((slot, _, _), _)) = self.envelopes.pop_first() else {
                break;
            };
            if let Some(n) = self.per_slot.get_mut(&slot) {
                *n -= 1;
                if *n == 0 {
                    self.per_slot.remove(&slot);
                }
            }
        }
    }

    /// Envelopes for slots ≥ `from`, ascending, covering at most `max_slots` slots
    /// (`HerderImpl::sendSCPStateToPeer` stops after 100 slots).
    pub fn from_slot(&self, from: u64, max_slots: usize) -> Vec<Arc<[u8]>> {
        let mut out = Vec::new();
        let mut slots = 0;
        let mut last = None;
        for ((slot, _, _), m) in self.envelopes.range((from, NodeId([0; 32]), false)..) {
            if last != Some(*slot) {
                slots += 1;
                if slots > max_slots {
                    break;
                }
                last = Some(*slot);
            }
            out.push(Arc::clone(m));
        }
        out
    }

    /// The newest slot kept.
    pub fn latest_slot(&self) -> Option<u64> {
        self.envelopes.last_key_value().map(|((s, _, _), _)| *s)
    }

    pub fn len(&self) -> usize {
        self.envelopes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u8) -> ConnId {
        ConnId(u64::from(i))
    }

    #[test]
    fn flood_key_is_blake2b_256() {
        // BLAKE2b-256 of the empty string (RFC 7693 parameter block with outlen 32).
        let k = flood_key(b"");
        assert_eq!(
            k[..8],
            [0x0e, 0x57, 0x51, 0xc0, 0x26, 0xe5, 0x43, 0xb2],
            "libsodium crypto_generichash(32) of empty input"
        );
    }

    #[test]
    fn records_track_who_has_what() {
        let mut f = Floodgate::new(100, 1);
        let k = [1; 32];
        assert!(f.add_record(k, n(1), 5));
        assert!(!f.add_record(k, n(2), 5), "second copy is a duplicate");
        assert!(f.knows(&k, n(1)) && f.knows(&k, n(2)));
        assert!(
            !f.mark_sent(&k, n(1)),
            "the sender is not sent its own message"
        );
        assert!(f.mark_sent(&k, n(3)));
        assert!(!f.mark_sent(&k, n(3)), "nobody is sent a message twice");
        assert_eq!(f.peers_knowing(&k), &[n(1), n(2), n(3)]);
    }

    #[test]
    fn clear_below_and_forget() {
        let mut f = Floodgate::new(100, 1);
        f.add_record([1; 32], n(1), 5);
        f.add_record([2; 32], n(1), 6);
        f.ensure([3; 32], 7);
        f.clear_below(6);
        assert!(!f.contains(&[1; 32]) && f.contains(&[2; 32]) && f.contains(&[3; 32]));
        f.forget(&[2; 32]);
        assert!(!f.contains(&[2; 32]));
        assert_eq!(f.len(), 1);
        f.clear_below(100);
        assert!(f.is_empty());
    }

    #[test]
    fn floodgate_capacity_evicts_oldest_ledger_first() {
        let mut f = Floodgate::new(1000, 1);
        for i in 0..5000u32 {
            let mut k = [0; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            // Ledgers go down: the newest records have the oldest ledgers.
            f.add_record(k, n(1), 10_000 - i);
        }
        assert_eq!(f.len(), 1000);
        assert_eq!(f.evicted, 4000);
        let mut newest = [0; 32];
        newest[..4].copy_from_slice(&4999u32.to_be_bytes());
        assert!(
            f.contains(&newest),
            "lowest ledger evicted first: the last one stays"
        );
        for i in 0..300u64 {
            f.add_record([7; 32], ConnId(i), 1);
        }
        assert_eq!(f.peers_knowing(&[7; 32]).len(), MAX_PEERS_PER_RECORD);
    }

    #[test]
    fn scp_state_keeps_latest_per_node_slot_and_window() {
        use crate::test_support::nominate;
        let mut st = ScpState::new(3, 100);
        st.insert(nominate(1, 10, &[1]));
        st.insert(nominate(1, 10, &[1, 2]));
        st.insert(nominate(1, 10, &[1]));
        assert_eq!(st.len(), 1);
        assert_eq!(
            st.from_slot(0, 100)[0],
            nominate(1, 10, &[1, 2]),
            "the superseding statement is kept"
        );
        st.insert(nominate(2, 10, &[1]));
        st.insert(nominate(1, 11, &[1]));
        st.insert(nominate(1, 12, &[1]));
        assert_eq!(st.from_slot(11, 100).len(), 2);
        assert_eq!(
            st.from_slot(0, 1).len(),
            2,
            "one slot: both nodes' slot-10 statements"
        );
        st.insert(nominate(1, 13, &[1]));
        assert_eq!(
            st.from_slot(0, 100).len(),
            3,
            "slot 10 fell out of the 3-slot window"
        );
        assert_eq!(st.latest_slot(), Some(13));
        let mut capped = ScpState::new(1000, 50);
        for node in 0..200u8 {
            capped.insert(nominate(node, 5, &[1]));
        }
        assert_eq!(capped.len(), 50);
        capped.insert(Arc::from(alloc::vec![0u8; 8]));
        assert_eq!(capped.len(), 50, "undecodable input is ignored");
    }

    #[test]
    fn bounded_store_evicts_by_count_and_bytes() {
        let mut s = BoundedStore::new(10, 1000, 1);
        for i in 0..50u8 {
            s.insert([i; 32], Arc::from(alloc::vec![i; 50]), u32::from(i));
        }
        assert_eq!(s.len(), 10);
        assert!(s.contains(&[49; 32]) && !s.contains(&[39; 32]));
        for i in 50..60u8 {
            s.insert([i; 32], Arc::from(alloc::vec![i; 300]), 100);
        }
        assert!(s.bytes() <= 1000);
        assert_eq!(s.len(), 3);
        assert!(
            !s.insert([99; 32], Arc::from(alloc::vec![0; 1001]), 0),
            "larger than the budget"
        );
        assert!(
            !s.insert([59; 32], Arc::from(alloc::vec![0; 1]), 0),
            "already there"
        );
        s.clear_below(101);
        assert!(s.is_empty() && s.bytes() == 0);
        s.insert([1; 32], Arc::from(alloc::vec![1; 10]), 0);
        assert!(s.remove(&[1; 32]) && !s.remove(&[1; 32]));
        for i in 0..1000u32 {
            let mut h = [0; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            s.insert(h, Arc::from(alloc::vec![0; 1]), 0);
            s.remove(&h);
        }
        assert!(
            s.order.len() <= 2 * 16 + 1,
            "removal keeps the order queue bounded"
        );
    }
}
