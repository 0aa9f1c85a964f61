//! The relay policy: the part of stellar-core's herder the overlay depends on.
//!
//! - An SCP envelope is relayed only once it decodes as `stellar-xdr` decodes it, its
//!   signature verifies (`verify_strict` over `networkID ‖ ENVELOPE_TYPE_SCP ‖ statement`),
//!   it is not our own, and the quorum set and tx sets it names have been fetched
//!   (`PendingEnvelopes::envelopeReady`). Rejected envelopes are forgotten by the floodgate
//!   so a valid copy can still flood.
//! - Once the node tracks the network, an envelope is accepted only for a slot within
//!   stellar-core's window: from the oldest slot remembered to the next slot plus
//!   `LEDGER_VALIDITY_BRACKET` (`HerderImpl::recvSCPEnvelope`). Before that any slot goes.
//! - A transaction is advertised only if it decodes as a `TransactionEnvelope` within the
//!   size bound; a rejected one is not demanded again (`Overlay::reject_transaction`).
//! - The latest statements per node are kept for `/scp`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use overlay_core::auth::verify_signature;
use overlay_core::fetch::ItemKind;
use overlay_core::flood::sha256;
use overlay_core::overlay::Overlay;
use overlay_core::wire::{Hash, ScpEnvelope};
use overlay_core::{Instant, NetworkId, NodeId};
use serde_json::{Value, json};
use stellar_xdr as xdr;
use xdr::{Limits, ReadXdr};

/// Envelopes waiting for their items at most (about 12 slots × 100 validators × 2).
const MAX_PENDING: usize = 2400;
/// Statements kept for `/scp`.
const MAX_RECENT: usize = 1000;
/// XDR nesting allowed when decoding what peers send.
const MAX_DEPTH: u32 = 500;
/// How far past the next slot an envelope may be (stellar-core's `LEDGER_VALIDITY_BRACKET`).
pub const LEDGER_VALIDITY_BRACKET: u64 = 100;

/// What the relay policy counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub scp_relayed: u64,
    pub scp_pending: u64,
    pub scp_malformed: u64,
    pub scp_bad_signature: u64,
    pub scp_own: u64,
    pub scp_out_of_range: u64,
    pub scp_dropped_pending_full: u64,
    pub tx_advertised: u64,
    pub tx_malformed: u64,
    pub tx_oversize: u64,
}

impl RelayStats {
    /// Counters with Prometheus-style names.
    pub fn named(&self) -> [(&'static str, u64); 10] {
        [
            ("relay.scp.relayed", self.scp_relayed),
            ("relay.scp.pending", self.scp_pending),
            ("relay.scp.malformed", self.scp_malformed),
            ("relay.scp.bad-signature", self.scp_bad_signature),
            ("relay.scp.own", self.scp_own),
            ("relay.scp.out-of-range", self.scp_out_of_range),
            (
                "relay.scp.dropped-pending-full",
                self.scp_dropped_pending_full,
            ),
            ("relay.tx.advertised", self.tx_advertised),
            ("relay.tx.malformed", self.tx_malformed),
            ("relay.tx.oversize", self.tx_oversize),
        ]
    }
}

#[derive(Debug)]
struct Pending {
    message: Vec<u8>,
    missing: BTreeSet<(u8, Hash)>,
    node: NodeId,
    slot: u64,
    phase: &'static str,
}

/// What [`Relay::on_scp`] made of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScpVerdict {
    /// Well formed, signed by the node it names, in the slot window: relayed now or once
    /// its items arrive.
    Accepted,
    /// Dropped (malformed, badly signed, out of the window) or our own.
    Ignored,
}

/// One statement as `/scp` shows it.
#[derive(Debug, Clone)]
pub struct Statement {
    pub node: NodeId,
    pub slot: u64,
    pub phase: &'static str,
    /// The tx-set hashes of the values the statement carries.
    pub tx_sets: Vec<Hash>,
    pub quorum_set: Hash,
    pub relayed: bool,
}

/// The relay policy's state.
#[derive(Debug)]
pub struct Relay {
    network: NetworkId,
    me: NodeId,
    max_tx_size: usize,
    pending: BTreeMap<Hash, Pending>,
    pending_order: VecDeque<Hash>,
    recent: VecDeque<Statement>,
    /// Slots accepted: `[min, max]` (everything until the node tracks the network).
    window: (u64, u64),
    pub stats: RelayStats,
}

fn kind_tag(kind: ItemKind) -> u8 {
    match kind {
        ItemKind::TxSet => 0,
        ItemKind::QuorumSet => 1,
    }
}

fn tag_kind(tag: u8) -> ItemKind {
    if tag == 0 {
        ItemKind::TxSet
    } else {
        ItemKind::QuorumSet
    }
}

/// What an SCP signature covers.
pub fn scp_signed_bytes(network: &NetworkId, statement_xdr: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(36 + statement_xdr.len());
    v.extend_from_slice(&network.0);
    v.extend_from_slice(&1i32.to_be_bytes()); // ENVELOPE_TYPE_SCP
    v.extend_from_slice(statement_xdr);
    v
}

/// The tx-set hash a value (`StellarValue` XDR) names, if it decodes.
pub fn value_tx_set(value: &[u8]) -> Option<Hash> {
    xdr::StellarValue::from_xdr(
        value,
        Limits {
            depth: MAX_DEPTH,
            len: value.len(),
        },
    )
    .ok()
    .map(|v| v.tx_set_hash.0)
}

impl Relay {
    pub fn new(network: NetworkId, me: NodeId, max_tx_size: usize) -> Self {
        Relay {
            network,
            me,
            max_tx_size,
            pending: BTreeMap::new(),
            pending_order: VecDeque::new(),
            recent: VecDeque::new(),
            window: (0, u64::MAX),
            stats: RelayStats::default(),
        }
    }

    /// The node tracks the network at `tracked` (an externalized slot): from now on only
    /// slots from `oldest` to the next one plus the validity bracket are accepted.
    pub fn set_window(&mut self, oldest: u64, tracked: u64) {
        self.window = (oldest, tracked.saturating_add(1 + LEDGER_VALIDITY_BRACKET));
    }

    /// Whether `env` is signed by the node it names, for this network.
    pub fn signed(&self, env: &ScpEnvelope<'_>) -> bool {
        verify_signature(
            env.node_id,
            &scp_signed_bytes(&self.network, env.statement_bytes),
            env.signature,
        )
    }

    /// This node.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// The node no longer tracks the network: any slot from the oldest kept goes again, as
    /// in stellar-core when it is not tracking (the network may have moved far ahead).
    pub fn lost_sync(&mut self) {
        self.window.1 = u64::MAX;
    }

    /// Whether an envelope for `slot` would be accepted now.
    pub fn in_window(&self, slot: u64) -> bool {
        (self.window.0..=self.window.1).contains(&slot)
    }

    /// Checks a received SCP envelope (`message` is its StellarMessage XDR, `key` its
    /// floodgate key) and relays it now, or once its items arrive.
    pub fn on_scp(
        &mut self,
        overlay: &mut Overlay,
        now: Instant,
        key: Hash,
        message: &[u8],
        slot: u64,
    ) -> ScpVerdict {
        let Some(env_bytes) = message.get(4..) else {
            return ScpVerdict::Ignored;
        };
        if !self.in_window(slot) {
            self.stats.scp_out_of_range += 1;
            overlay.forget(&key);
            return ScpVerdict::Ignored;
        }
        let Ok(env) = ScpEnvelope::decode(env_bytes) else {
            self.stats.scp_malformed += 1;
            overlay.forget(&key);
            return ScpVerdict::Ignored;
        };
        // The full decode catches what the zero-copy view does not interpret.
        if xdr::ScpEnvelope::from_xdr(
            env_bytes,
            Limits {
                depth: MAX_DEPTH,
                len: env_bytes.len(),
            },
        )
        .is_err()
        {
            self.stats.scp_malformed += 1;
            overlay.forget(&key);
            return ScpVerdict::Ignored;
        }
        let node = NodeId(*env.node_id);
        if node == self.me {
            self.stats.scp_own += 1;
            return ScpVerdict::Ignored;
        }
        if !self.signed(&env) {
            self.stats.scp_bad_signature += 1;
            overlay.forget(&key);
            return ScpVerdict::Ignored;
        }
        let mut tx_sets = Vec::new();
        for v in env.values() {
            match value_tx_set(v) {
                Some(h) => tx_sets.push(h),
                None => {
                    self.stats.scp_malformed += 1;
                    overlay.forget(&key);
                    return ScpVerdict::Ignored;
                }
            }
        }
        let quorum_set = *env.quorum_set_hash();
        let mut missing = BTreeSet::new();
        if !overlay.has_item(ItemKind::QuorumSet, &quorum_set) {
            missing.insert((kind_tag(ItemKind::QuorumSet), quorum_set));
        }
        for h in &tx_sets {
            if !overlay.has_item(ItemKind::TxSet, h) {
                missing.insert((kind_tag(ItemKind::TxSet), *h));
            }
        }
        let phase = env.statement_type().name();
        self.remember(Statement {
            node,
            slot,
            phase,
            tx_sets,
            quorum_set,
            relayed: missing.is_empty(),
        });
        if missing.is_empty() {
            self.stats.scp_relayed += 1;
            overlay.broadcast(now, message);
            return ScpVerdict::Accepted;
        }
        if self.pending.len() >= MAX_PENDING {
            // Oldest first: it is the least likely to still matter.
            if let Some(old) = self.pending_order.pop_front() {
                self.pending.remove(&old);
                self.stats.scp_dropped_pending_full += 1;
            }
        }
        for (tag, h) in &missing {
            overlay.fetch(now, tag_kind(*tag), *h, key, slot);
        }
        self.stats.scp_pending += 1;
        self.pending.insert(
            key,
            Pending {
                message: message.to_vec(),
                missing,
                node,
                slot,
                phase,
            },
        );
        self.pending_order.push_back(key);
        ScpVerdict::Accepted
    }

    /// A fetched item arrived: relays the envelopes that waited only for it.
    pub fn on_item(
        &mut self,
        overlay: &mut Overlay,
        now: Instant,
        kind: ItemKind,
        hash: Hash,
        envelopes: &[Hash],
    ) {
        for key in envelopes {
            let ready = match self.pending.get_mut(key) {
                Some(p) => {
                    p.missing.remove(&(kind_tag(kind), hash));
                    p.missing.is_empty()
                }
                None => false,
            };
            if ready && let Some(p) = self.pending.remove(key) {
                self.pending_order.retain(|k| k != key);
                self.stats.scp_relayed += 1;
                overlay.broadcast(now, &p.message);
                if let Some(s) = self.recent.iter_mut().rev().find(|s| {
                    s.node == p.node && s.slot == p.slot && s.phase == p.phase && !s.relayed
                }) {
                    s.relayed = true;
                }
            }
        }
    }

    /// A fetch was cancelled: envelopes waiting for it are dropped, and forgotten by the
    /// floodgate so that a copy arriving once the item can be had is handled afresh.
    pub fn on_cancelled(&mut self, overlay: &mut Overlay, kind: ItemKind, hash: Hash) {
        let tag = (kind_tag(kind), hash);
        let gone: Vec<Hash> = self
            .pending
            .iter()
            .filter(|(_, p)| p.missing.contains(&tag))
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.pending.remove(&k);
            self.pending_order.retain(|x| *x != k);
            overlay.forget(&k);
        }
    }

    /// Checks a received transaction and floods it in pull mode if valid.
    pub fn on_transaction(
        &mut self,
        overlay: &mut Overlay,
        now: Instant,
        key_of: impl FnOnce() -> Hash,
        envelope: &[u8],
    ) {
        if envelope.len() > self.max_tx_size {
            self.stats.tx_oversize += 1;
            overlay.forget(&key_of());
            overlay.reject_transaction(sha256(envelope));
            return;
        }
        if xdr::TransactionEnvelope::from_xdr(
            envelope,
            Limits {
                depth: MAX_DEPTH,
                len: envelope.len(),
            },
        )
        .is_err()
        {
            self.stats.tx_malformed += 1;
            overlay.forget(&key_of());
            // Not demanded again from the other peers that advertise it.
            overlay.reject_transaction(sha256(envelope));
            return;
        }
        self.stats.tx_advertised += 1;
        overlay.add_transaction(now, envelope);
    }

    fn remember(&mut self, s: Statement) {
        if self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(s);
    }

    /// Envelopes waiting for items.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The latest `limit` slots seen, shaped like stellar-core's `/scp`: `you`, `scp` keyed by
    /// slot (newest first) with the statements seen for it, and `queue`: per slot, the
    /// envelopes still fetching their items.
    pub fn scp_json(&self, limit: usize) -> Value {
        let hex = |h: &Hash| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut slots: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
        for s in &self.recent {
            slots.entry(s.slot).or_default().push(json!({
                "node": s.node.to_string(),
                "phase": s.phase,
                "txSets": s.tx_sets.iter().map(hex).collect::<Vec<_>>(),
                "quorumSet": hex(&s.quorum_set),
                "relayed": s.relayed,
            }));
        }
        let shown: Vec<u64> = slots.keys().rev().take(limit).copied().collect();
        let mut scp = serde_json::Map::new();
        let mut queue = serde_json::Map::new();
        for slot in shown {
            let statements = slots.remove(&slot).unwrap_or_default();
            scp.insert(slot.to_string(), json!({ "statements": statements }));
            let fetching: Vec<Value> = self
                .pending
                .values()
                .filter(|p| p.slot == slot)
                .map(|p| json!({ "node": p.node.to_string(), "phase": p.phase }))
                .collect();
            if !fetching.is_empty() {
                queue.insert(slot.to_string(), json!({ "fetching": fetching }));
            }
        }
        json!({ "you": self.me.to_string(), "scp": scp, "queue": queue })
    }

    /// The latest slot seen from anyone.
    pub fn latest_slot(&self) -> Option<u64> {
        self.recent.iter().map(|s| s.slot).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic;
    use overlay_core::flood::flood_key;
    use overlay_core::overlay::OverlayConfig;
    use overlay_core::{LocalNode, NodeKey, WallClock};
    use std::sync::Arc;

    const NET: &str = "Standalone Network ; February 2017";

    fn setup() -> (Overlay, Relay, NetworkId) {
        let network = NetworkId::from_passphrase(NET);
        let local = LocalNode::new(NodeKey::from_seed([1; 32]), network, [2; 32]);
        let me = local.node_id();
        let overlay = Overlay::new(
            Arc::new(local),
            OverlayConfig::default(),
            WallClock::new(Instant::ZERO, 1_750_000_000),
            [3; 32],
            Instant::ZERO,
        );
        (overlay, Relay::new(network, me, 1000), network)
    }

    /// Node `seed`'s NOMINATE for `slot`, signed for `network`, with its items served.
    fn nominate(overlay: &mut Overlay, seed: u8, network: &NetworkId, slot: u64) -> Vec<u8> {
        let key = NodeKey::from_seed([seed; 32]);
        let qset = traffic::quorum_set(&[key.node_id()]);
        let set = traffic::tx_set(slot, &[]);
        let t = traffic::slot_traffic(&key, network, slot, &set, true, &qset);
        for (kind, hash, item) in &t.items {
            match kind {
                ItemKind::TxSet => overlay.provide_tx_set(*hash, item),
                ItemKind::QuorumSet => overlay.provide_quorum_set(*hash, item),
            }
        }
        t.messages[0].clone()
    }

    fn on_scp(relay: &mut Relay, overlay: &mut Overlay, m: &[u8], slot: u64) -> ScpVerdict {
        relay.on_scp(overlay, Instant::ZERO, flood_key(m), m, slot)
    }

    #[test]
    fn genuine_envelopes_are_relayed_and_others_refused_with_their_reason() {
        let (mut o, mut r, net) = setup();
        let m = nominate(&mut o, 9, &net, 5);
        assert_eq!(on_scp(&mut r, &mut o, &m, 5), ScpVerdict::Accepted);
        assert_eq!(r.stats.scp_relayed, 1);

        // Correctly signed, but for another network: the signed payload names the network.
        let other = NetworkId::from_passphrase("Test SDF Network ; September 2015");
        let m = nominate(&mut o, 9, &other, 6);
        assert_eq!(on_scp(&mut r, &mut o, &m, 6), ScpVerdict::Ignored);
        assert_eq!(r.stats.scp_bad_signature, 1);

        // A weak (small-order) key with the identity R and S = 0: plain `verify` accepts
        // it for any message, `verify_strict` (ours) does not.
        let mut m = nominate(&mut o, 9, &net, 7);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        m[8..40].copy_from_slice(&identity);
        let sig_at = m.len() - 64;
        m[sig_at..sig_at + 32].copy_from_slice(&identity);
        m[sig_at + 32..].fill(0);
        let env = ScpEnvelope::decode(&m[4..]).unwrap();
        use ed25519_dalek::Verifier;
        let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&m[sig_at..].try_into().unwrap());
        let signed = scp_signed_bytes(&net, env.statement_bytes);
        assert!(
            weak.verify(&signed, &sig).is_ok(),
            "the forgery passes plain verify"
        );
        assert_eq!(on_scp(&mut r, &mut o, &m, 7), ScpVerdict::Ignored);
        assert_eq!(r.stats.scp_bad_signature, 2);

        // Not an envelope stellar-xdr reads: a statement type past EXTERNALIZE.
        let mut m = nominate(&mut o, 9, &net, 8);
        let pledges = 4 + 36 + 8; // tag, NodeID, slot index
        m[pledges..pledges + 4].copy_from_slice(&9i32.to_be_bytes());
        assert_eq!(on_scp(&mut r, &mut o, &m, 8), ScpVerdict::Ignored);
        assert_eq!(r.stats.scp_malformed, 1);
        assert_eq!(r.stats.scp_relayed, 1, "only the genuine one went out");
    }

    #[test]
    fn once_tracking_only_slots_in_the_window_are_accepted() {
        let (mut o, mut r, net) = setup();
        r.set_window(88, 100);
        for (slot, ok) in [(87, false), (88, true), (201, true), (202, false)] {
            let m = nominate(&mut o, 9, &net, slot);
            let want = if ok {
                ScpVerdict::Accepted
            } else {
                ScpVerdict::Ignored
            };
            assert_eq!(on_scp(&mut r, &mut o, &m, slot), want, "slot {slot}");
        }
        assert_eq!(r.stats.scp_out_of_range, 2);
        // Out of sync again: any slot from the oldest kept goes.
        r.lost_sync();
        let m = nominate(&mut o, 9, &net, 1_000_000);
        assert_eq!(on_scp(&mut r, &mut o, &m, 1_000_000), ScpVerdict::Accepted);
    }

    #[test]
    fn malformed_and_oversize_transactions_are_dropped_and_never_demanded_again() {
        let (mut o, mut r, _) = setup();
        let good = crate::synthetic::transaction(&NodeId([4; 32]), 1, 0)[4..].to_vec();
        let key = |e: &[u8]| {
            let mut m = (overlay_core::wire::MessageType::Transaction as i32)
                .to_be_bytes()
                .to_vec();
            m.extend_from_slice(e);
            flood_key(&m)
        };
        r.on_transaction(&mut o, Instant::ZERO, || key(&good), &good);
        assert_eq!(r.stats.tx_advertised, 1);

        let mut bad = good.clone();
        bad[0..4].copy_from_slice(&77i32.to_be_bytes()); // no such envelope type
        r.on_transaction(&mut o, Instant::ZERO, || key(&bad), &bad);
        assert_eq!(r.stats.tx_malformed, 1);
        assert!(o.is_rejected_transaction(&sha256(&bad)));

        let big = vec![0u8; 1001];
        r.on_transaction(&mut o, Instant::ZERO, || key(&big), &big);
        assert_eq!(r.stats.tx_oversize, 1);
        assert!(o.is_rejected_transaction(&sha256(&big)));
        assert!(!o.is_rejected_transaction(&sha256(&good)));
        assert_eq!(r.stats.tx_advertised, 1);
    }
}
