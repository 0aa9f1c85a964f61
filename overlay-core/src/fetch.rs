//! Fetching tx sets and quorum sets for SCP envelopes, and per-peer query limits
//! (PROTOCOL.md §5.1, §5.2; stellar-core `src/overlay/ItemFetcher.cpp`, `Tracker.cpp`,
//! `src/herder/PendingEnvelopes.cpp`, `src/overlay/Peer.cpp`).
//!
//! An SCP envelope can only be processed (and relayed, pitfall 22) once its quorum set and
//! tx sets are known. The node-level overlay keeps one [`ItemFetcher`] per [`ItemKind`]. For
//! each missing item it owns a [`Tracker`] listing the envelopes that wait for it, and asks
//! one peer at a time with GET_TX_SET / GET_SCP_QUORUMSET.
//!
//! ## Driving an [`ItemFetcher`] (sans-IO)
//! 1. An envelope needs an item: [`ItemFetcher::fetch`] (item hash, the envelope's id, its
//!    slot). A new tracker asks a peer at once.
//! 2. After every call: drain [`ItemFetcher::poll_ask`] (send the GET_* to that connection)
//!    and [`ItemFetcher::poll_event`].
//! 3. Arm a timer for [`ItemFetcher::poll_timeout`]; call [`ItemFetcher::handle_timeout`]
//!    when it passes.
//! 4. DONT_HAVE: [`ItemKind::from_dont_have`] picks the fetcher (TX_SET and
//!    GENERALIZED_TX_SET both mean "tx set", pitfall 20), then [`ItemFetcher::doesnt_have`].
//! 5. An item arrives: hash it ([`quorum_set_hash`], [`generalized_tx_set_hash`],
//!    [`legacy_tx_set_hash`]) and call [`ItemFetcher::recv`]; `None` means nobody asked for
//!    it (core ignores such items). Otherwise re-feed the returned envelopes.
//! 6. A connection closes: [`ItemFetcher::peer_dropped`].
//! 7. Slots move on: [`ItemFetcher::stop_fetching_outside_range`]; an envelope is discarded:
//!    [`ItemFetcher::stop_fetch`].
//!
//! Peer choice needs the overlay's view at that moment, passed as a [`FetchPeers`]: the
//! authenticated peers with their measured latency, and which of them "know" an envelope
//! (core: the floodgate record's peers-told set, i.e. peers that sent it to us or that we
//! sent it to).
//!
//! ## Deviations from stellar-core, and why
//! - A tracker is removed as soon as no envelope waits for it (core cancels its timer but
//!   keeps the empty tracker until the next range pruning) and when its item arrives (core
//!   keeps it, cancelled). In core a later `fetch` of the same hash then only re-listens and
//!   never asks anyone again; here it starts a fresh tracker. Unsolicited items are ignored
//!   in both.
//! - A peer that drops while being asked counts as a DONT_HAVE (next peer at once); core
//!   waits for the 1.5 s timer. The dropped connection is also forgotten by every tracker.
//! - Envelopes are identified by an id the overlay chooses (core compares whole envelopes).
//! - Bounds core does not have: [`FetchConfig`]. `fetch` beyond them returns a
//!   [`FetchError`] and the envelope is not tracked; a tracker that has asked
//!   `max_peers_asked` peers in a round starts a new round as if all had been asked; asks
//!   and events not drained beyond `max_queued` drop the oldest.
//! - Range pruning runs synchronously (core posts it to the main loop).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use sha2::{Digest, Sha256};

use crate::ConnId;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{Hash, MessageType};

/// `Tracker::MS_TO_WAIT_FOR_FETCH_REPLY`: how long one ask may take before the next peer.
pub const MS_TO_WAIT_FOR_FETCH_REPLY: Duration = Duration::from_millis(1500);
/// `Tracker::MAX_REBUILD_FETCH_LIST`: the back-off after a full round stops growing here.
pub const MAX_REBUILD_FETCH_LIST: u32 = 10;
/// Peers are ranked by `ping / (MS_TO_WAIT_FOR_FETCH_REPLY / 3)`.
pub const LATENCY_BUCKET: Duration = Duration::from_millis(500);
/// Core's ping before the first measurement (`Peer` constructor: 24 h).
pub const UNMEASURED_LATENCY: Duration = Duration::from_secs(24 * 60 * 60);

/// What is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKind {
    /// A tx set, asked with GET_TX_SET; answered by TX_SET or GENERALIZED_TX_SET.
    TxSet,
    /// An `SCPQuorumSet`, asked with GET_SCP_QUORUMSET; answered by SCP_QUORUMSET.
    QuorumSet,
}

impl ItemKind {
    /// The message that asks a peer for an item of this kind.
    pub fn request_type(self) -> MessageType {
        match self {
            ItemKind::TxSet => MessageType::GetTxSet,
            ItemKind::QuorumSet => MessageType::GetScpQuorumSet,
        }
    }

    /// The fetcher a DONT_HAVE of this type is for. A responder says TX_SET or
    /// GENERALIZED_TX_SET depending on its ledger protocol, so both mean a tx set
    /// (`PendingEnvelopes::peerDoesntHave`); other types concern no fetcher.
    pub fn from_dont_have(t: MessageType) -> Option<ItemKind> {
        match t {
            MessageType::TxSet | MessageType::GeneralizedTxSet => Some(ItemKind::TxSet),
            MessageType::ScpQuorumSet => Some(ItemKind::QuorumSet),
            _ => None,
        }
    }

    /// Core's timer for completed fetches of this kind.
    pub fn metric_name(self) -> &'static str {
        match self {
            ItemKind::TxSet => "overlay.fetch.txset",
            ItemKind::QuorumSet => "overlay.fetch.qset",
        }
    }
}

/// Id of a quorum set: SHA-256 of its `SCPQuorumSet` XDR.
pub fn quorum_set_hash(xdr: &[u8]) -> Hash {
    Sha256::digest(xdr).into()
}

/// Id of a GENERALIZED_TX_SET: SHA-256 of its `GeneralizedTransactionSet` XDR.
pub fn generalized_tx_set_hash(xdr: &[u8]) -> Hash {
    Sha256::digest(xdr).into()
}

/// Id of a legacy TX_SET given its `TransactionSet { Hash previousLedgerHash;
/// TransactionEnvelope txs<>; }` XDR: SHA-256(previousLedgerHash ‖ XDR of each envelope),
/// i.e. the whole encoding minus the 4-byte count at offset 32
/// (`computeNonGeneralizedTxSetContentsHash`). `None` if shorter than hash + count. The
/// bytes are not otherwise checked: decode the message first.
pub fn legacy_tx_set_hash(xdr: &[u8]) -> Option<Hash> {
    let previous_ledger_hash = xdr.get(..32)?;
    let envelopes = xdr.get(36..)?;
    let mut h = Sha256::new();
    h.update(previous_ledger_hash);
    h.update(envelopes);
    Some(h.finalize().into())
}

/// One authenticated peer as the fetcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerView {
    pub conn: ConnId,
    /// Last latency ping round trip; `None` until measured (ranked like core's 24 h).
    pub latency: Option<Duration>,
}

impl PeerView {
    /// Latency bucket: lower is closer.
    fn bucket(&self) -> u128 {
        self.latency.unwrap_or(UNMEASURED_LATENCY).as_millis() / LATENCY_BUCKET.as_millis()
    }
}

/// The overlay's peers at the moment a tracker picks one.
pub trait FetchPeers {
    /// Authenticated peers (inbound and outbound), in an order that depends only on the
    /// overlay's inputs (for determinism). Peers not listed are never asked.
    fn authenticated(&self) -> &[PeerView];
    /// Whether `conn` is known to have the envelope `envelope` (the id given to
    /// [`ItemFetcher::fetch`]): it sent it to us, or we sent it to it.
    fn knows(&self, conn: ConnId, envelope: &Hash) -> bool;
}

/// A bare list of peers: nobody is known to have any envelope.
impl FetchPeers for [PeerView] {
    fn authenticated(&self) -> &[PeerView] {
        self
    }
    fn knows(&self, _conn: ConnId, _envelope: &Hash) -> bool {
        false
    }
}

/// A list of peers plus a `knows(conn, envelope)` function.
#[derive(Clone, Copy)]
pub struct Peers<'a, F> {
    pub authenticated: &'a [PeerView],
    pub knows: F,
}

impl<F: Fn(ConnId, &Hash) -> bool> FetchPeers for Peers<'_, F> {
    fn authenticated(&self) -> &[PeerView] {
        self.authenticated
    }
    fn knows(&self, conn: ConnId, envelope: &Hash) -> bool {
        (self.knows)(conn, envelope)
    }
}

impl<F> fmt::Debug for Peers<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peers")
            .field("authenticated", &self.authenticated)
            .finish_non_exhaustive()
    }
}

/// Bounds (stellar-core has none; it relies on slot-range pruning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Items fetched at once. Honest traffic needs a few per slot and validator over the
    /// 12 remembered slots.
    pub max_trackers: usize,
    /// Envelopes waiting for one item (one per statement per validator per slot).
    pub max_envelopes_per_tracker: usize,
    /// Peers one tracker remembers having asked in a round; reaching it starts a new round.
    /// Far above any connection limit, so only reached if the overlay never reports drops.
    pub max_peers_asked: usize,
    /// Asks and events waiting to be drained; beyond it the oldest are dropped.
    pub max_queued: usize,
}

impl Default for FetchConfig {
    /// Worst case about 1000 × 1000 × 40 bytes of envelope ids.
    fn default() -> Self {
        FetchConfig {
            max_trackers: 1000,
            max_envelopes_per_tracker: 1000,
            max_peers_asked: 1000,
            max_queued: 1000,
        }
    }
}

/// Why [`ItemFetcher::fetch`] did not track an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// [`FetchConfig::max_trackers`] items are already being fetched.
    TooManyTrackers,
    /// [`FetchConfig::max_envelopes_per_tracker`] envelopes already wait for this item.
    TooManyEnvelopes,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FetchError::TooManyTrackers => "too many items being fetched",
            FetchError::TooManyEnvelopes => "too many envelopes waiting for one item",
        })
    }
}

/// Send `kind.request_type()` for `item` to `conn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub conn: ConnId,
    pub kind: ItemKind,
    pub item: Hash,
}

/// Something the overlay may want to know that is not the direct result of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchEvent {
    /// No envelope waits for `item` any more (stopped or pruned); it is no longer fetched.
    Cancelled { kind: ItemKind, item: Hash },
}

/// A fetched item's tracker, returned by [`ItemFetcher::recv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub item: Hash,
    /// The waiting envelopes, most recently added first (the order core re-feeds them).
    pub envelopes: Vec<Hash>,
    /// Highest slot of any envelope that waited (core caches tx sets under it).
    pub last_seen_slot: u64,
    /// Since the tracker was created: the `overlay.fetch.txset/qset` sample.
    pub elapsed: Duration,
}

/// Counters (meters in core).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchMetrics {
    /// GET_TX_SET / GET_SCP_QUORUMSET asks issued.
    pub asks: u64,
    /// `overlay.item-fetcher.next-peer`: moved on from an asked peer (timeout, DONT_HAVE or
    /// drop).
    pub next_peer: u64,
    /// DONT_HAVE from the peer being asked.
    pub dont_haves: u64,
    /// DONT_HAVE from anyone else, or for an item not fetched.
    pub dont_haves_ignored: u64,
    /// Asks that got no answer in time.
    pub timeouts: u64,
    /// Asked peers that dropped before answering.
    pub peer_drops: u64,
    /// Rounds in which no peer was left to ask.
    pub rebuilds: u64,
    /// Items received while fetched.
    pub completions: u64,
    /// Sum and maximum of completed fetches' [`Completed::elapsed`].
    pub fetch_time_total: Duration,
    pub fetch_time_max: Duration,
    /// Items received that nobody fetched (ignored).
    pub unsolicited: u64,
    /// Trackers removed because no envelope waited any more.
    pub cancellations: u64,
    /// `fetch` calls refused at a bound.
    pub rejected: u64,
    /// Asks and events dropped because nobody drained them.
    pub asks_dropped: u64,
    pub events_dropped: u64,
}

/// The state of the search for one item (stellar-core `Tracker`).
#[derive(Debug, Clone)]
pub struct Tracker {
    /// (envelope id, slot) in the order they started waiting.
    waiting: Vec<(Hash, u64)>,
    /// The peer whose answer we are waiting for.
    last_asked: Option<ConnId>,
    /// Peers asked this round, and whether we asked because they knew an envelope.
    asked: BTreeMap<ConnId, bool>,
    /// Rounds that ran out of peers (never reset while the tracker lives, as in core).
    rebuilds: u32,
    /// When to try the next peer.
    deadline: Instant,
    started: Instant,
    last_seen_slot: u64,
    /// Fetcher-wide number of the current ask (0: none), so queued asks that were
    /// overtaken are skipped.
    ask_seq: u64,
}

impl Tracker {
    /// Ids of the envelopes waiting, oldest first.
    pub fn waiting(&self) -> impl ExactSizeIterator<Item = &Hash> {
        self.waiting.iter().map(|(e, _)| e)
    }
    /// The peer currently asked, `None` while waiting to start a new round.
    pub fn last_asked(&self) -> Option<ConnId> {
        self.last_asked
    }
    /// Whether `conn` was asked this round, and if so whether it then knew an envelope.
    pub fn was_asked(&self, conn: ConnId) -> Option<bool> {
        self.asked.get(&conn).copied()
    }
    pub fn rebuilds(&self) -> u32 {
        self.rebuilds
    }
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
    pub fn started(&self) -> Instant {
        self.started
    }
    /// Highest slot of any envelope that waited for this item.
    pub fn last_seen_slot(&self) -> u64 {
        self.last_seen_slot
    }
}

#[derive(Debug, Clone, Copy)]
struct QueuedAsk {
    conn: ConnId,
    item: Hash,
    seq: u64,
}

/// Fetches items of one kind from peers (stellar-core `ItemFetcher`).
#[derive(Debug, Clone)]
pub struct ItemFetcher {
    kind: ItemKind,
    config: FetchConfig,
    trackers: BTreeMap<Hash, Tracker>,
    /// Every tracker's deadline, so the earliest is found without a scan.
    deadlines: BTreeSet<(Instant, Hash)>,
    asks: VecDeque<QueuedAsk>,
    events: VecDeque<FetchEvent>,
    /// Last ask number handed out; never reused, even across trackers of the same item.
    ask_seq: u64,
    metrics: FetchMetrics,
}

/// Appends, dropping the oldest entry at `cap`; true if something was dropped.
fn push_bounded<T>(q: &mut VecDeque<T>, cap: usize, item: T) -> bool {
    if cap == 0 {
        return true;
    }
    let dropped = q.len() >= cap;
    while q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
    dropped
}

impl ItemFetcher {
    pub fn new(kind: ItemKind, config: FetchConfig) -> Self {
        ItemFetcher {
            kind,
            config,
            trackers: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            asks: VecDeque::new(),
            events: VecDeque::new(),
            ask_seq: 0,
            metrics: FetchMetrics::default(),
        }
    }

    pub fn kind(&self) -> ItemKind {
        self.kind
    }

    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    pub fn metrics(&self) -> &FetchMetrics {
        &self.metrics
    }

    /// Items being fetched.
    pub fn len(&self) -> usize {
        self.trackers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trackers.is_empty()
    }

    pub fn is_fetching(&self, item: &Hash) -> bool {
        self.trackers.contains_key(item)
    }

    pub fn tracker(&self, item: &Hash) -> Option<&Tracker> {
        self.trackers.get(item)
    }

    pub fn trackers(&self) -> impl Iterator<Item = (&Hash, &Tracker)> {
        self.trackers.iter()
    }

    /// Envelopes waiting for `item` (none if it is not fetched).
    pub fn fetching_for(&self, item: &Hash) -> impl Iterator<Item = &Hash> {
        self.trackers
            .get(item)
            .into_iter()
            .flat_map(|t| t.waiting())
    }

    /// Highest slot of the envelopes that waited for `item`; `None` if not fetched (core's
    /// `getLastSeenSlotIndex` returning 0).
    pub fn last_seen_slot(&self, item: &Hash) -> Option<u64> {
        self.trackers.get(item).map(|t| t.last_seen_slot)
    }

    /// Envelope `envelope` (of slot `slot`) needs `item`. Starts fetching it if nobody did
    /// yet, asking a peer at once; otherwise only adds the envelope to the waiting list
    /// (idempotent).
    pub fn fetch<P: FetchPeers + ?Sized>(
        &mut self,
        item: Hash,
        envelope: Hash,
        slot: u64,
        now: Instant,
        peers: &P,
        rng: &mut Rng,
    ) -> Result<(), FetchError> {
        let max_envelopes = self.config.max_envelopes_per_tracker;
        if let Some(t) = self.trackers.get_mut(&item) {
            if t.waiting.iter().any(|(e, _)| *e == envelope) {
                t.last_seen_slot = t.last_seen_slot.max(slot);
                return Ok(());
            }
            if t.waiting.len() >= max_envelopes {
                self.metrics.rejected += 1;
                return Err(FetchError::TooManyEnvelopes);
            }
            t.last_seen_slot = t.last_seen_slot.max(slot);
            t.waiting.push((envelope, slot));
            return Ok(());
        }
        if self.trackers.len() >= self.config.max_trackers {
            self.metrics.rejected += 1;
            return Err(FetchError::TooManyTrackers);
        }
        if max_envelopes == 0 {
            self.metrics.rejected += 1;
            return Err(FetchError::TooManyEnvelopes);
        }
        self.trackers.insert(
            item,
            Tracker {
                waiting: vec![(envelope, slot)],
                last_asked: None,
                asked: BTreeMap::new(),
                rebuilds: 0,
                deadline: now,
                started: now,
                last_seen_slot: slot,
                ask_seq: 0,
            },
        );
        self.deadlines.insert((now, item));
        self.try_next_peer(&item, now, peers, rng, None);
        Ok(())
    }

    /// `envelope` no longer needs `item`. When no envelope is left the item is no longer
    /// fetched and [`FetchEvent::Cancelled`] is queued. Returns whether it was waiting.
    pub fn stop_fetch(&mut self, item: &Hash, envelope: &Hash) -> bool {
        let Some(t) = self.trackers.get_mut(item) else {
            return false;
        };
        let before = t.waiting.len();
        t.waiting.retain(|(e, _)| e != envelope);
        let removed = t.waiting.len() != before;
        if t.waiting.is_empty() {
            self.cancel(item);
        }
        removed
    }

    /// Drops waiting envelopes whose slot is below `min_slot` or above `max_slot` (either
    /// bound optional), except those of `slot_to_keep` (the latest checkpoint). Trackers
    /// left without envelopes are cancelled.
    pub fn stop_fetching_outside_range(
        &mut self,
        min_slot: Option<u64>,
        max_slot: Option<u64>,
        slot_to_keep: u64,
    ) {
        let kind = self.kind;
        let cap = self.config.max_queued;
        self.trackers.retain(|item, t| {
            t.waiting.retain(|&(_, slot)| {
                let outside =
                    min_slot.is_some_and(|m| slot < m) || max_slot.is_some_and(|m| slot > m);
                !outside || slot == slot_to_keep
            });
            if !t.waiting.is_empty() {
                return true;
            }
            self.deadlines.remove(&(t.deadline, *item));
            self.metrics.cancellations += 1;
            let event = FetchEvent::Cancelled { kind, item: *item };
            if push_bounded(&mut self.events, cap, event) {
                self.metrics.events_dropped += 1;
            }
            false
        });
    }

    /// `conn` answered DONT_HAVE for `item`. Only the peer being asked matters: the next
    /// peer is asked at once. Returns whether it was that peer.
    pub fn doesnt_have<P: FetchPeers + ?Sized>(
        &mut self,
        item: &Hash,
        conn: ConnId,
        now: Instant,
        peers: &P,
        rng: &mut Rng,
    ) -> bool {
        let asked = self
            .trackers
            .get(item)
            .is_some_and(|t| t.last_asked == Some(conn));
        if !asked {
            self.metrics.dont_haves_ignored += 1;
            return false;
        }
        self.metrics.dont_haves += 1;
        self.try_next_peer(item, now, peers, rng, None);
        true
    }

    /// `conn` is gone. Trackers forget it, and those asking it move to the next peer at
    /// once. `peers` should no longer list it (it is skipped anyway).
    pub fn peer_dropped<P: FetchPeers + ?Sized>(
        &mut self,
        conn: ConnId,
        now: Instant,
        peers: &P,
        rng: &mut Rng,
    ) {
        let mut asking = Vec::new();
        for (item, t) in self.trackers.iter_mut() {
            t.asked.remove(&conn);
            if t.last_asked == Some(conn) {
                asking.push(*item);
            }
        }
        for item in asking {
            self.metrics.peer_drops += 1;
            self.try_next_peer(&item, now, peers, rng, Some(conn));
        }
    }

    /// `item` arrived. If it was fetched, its tracker is removed and the waiting envelopes
    /// are returned; `None` for an item nobody asked for.
    pub fn recv(&mut self, item: &Hash, now: Instant) -> Option<Completed> {
        let Some(t) = self.trackers.remove(item) else {
            self.metrics.unsolicited += 1;
            return None;
        };
        self.deadlines.remove(&(t.deadline, *item));
        let elapsed = now - t.started;
        self.metrics.completions += 1;
        self.metrics.fetch_time_total = self.metrics.fetch_time_total.saturating_add(elapsed);
        self.metrics.fetch_time_max = self.metrics.fetch_time_max.max(elapsed);
        Some(Completed {
            item: *item,
            envelopes: t.waiting.iter().rev().map(|(e, _)| *e).collect(),
            last_seen_slot: t.last_seen_slot,
            elapsed,
        })
    }

    /// The earliest time [`Self::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Trackers whose ask timed out ask the next peer; those waiting after a full round
    /// start the next one.
    pub fn handle_timeout<P: FetchPeers + ?Sized>(
        &mut self,
        now: Instant,
        peers: &P,
        rng: &mut Rng,
    ) {
        // Collected first: a new deadline may saturate to `now` at the end of time.
        let due: Vec<Hash> = self
            .deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, item)| *item)
            .collect();
        for item in due {
            if self
                .trackers
                .get(&item)
                .is_some_and(|t| t.last_asked.is_some())
            {
                self.metrics.timeouts += 1;
            }
            self.try_next_peer(&item, now, peers, rng, None);
        }
    }

    /// The next GET_TX_SET / GET_SCP_QUORUMSET to send. Asks overtaken before being drained
    /// (item received or cancelled, or a later ask) are skipped.
    pub fn poll_ask(&mut self) -> Option<Ask> {
        while let Some(q) = self.asks.pop_front() {
            if self
                .trackers
                .get(&q.item)
                .is_some_and(|t| t.ask_seq == q.seq)
            {
                return Some(Ask {
                    conn: q.conn,
                    kind: self.kind,
                    item: q.item,
                });
            }
        }
        None
    }

    pub fn poll_event(&mut self) -> Option<FetchEvent> {
        self.events.pop_front()
    }

    fn cancel(&mut self, item: &Hash) {
        if let Some(t) = self.trackers.remove(item) {
            self.deadlines.remove(&(t.deadline, *item));
            self.metrics.cancellations += 1;
            let event = FetchEvent::Cancelled {
                kind: self.kind,
                item: *item,
            };
            if push_bounded(&mut self.events, self.config.max_queued, event) {
                self.metrics.events_dropped += 1;
            }
        }
    }

    /// `Tracker::tryNextPeer`: ask a peer not asked this round, preferring those that know
    /// a waiting envelope, then the lowest latency bucket, at random among equals; with
    /// nobody left, start a new round after a growing pause.
    fn try_next_peer<P: FetchPeers + ?Sized>(
        &mut self,
        item: &Hash,
        now: Instant,
        peers: &P,
        rng: &mut Rng,
        exclude: Option<ConnId>,
    ) {
        let Some(t) = self.trackers.get_mut(item) else {
            return;
        };
        self.deadlines.remove(&(t.deadline, *item));
        // Whatever was asked before is overtaken, sent or not.
        t.ask_seq = 0;
        if t.last_asked.take().is_some() {
            self.metrics.next_peer += 1;
        }

        // Askable: not asked this round, or asked when it did not know an envelope it now
        // knows.
        let can_ask = |t: &Tracker, conn: ConnId, knows: bool| {
            Some(conn) != exclude
                && match t.asked.get(&conn) {
                    None => true,
                    Some(&knew) => knows && !knew,
                }
        };
        let mut candidates: Vec<ConnId> = Vec::new();
        let mut best = u128::MAX;
        let mut consider = |v: &PeerView| {
            let b = v.bucket();
            if b < best {
                candidates.clear();
                best = b;
            }
            if b == best {
                candidates.push(v.conn);
            }
        };
        let views = peers.authenticated();
        let mut with_envelope = false;
        for v in views {
            if can_ask(t, v.conn, true) && t.waiting.iter().any(|(e, _)| peers.knows(v.conn, e)) {
                with_envelope = true;
                consider(v);
            }
        }
        if !with_envelope {
            for v in views {
                if can_ask(t, v.conn, false) {
                    consider(v);
                }
            }
        }
        if t.asked.len() >= self.config.max_peers_asked {
            candidates.clear();
        }

        let chosen = if candidates.is_empty() {
            None
        } else {
            candidates.get(rng.index(candidates.len())).copied()
        };
        let wait = match chosen {
            Some(conn) => {
                t.asked.insert(conn, with_envelope);
                t.last_asked = Some(conn);
                self.ask_seq = self.ask_seq.wrapping_add(1).max(1);
                t.ask_seq = self.ask_seq;
                self.metrics.asks += 1;
                let ask = QueuedAsk {
                    conn,
                    item: *item,
                    seq: t.ask_seq,
                };
                if push_bounded(&mut self.asks, self.config.max_queued, ask) {
                    self.metrics.asks_dropped += 1;
                }
                MS_TO_WAIT_FOR_FETCH_REPLY
            }
            None => {
                // Everyone asked: forget them (some may have the item by now) and retry.
                t.rebuilds = t.rebuilds.saturating_add(1);
                t.asked.clear();
                self.metrics.rebuilds += 1;
                MS_TO_WAIT_FOR_FETCH_REPLY * t.rebuilds.min(MAX_REBUILD_FETCH_LIST)
            }
        };
        t.deadline = now + wait;
        self.deadlines.insert((t.deadline, *item));
    }
}

/// `Config::MAX_SLOTS_TO_REMEMBER` default.
pub const MAX_SLOTS_TO_REMEMBER: u32 = 12;
/// `Herder::TARGET_LEDGER_CLOSE_TIME_BEFORE_PROTOCOL_VERSION_23_MS`.
pub const TARGET_LEDGER_CLOSE_TIME: Duration = Duration::from_secs(5);
/// `QUERY_RESPONSE_MULTIPLIER`: GET_TX_SET / GET_SCP_QUORUMSET per window second.
pub const QUERY_RESPONSE_MULTIPLIER: u32 = 5;
/// `GET_SCP_STATE_MAX_RATE` (v25.2.1+): GET_SCP_STATE per window.
pub const GET_SCP_STATE_MAX_RATE: u32 = 10;

/// Queries a peer may make of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueryKind {
    GetTxSet,
    GetScpQuorumSet,
    GetScpState,
}

impl QueryKind {
    pub fn from_message_type(t: MessageType) -> Option<QueryKind> {
        match t {
            MessageType::GetTxSet => Some(QueryKind::GetTxSet),
            MessageType::GetScpQuorumSet => Some(QueryKind::GetScpQuorumSet),
            MessageType::GetScpState => Some(QueryKind::GetScpState),
            _ => None,
        }
    }
}

/// Query rate settings (`Peer::process`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    /// The ledger manager's expected close time (network configuration from protocol 23).
    pub expected_ledger_close_time: Duration,
    pub max_slots_to_remember: u32,
    /// GET_SCP_STATE per window; `None` = unlimited, as before v25.2.1.
    pub max_scp_state_queries: Option<u32>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            expected_ledger_close_time: TARGET_LEDGER_CLOSE_TIME,
            max_slots_to_remember: MAX_SLOTS_TO_REMEMBER,
            max_scp_state_queries: Some(GET_SCP_STATE_MAX_RATE),
        }
    }
}

impl QueryConfig {
    /// Close time × slots remembered, truncated to whole seconds as core does.
    pub fn window(&self) -> Duration {
        let w = self
            .expected_ledger_close_time
            .checked_mul(self.max_slots_to_remember)
            .unwrap_or(Duration::MAX);
        Duration::from_secs(w.as_secs())
    }

    /// Queries of `kind` answered per window; `None` = unlimited.
    pub fn max_per_window(&self, kind: QueryKind) -> Option<u32> {
        match kind {
            QueryKind::GetScpState => self.max_scp_state_queries,
            QueryKind::GetTxSet | QueryKind::GetScpQuorumSet => Some(
                u32::try_from(self.window().as_secs())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(QUERY_RESPONSE_MULTIPLIER),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct QueryWindow {
    /// `None` before the first query: the first one always opens a window.
    start: Option<Instant>,
    served: u32,
}

/// One peer's query budget (stellar-core `Peer::QueryInfo` ×3). Queries over budget get no
/// reply at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    config: QueryConfig,
    tx_set: QueryWindow,
    quorum_set: QueryWindow,
    scp_state: QueryWindow,
    ignored: u64,
}

impl QueryLimits {
    pub fn new(config: QueryConfig) -> Self {
        QueryLimits {
            config,
            tx_set: QueryWindow::default(),
            quorum_set: QueryWindow::default(),
            scp_state: QueryWindow::default(),
            ignored: 0,
        }
    }

    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// E.g. when the network's ledger close time changes; takes effect at the next query.
    pub fn config_mut(&mut self) -> &mut QueryConfig {
        &mut self.config
    }

    fn window_mut(&mut self, kind: QueryKind) -> &mut QueryWindow {
        match kind {
            QueryKind::GetTxSet => &mut self.tx_set,
            QueryKind::GetScpQuorumSet => &mut self.quorum_set,
            QueryKind::GetScpState => &mut self.scp_state,
        }
    }

    /// Whether to answer a query of `kind` arriving at `now`; an answered query is counted.
    /// A window opens with the first query after the previous one expired.
    pub fn allow(&mut self, kind: QueryKind, now: Instant) -> bool {
        let window = self.config.window();
        let limit = self.config.max_per_window(kind);
        let w = self.window_mut(kind);
        let Some(limit) = limit else {
            w.served = w.served.saturating_add(1);
            return true;
        };
        if w.start.is_none_or(|start| now - start >= window) {
            w.start = Some(now);
            w.served = 0;
        }
        if w.served < limit {
            w.served += 1;
            true
        } else {
            self.ignored += 1;
            false
        }
    }

    /// Queries of `kind` answered in the current window.
    pub fn served(&self, kind: QueryKind) -> u32 {
        match kind {
            QueryKind::GetTxSet => self.tx_set.served,
            QueryKind::GetScpQuorumSet => self.quorum_set.served,
            QueryKind::GetScpState => self.scp_state.served,
        }
    }

    /// Queries ignored over the connection's life.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u64) -> Hash {
        Sha256::digest(n.to_be_bytes()).into()
    }

    fn hex32(s: &str) -> Hash {
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn peer(n: u64) -> PeerView {
        PeerView {
            conn: ConnId(n),
            latency: None,
        }
    }

    fn peers(ns: &[u64]) -> Vec<PeerView> {
        ns.iter().map(|&n| peer(n)).collect()
    }

    fn fetcher() -> ItemFetcher {
        ItemFetcher::new(ItemKind::QuorumSet, FetchConfig::default())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain_asks(f: &mut ItemFetcher) -> Vec<Ask> {
        core::iter::from_fn(|| f.poll_ask()).collect()
    }

    fn drain_events(f: &mut ItemFetcher) -> Vec<FetchEvent> {
        core::iter::from_fn(|| f.poll_event()).collect()
    }

    /// Internal consistency that must hold after every call.
    fn check_invariants(f: &ItemFetcher) {
        assert_eq!(f.deadlines.len(), f.trackers.len());
        for (item, t) in &f.trackers {
            assert!(f.deadlines.contains(&(t.deadline, *item)));
            assert!(!t.waiting.is_empty());
            assert!(t.waiting.len() <= f.config.max_envelopes_per_tracker);
            assert!(t.asked.len() <= f.config.max_peers_asked);
        }
        assert!(f.trackers.len() <= f.config.max_trackers);
        assert!(f.asks.len() <= f.config.max_queued);
        assert!(f.events.len() <= f.config.max_queued);
    }

    // ---- hashing ----

    #[test]
    fn hashes_of_hand_computed_inputs() {
        let empty = hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let abc = hex32("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(quorum_set_hash(b""), empty);
        assert_eq!(quorum_set_hash(b"abc"), abc);
        assert_eq!(generalized_tx_set_hash(b""), empty);
        assert_eq!(generalized_tx_set_hash(b"abc"), abc);

        // Zero previous-ledger hash, no transactions: SHA-256 of 32 zero bytes.
        let mut set = vec![0u8; 36];
        assert_eq!(
            legacy_tx_set_hash(&set),
            Some(hex32(
                "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
            ))
        );
        // 0xab × 32, count 2, then two 8-byte stand-ins for envelopes: the count is skipped.
        set = vec![0xab; 32];
        set.extend_from_slice(&2u32.to_be_bytes());
        set.extend_from_slice(b"stellar!overlay!");
        assert_eq!(
            legacy_tx_set_hash(&set),
            Some(hex32(
                "95d4a5d36d40ef449aa4883462c65d774f48f754028a974502c08bc8085f0aa9"
            ))
        );
        // ... and is not the hash of the message bytes.
        assert_ne!(
            legacy_tx_set_hash(&set),
            Some(hex32(
                "0003f0202e0e4005b88b56beaef6eb4a86c6ec650aa27312eef5ae14341b4f55"
            ))
        );
    }

    #[test]
    fn legacy_tx_set_hash_needs_hash_and_count() {
        for len in [0, 1, 31, 32, 35] {
            assert_eq!(legacy_tx_set_hash(&vec![0u8; len]), None, "len {len}");
        }
        assert!(legacy_tx_set_hash(&[0u8; 36]).is_some());
    }

    #[test]
    fn legacy_tx_set_hash_matches_stellar_xdr_encoding() {
        use stellar_xdr::{
            Limits, TransactionEnvelope, TransactionSet, TransactionV0, TransactionV0Envelope,
            WriteXdr,
        };
        let txs: Vec<TransactionEnvelope> = (0..3u32)
            .map(|i| {
                TransactionEnvelope::TxV0(TransactionV0Envelope {
                    tx: TransactionV0 {
                        source_account_ed25519: stellar_xdr::Uint256([i as u8; 32]),
                        fee: 100 + i,
                        ..Default::default()
                    },
                    signatures: Default::default(),
                })
            })
            .collect();
        let set = TransactionSet {
            previous_ledger_hash: stellar_xdr::Hash([0x5a; 32]),
            txs: txs.clone().try_into().unwrap(),
        };
        let xdr = set.to_xdr(Limits::none()).unwrap();
        let mut expected = Sha256::new();
        expected.update([0x5a; 32]);
        for tx in &txs {
            expected.update(tx.to_xdr(Limits::none()).unwrap());
        }
        let expected: Hash = expected.finalize().into();
        assert_eq!(legacy_tx_set_hash(&xdr), Some(expected));
        assert_ne!(
            legacy_tx_set_hash(&xdr),
            Some(generalized_tx_set_hash(&xdr))
        );

        let qset = stellar_xdr::ScpQuorumSet {
            threshold: 2,
            validators: vec![
                stellar_xdr::NodeId(stellar_xdr::PublicKey::PublicKeyTypeEd25519(
                    stellar_xdr::Uint256([1; 32]),
                )),
                stellar_xdr::NodeId(stellar_xdr::PublicKey::PublicKeyTypeEd25519(
                    stellar_xdr::Uint256([2; 32]),
                )),
            ]
            .try_into()
            .unwrap(),
            inner_sets: Default::default(),
        };
        let qxdr = qset.to_xdr(Limits::none()).unwrap();
        let q: Hash = Sha256::digest(&qxdr).into();
        assert_eq!(quorum_set_hash(&qxdr), q);
    }

    #[test]
    fn item_kinds_and_message_types() {
        assert_eq!(ItemKind::TxSet.request_type(), MessageType::GetTxSet);
        assert_eq!(
            ItemKind::QuorumSet.request_type(),
            MessageType::GetScpQuorumSet
        );
        assert_eq!(
            ItemKind::from_dont_have(MessageType::TxSet),
            Some(ItemKind::TxSet)
        );
        assert_eq!(
            ItemKind::from_dont_have(MessageType::GeneralizedTxSet),
            Some(ItemKind::TxSet)
        );
        assert_eq!(
            ItemKind::from_dont_have(MessageType::ScpQuorumSet),
            Some(ItemKind::QuorumSet)
        );
        for t in MessageType::ALL {
            if !matches!(
                t,
                MessageType::TxSet | MessageType::GeneralizedTxSet | MessageType::ScpQuorumSet
            ) {
                assert_eq!(ItemKind::from_dont_have(t), None);
            }
        }
        assert_eq!(ItemKind::TxSet.metric_name(), "overlay.fetch.txset");
        assert_eq!(ItemKind::QuorumSet.metric_name(), "overlay.fetch.qset");
    }

    // ---- ItemFetcher: bookkeeping (ItemFetcherTests "ItemFetcher fetches") ----

    /// ten ← env 10 (slot 1); twelve ← env 12a (slot 2), env 12b (slot 3). No peers.
    fn fetches_setup() -> (ItemFetcher, Rng) {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(1);
        let none: &[PeerView] = &[];
        f.fetch(h(10), h(1010), 1, t(0), none, &mut rng).unwrap();
        f.fetch(h(12), h(1012), 2, t(0), none, &mut rng).unwrap();
        f.fetch(h(12), h(2012), 3, t(0), none, &mut rng).unwrap();
        (f, rng)
    }

    fn waiting(f: &ItemFetcher, item: u64) -> Vec<Hash> {
        let mut v: Vec<Hash> = f.fetching_for(&h(item)).copied().collect();
        v.sort();
        v
    }

    fn sorted(mut v: Vec<Hash>) -> Vec<Hash> {
        v.sort();
        v
    }

    #[test]
    fn fetch_tracks_items_and_envelopes() {
        let (f, _) = fetches_setup();
        assert_eq!(f.len(), 2);
        assert_eq!(f.last_seen_slot(&h(0)), None);
        assert_eq!(f.last_seen_slot(&h(10)), Some(1));
        assert_eq!(f.last_seen_slot(&h(12)), Some(3));
        assert_eq!(f.last_seen_slot(&h(14)), None);
        assert!(waiting(&f, 0).is_empty());
        assert_eq!(waiting(&f, 10), vec![h(1010)]);
        assert_eq!(waiting(&f, 12), sorted(vec![h(1012), h(2012)]));
        // Nobody to ask: both trackers wait for a new round.
        assert_eq!(f.metrics().asks, 0);
        assert_eq!(f.metrics().rebuilds, 2);
        check_invariants(&f);
    }

    #[test]
    fn stop_one_then_receive() {
        let (mut f, _) = fetches_setup();
        assert!(f.stop_fetch(&h(12), &h(1012)));
        assert!(!f.stop_fetch(&h(12), &h(1012)), "already stopped");
        assert!(!f.stop_fetch(&h(14), &h(1012)), "not fetched");
        // The slot of a stopped envelope still counts, as in core.
        assert_eq!(f.last_seen_slot(&h(12)), Some(3));
        assert_eq!(waiting(&f, 12), vec![h(2012)]);
        assert!(drain_events(&mut f).is_empty());

        let twelve = f.recv(&h(12), t(5)).unwrap();
        assert_eq!(twelve.envelopes, vec![h(2012)]);
        assert_eq!(twelve.last_seen_slot, 3);
        let ten = f.recv(&h(10), t(5)).unwrap();
        assert_eq!(ten.envelopes, vec![h(1010)]);
        assert!(f.is_empty());
        assert_eq!(f.poll_timeout(), None);
        for n in [0, 10, 12, 14] {
            assert_eq!(f.last_seen_slot(&h(n)), None);
            assert!(waiting(&f, n).is_empty());
        }
        check_invariants(&f);
    }

    #[test]
    fn stop_all_cancels_and_ignores_the_item_later() {
        let (mut f, _) = fetches_setup();
        assert!(f.stop_fetch(&h(12), &h(1012)));
        assert!(f.stop_fetch(&h(12), &h(2012)));
        assert_eq!(f.last_seen_slot(&h(12)), None);
        assert_eq!(
            drain_events(&mut f),
            vec![FetchEvent::Cancelled {
                kind: ItemKind::QuorumSet,
                item: h(12)
            }]
        );
        assert_eq!(f.metrics().cancellations, 1);
        assert_eq!(f.recv(&h(12), t(1)), None);
        assert_eq!(f.metrics().unsolicited, 1);
        assert_eq!(f.recv(&h(10), t(1)).unwrap().envelopes, vec![h(1010)]);
        assert!(f.is_empty());
        check_invariants(&f);
    }

    #[test]
    fn dont_stop_returns_every_waiting_envelope_newest_first() {
        let (mut f, _) = fetches_setup();
        let twelve = f.recv(&h(12), t(2500)).unwrap();
        // Core pops from the back of its list.
        assert_eq!(twelve.envelopes, vec![h(2012), h(1012)]);
        assert_eq!(twelve.elapsed, ms(2500));
        assert_eq!(f.recv(&h(10), t(3000)).unwrap().envelopes, vec![h(1010)]);
        assert_eq!(f.metrics().completions, 2);
        assert_eq!(f.metrics().fetch_time_total, ms(5500));
        assert_eq!(f.metrics().fetch_time_max, ms(3000));
        // Ignore items nobody asked for, including a second copy.
        assert_eq!(f.recv(&h(12), t(4000)), None);
        assert_eq!(f.recv(&h(0), t(4000)), None);
        assert_eq!(f.metrics().unsolicited, 2);
        assert!(drain_events(&mut f).is_empty());
        check_invariants(&f);
    }

    #[test]
    fn refetch_after_receive_starts_a_new_tracker() {
        let (mut f, mut rng) = fetches_setup();
        let ps = peers(&[1]);
        f.fetch(h(0), h(1000), 4, t(0), &ps[..], &mut rng).unwrap();
        assert_eq!(f.recv(&h(0), t(1)).unwrap().envelopes, vec![h(1000)]);
        drain_asks(&mut f);
        f.fetch(h(0), h(2000), 5, t(1), &ps[..], &mut rng).unwrap();
        assert_eq!(f.last_seen_slot(&h(0)), Some(5));
        assert_eq!(waiting(&f, 0), vec![h(2000)]);
        // Unlike core (whose stale tracker never asks again), the new tracker asks.
        assert_eq!(
            drain_asks(&mut f),
            vec![Ask {
                conn: ConnId(1),
                kind: ItemKind::QuorumSet,
                item: h(0)
            }]
        );
        check_invariants(&f);
    }

    #[test]
    fn listening_twice_is_idempotent() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(2);
        let ps = peers(&[1, 2]);
        f.fetch(h(7), h(70), 1, t(0), &ps[..], &mut rng).unwrap();
        f.fetch(h(7), h(70), 1, t(0), &ps[..], &mut rng).unwrap();
        f.fetch(h(7), h(71), 2, t(0), &ps[..], &mut rng).unwrap();
        assert_eq!(f.tracker(&h(7)).unwrap().waiting().len(), 2);
        assert_eq!(f.last_seen_slot(&h(7)), Some(2));
        // Fetching twice does not ask again.
        assert_eq!(drain_asks(&mut f).len(), 1);
        assert_eq!(f.metrics().asks, 1);
    }

    // ---- peers in turn ----

    /// Drives time forward to `until`, firing every deadline on the way; returns the asks
    /// with the time they were made.
    fn run_until(
        f: &mut ItemFetcher,
        now: &mut Instant,
        until: Instant,
        ps: &(impl FetchPeers + ?Sized),
        rng: &mut Rng,
    ) -> Vec<(Instant, Ask)> {
        let mut out = Vec::new();
        while let Some(d) = f.poll_timeout() {
            if d > until {
                break;
            }
            *now = d;
            f.handle_timeout(d, ps, rng);
            out.extend(drain_asks(f).into_iter().map(|a| (d, a)));
            check_invariants(f);
        }
        *now = until;
        out
    }

    #[test]
    fn asks_peers_in_turn_then_stops_once_received() {
        for seed in 0..20 {
            let mut f = fetcher();
            let mut rng = Rng::from_u64(seed);
            let ps = peers(&[1, 2]);
            let mut now = t(0);
            f.fetch(h(0), h(100), 1, now, &ps[..], &mut rng).unwrap();
            let first = drain_asks(&mut f);
            assert_eq!(first.len(), 1);
            assert_eq!(f.poll_timeout(), Some(t(1500)));
            let later = run_until(&mut f, &mut now, t(2999), &ps[..], &mut rng);
            assert_eq!(later.len(), 1);
            assert_eq!(later[0].0, t(1500));
            assert_ne!(later[0].1.conn, first[0].conn, "each peer once");
            assert_eq!(f.metrics().timeouts, 1);
            assert_eq!(f.metrics().next_peer, 1);

            assert!(f.recv(&h(0), now).is_some());
            assert_eq!(f.poll_timeout(), None);
            assert!(run_until(&mut f, &mut now, t(62_000), &ps[..], &mut rng).is_empty());
            assert_eq!(f.metrics().asks, 2);
        }
    }

    /// ItemFetcherTests "not found": two peers that never have the item; each round asks
    /// both, then pauses 1.5 s × min(round, 10).
    fn not_found(respond: bool) {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(42);
        let ps = peers(&[1, 2]);
        let none: &[PeerView] = &[];
        // Fetching with no connection asks nobody.
        f.fetch(h(0), h(100), 1, t(0), none, &mut rng).unwrap();
        assert!(drain_asks(&mut f).is_empty());
        assert_eq!(f.poll_timeout(), Some(t(1500)));

        let mut asks: Vec<(Instant, Ask)> = Vec::new();
        while asks.len() < 200 {
            let d = f.poll_timeout().unwrap();
            f.handle_timeout(d, &ps[..], &mut rng);
            let mut batch: Vec<(Instant, Ask)> =
                drain_asks(&mut f).into_iter().map(|a| (d, a)).collect();
            // Answer DONT_HAVE at once, asking the next peer (or pausing) each time.
            while respond && let Some(&(_, last)) = batch.last() {
                assert!(f.doesnt_have(&h(0), last.conn, d, &ps[..], &mut rng));
                asks.append(&mut batch);
                batch.extend(drain_asks(&mut f).into_iter().map(|a| (d, a)));
            }
            asks.extend(batch);
            check_invariants(&f);
        }
        let mut prev_group_end: Option<Instant> = None;
        for (round, pair) in asks.chunks(2).enumerate() {
            let [(t0, a0), (t1, a1)] = pair else {
                panic!("odd")
            };
            assert_ne!(a0.conn, a1.conn, "round {round} asks both peers");
            let expected_gap = if respond {
                Duration::ZERO
            } else {
                MS_TO_WAIT_FOR_FETCH_REPLY
            };
            assert_eq!(*t1 - *t0, expected_gap);
            if let Some(end) = prev_group_end {
                // After the second peer failed (at once, or after its 1.5 s), a pause.
                // The round before any peer connected counts too.
                let k = u32::try_from(round + 1)
                    .unwrap()
                    .min(MAX_REBUILD_FETCH_LIST);
                let pause = MS_TO_WAIT_FOR_FETCH_REPLY * k;
                assert_eq!(*t0 - end, expected_gap + pause, "round {round}");
            }
            prev_group_end = Some(*t1);
        }
        let m = f.metrics();
        assert_eq!(m.asks, 200);
        if respond {
            assert_eq!(m.dont_haves, 200);
            assert_eq!(m.timeouts, 0);
        } else {
            assert_eq!(m.timeouts, 199);
            assert_eq!(m.dont_haves, 0);
        }
        // One rebuild before any peer connected, then one per round.
        assert_eq!(m.rebuilds, 1 + 99 + u64::from(respond));
        assert!(f.tracker(&h(0)).unwrap().rebuilds() >= 100);
    }

    #[test]
    fn not_found_peers_time_out() {
        not_found(false);
    }

    #[test]
    fn not_found_peers_answer_dont_have() {
        not_found(true);
    }

    #[test]
    fn dont_have_from_unasked_peer_is_ignored() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(3);
        let ps = peers(&[1, 2]);
        f.fetch(h(0), h(100), 1, t(0), &ps[..], &mut rng).unwrap();
        let asked = drain_asks(&mut f)[0].conn;
        let other = if asked == ConnId(1) {
            ConnId(2)
        } else {
            ConnId(1)
        };
        assert!(!f.doesnt_have(&h(0), other, t(10), &ps[..], &mut rng));
        assert!(!f.doesnt_have(&h(9), asked, t(10), &ps[..], &mut rng));
        assert!(drain_asks(&mut f).is_empty());
        assert_eq!(f.poll_timeout(), Some(t(1500)));
        assert_eq!(f.metrics().dont_haves_ignored, 2);
        assert_eq!(f.tracker(&h(0)).unwrap().last_asked(), Some(asked));
        // From the asked peer: next one at once.
        assert!(f.doesnt_have(&h(0), asked, t(20), &ps[..], &mut rng));
        assert_eq!(drain_asks(&mut f)[0].conn, other);
        assert_eq!(f.poll_timeout(), Some(t(1520)));
        // A late DONT_HAVE from the first peer no longer matters.
        assert!(!f.doesnt_have(&h(0), asked, t(30), &ps[..], &mut rng));
        assert_eq!(f.tracker(&h(0)).unwrap().last_asked(), Some(other));
    }

    // ---- next peer strategy (ItemFetcherTests "next peer strategy") ----

    #[test]
    fn does_not_try_the_same_peer_twice_in_a_round() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(4);
        let ps = peers(&[1]);
        f.fetch(h(100), h(1), 100, t(0), &ps[..], &mut rng).unwrap();
        assert_eq!(f.tracker(&h(100)).unwrap().last_asked(), Some(ConnId(1)));
        assert_eq!(drain_asks(&mut f).len(), 1);
        f.handle_timeout(t(1500), &ps[..], &mut rng);
        // Ran out of peers.
        assert_eq!(f.tracker(&h(100)).unwrap().last_asked(), None);
        assert!(drain_asks(&mut f).is_empty());
        assert_eq!(f.poll_timeout(), Some(t(3000)));
        // Next round asks it again.
        f.handle_timeout(t(3000), &ps[..], &mut rng);
        assert_eq!(drain_asks(&mut f)[0].conn, ConnId(1));
    }

    #[test]
    fn new_peers_are_tried_then_a_new_round() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(5);
        f.fetch(h(100), h(1), 100, t(0), &peers(&[1])[..], &mut rng)
            .unwrap();
        assert_eq!(drain_asks(&mut f)[0].conn, ConnId(1));
        let ps = peers(&[1, 2]);
        f.handle_timeout(t(1500), &ps[..], &mut rng);
        assert_eq!(drain_asks(&mut f)[0].conn, ConnId(2));
        f.handle_timeout(t(3000), &ps[..], &mut rng);
        assert!(drain_asks(&mut f).is_empty(), "ran out of peers");
        f.handle_timeout(t(4500), &ps[..], &mut rng);
        assert_eq!(drain_asks(&mut f).len(), 1, "asks again");
        assert_eq!(f.metrics().asks, 3);
    }

    #[test]
    fn peer_asked_before_it_knew_the_envelope_is_asked_again() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(6);
        f.fetch(h(100), h(1), 100, t(0), &peers(&[1])[..], &mut rng)
            .unwrap();
        assert_eq!(drain_asks(&mut f)[0].conn, ConnId(1));
        assert_eq!(
            f.tracker(&h(100)).unwrap().was_asked(ConnId(1)),
            Some(false)
        );
        // Peer 1 now sent us the envelope; peer 2 connected.
        let list = peers(&[1, 2]);
        let ps = Peers {
            authenticated: &list,
            knows: |c: ConnId, e: &Hash| c == ConnId(1) && *e == h(1),
        };
        f.handle_timeout(t(1500), &ps, &mut rng);
        assert_eq!(drain_asks(&mut f)[0].conn, ConnId(1));
        assert_eq!(f.tracker(&h(100)).unwrap().was_asked(ConnId(1)), Some(true));
        f.handle_timeout(t(3000), &ps, &mut rng);
        assert_eq!(drain_asks(&mut f)[0].conn, ConnId(2));
        f.handle_timeout(t(4500), &ps, &mut rng);
        assert!(drain_asks(&mut f).is_empty(), "ran out of peers");
        assert_eq!(f.metrics().asks, 3);
    }

    #[test]
    fn prefers_peers_that_know_a_waiting_envelope() {
        let list: Vec<PeerView> = (1..=6)
            .map(|n| PeerView {
                conn: ConnId(n),
                // The knowing peers are the slowest: knowing wins over latency.
                latency: Some(if n >= 5 { ms(2000) } else { ms(10) }),
            })
            .collect();
        // Peer 5 knows envelope a, peer 6 knows envelope b: both wait for the item.
        let ps = Peers {
            authenticated: &list,
            knows: |c: ConnId, e: &Hash| {
                (c == ConnId(5) && *e == h(1)) || (c == ConnId(6) && *e == h(2))
            },
        };
        let mut seen = BTreeSet::new();
        for seed in 0..30 {
            let mut f = fetcher();
            let mut rng = Rng::from_u64(seed);
            let none: &[PeerView] = &[];
            f.fetch(h(9), h(1), 1, t(0), none, &mut rng).unwrap();
            f.fetch(h(9), h(2), 1, t(0), none, &mut rng).unwrap();
            let mut now = t(0);
            let got = run_until(&mut f, &mut now, t(1500 * 6), &ps, &mut rng);
            let order: Vec<u64> = got.iter().map(|(_, a)| a.conn.0).collect();
            assert_eq!(order.len(), 6, "{order:?}");
            let mut first_two = [order[0], order[1]];
            first_two.sort();
            assert_eq!(first_two, [5, 6], "{order:?}");
            seen.insert(order[0]);
        }
        assert_eq!(seen.len(), 2, "random among the knowing peers");
    }

    #[test]
    fn lowest_latency_bucket_first() {
        let lat = |n: u64, l: Option<u64>| PeerView {
            conn: ConnId(n),
            latency: l.map(ms),
        };
        // Buckets: 0, 0, 1, 1, unmeasured (24 h), 2.
        let list = [
            lat(1, Some(100)),
            lat(2, Some(499)),
            lat(3, Some(500)),
            lat(4, Some(999)),
            lat(5, None),
            lat(6, Some(1000)),
        ];
        let mut firsts = BTreeSet::new();
        for seed in 0..40 {
            let mut f = fetcher();
            let mut rng = Rng::from_u64(seed);
            f.fetch(h(9), h(1), 1, t(0), &list[..], &mut rng).unwrap();
            let mut now = t(0);
            let mut order: Vec<u64> = drain_asks(&mut f).iter().map(|a| a.conn.0).collect();
            order.extend(
                run_until(&mut f, &mut now, t(1500 * 5), &list[..], &mut rng)
                    .iter()
                    .map(|(_, a)| a.conn.0),
            );
            assert_eq!(order.len(), 6);
            let mut b0 = [order[0], order[1]];
            b0.sort();
            let mut b1 = [order[2], order[3]];
            b1.sort();
            assert_eq!((b0, b1, order[4], order[5]), ([1, 2], [3, 4], 6, 5));
            firsts.insert(order[0]);
        }
        assert_eq!(firsts.len(), 2, "random within the bucket");
    }

    #[test]
    fn rebuild_back_off_grows_to_fifteen_seconds() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(7);
        let none: &[PeerView] = &[];
        f.fetch(h(1), h(2), 1, t(0), none, &mut rng).unwrap();
        let mut now = t(0);
        let mut pauses = Vec::new();
        for _ in 0..13 {
            let d = f.poll_timeout().unwrap();
            pauses.push((d - now).as_millis());
            now = d;
            f.handle_timeout(now, none, &mut rng);
        }
        assert_eq!(
            pauses,
            vec![
                1500, 3000, 4500, 6000, 7500, 9000, 10500, 12000, 13500, 15000, 15000, 15000, 15000
            ]
        );
        assert_eq!(f.tracker(&h(1)).unwrap().rebuilds(), 14);
        assert_eq!(f.metrics().timeouts, 0, "nobody was asked");
        assert_eq!(f.metrics().next_peer, 0);
        // A peer appears: asked at the next retry, then 1.5 s per ask again.
        let ps = peers(&[3]);
        let d = f.poll_timeout().unwrap();
        f.handle_timeout(d, &ps[..], &mut rng);
        assert_eq!(drain_asks(&mut f)[0].conn, ConnId(3));
        assert_eq!(f.poll_timeout(), Some(d + MS_TO_WAIT_FOR_FETCH_REPLY));
        // The round count is not reset: the next pause is still 15 s.
        f.handle_timeout(d + MS_TO_WAIT_FOR_FETCH_REPLY, &ps[..], &mut rng);
        assert_eq!(
            f.poll_timeout(),
            Some(d + MS_TO_WAIT_FOR_FETCH_REPLY + Duration::from_secs(15))
        );
    }

    #[test]
    fn completion_returns_waiting_envelopes_and_stops_asking() {
        let mut f = ItemFetcher::new(ItemKind::TxSet, FetchConfig::default());
        let mut rng = Rng::from_u64(8);
        let ps = peers(&[1, 2, 3]);
        f.fetch(h(5), h(50), 7, t(100), &ps[..], &mut rng).unwrap();
        f.fetch(h(5), h(51), 9, t(200), &ps[..], &mut rng).unwrap();
        f.fetch(h(5), h(52), 8, t(300), &ps[..], &mut rng).unwrap();
        let asks = drain_asks(&mut f);
        assert_eq!(asks.len(), 1);
        assert_eq!(asks[0].kind, ItemKind::TxSet);
        let c = f.recv(&h(5), t(1100)).unwrap();
        assert_eq!(
            c,
            Completed {
                item: h(5),
                envelopes: vec![h(52), h(51), h(50)],
                last_seen_slot: 9,
                elapsed: ms(1000),
            }
        );
        assert!(f.is_empty());
        assert_eq!(f.poll_timeout(), None);
        f.handle_timeout(t(100_000), &ps[..], &mut rng);
        assert!(drain_asks(&mut f).is_empty());
        assert!(drain_events(&mut f).is_empty());
    }

    #[test]
    fn cancellation_when_the_last_envelope_stops_waiting() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(9);
        let ps = peers(&[1, 2]);
        f.fetch(h(5), h(50), 1, t(0), &ps[..], &mut rng).unwrap();
        f.fetch(h(5), h(51), 1, t(0), &ps[..], &mut rng).unwrap();
        f.fetch(h(6), h(50), 1, t(0), &ps[..], &mut rng).unwrap();
        assert!(f.stop_fetch(&h(5), &h(50)));
        assert!(f.is_fetching(&h(5)));
        assert!(drain_events(&mut f).is_empty());
        // Not drained yet: the ask for the cancelled item must not go out.
        assert!(f.stop_fetch(&h(5), &h(51)));
        assert!(!f.is_fetching(&h(5)));
        assert_eq!(
            drain_events(&mut f),
            vec![FetchEvent::Cancelled {
                kind: ItemKind::QuorumSet,
                item: h(5)
            }]
        );
        let asks = drain_asks(&mut f);
        assert_eq!(asks.len(), 1);
        assert_eq!(asks[0].item, h(6));
        assert_eq!(f.poll_timeout(), Some(t(1500)));
        assert_eq!(f.len(), 1);
        check_invariants(&f);
    }

    #[test]
    fn asked_peer_dropping_moves_on_at_once() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(10);
        let ps = peers(&[1, 2]);
        f.fetch(h(5), h(50), 1, t(0), &ps[..], &mut rng).unwrap();
        let asked = drain_asks(&mut f)[0].conn;
        let other = if asked == ConnId(1) {
            ConnId(2)
        } else {
            ConnId(1)
        };
        // Dropping a peer that is not being asked changes nothing.
        f.peer_dropped(ConnId(77), t(100), &ps[..], &mut rng);
        assert!(drain_asks(&mut f).is_empty());
        assert_eq!(f.poll_timeout(), Some(t(1500)));

        let remaining: Vec<PeerView> = ps.iter().copied().filter(|p| p.conn != asked).collect();
        f.peer_dropped(asked, t(200), &remaining[..], &mut rng);
        assert_eq!(drain_asks(&mut f)[0].conn, other);
        assert_eq!(f.poll_timeout(), Some(t(1700)));
        assert_eq!(f.metrics().peer_drops, 1);
        assert_eq!(f.metrics().next_peer, 1);
        assert_eq!(f.tracker(&h(5)).unwrap().was_asked(asked), None);

        // Even if the overlay still lists it, a dropped peer is not picked.
        let mut f = fetcher();
        let ps = peers(&[1]);
        f.fetch(h(5), h(50), 1, t(0), &ps[..], &mut rng).unwrap();
        drain_asks(&mut f);
        f.peer_dropped(ConnId(1), t(10), &ps[..], &mut rng);
        assert!(drain_asks(&mut f).is_empty());
        assert_eq!(f.tracker(&h(5)).unwrap().last_asked(), None);
        assert_eq!(f.poll_timeout(), Some(t(1510)));
    }

    #[test]
    fn stale_asks_are_not_sent() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(11);
        let ps = peers(&[1, 2, 3]);
        f.fetch(h(5), h(50), 1, t(0), &ps[..], &mut rng).unwrap();
        f.handle_timeout(t(1500), &ps[..], &mut rng);
        f.handle_timeout(t(3000), &ps[..], &mut rng);
        let asks = drain_asks(&mut f);
        assert_eq!(asks.len(), 1, "only the current ask");
        assert_eq!(Some(asks[0].conn), f.tracker(&h(5)).unwrap().last_asked());
        assert_eq!(f.metrics().asks, 3);
    }

    // ---- range pruning (TrackerTests "properly removes old envelopes") ----

    /// Envelopes of slots 5, 3, 1, 2, 4 added in that order; envelope id = h(slot).
    fn pruned(min: Option<u64>, max: Option<u64>, keep: u64) -> Option<Vec<u64>> {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(12);
        let none: &[PeerView] = &[];
        for s in [5, 3, 1, 2, 4] {
            f.fetch(h(1000), h(s), s, t(0), none, &mut rng).unwrap();
        }
        assert_eq!(f.last_seen_slot(&h(1000)), Some(5));
        f.stop_fetching_outside_range(min, max, keep);
        check_invariants(&f);
        let events = drain_events(&mut f);
        let c = f.recv(&h(1000), t(1));
        assert_eq!(events.is_empty(), c.is_some());
        c.map(|c| {
            c.envelopes
                .iter()
                .map(|e| (1..=5).find(|s| h(*s) == *e).unwrap())
                .collect()
        })
    }

    #[test]
    fn range_pruning_matches_tracker_tests() {
        // Results in core's pop order.
        assert_eq!(pruned(Some(4), None, 4), Some(vec![4, 5]));
        assert_eq!(pruned(Some(6), None, 6), None);
        assert_eq!(pruned(Some(5), None, 1), Some(vec![1, 5]));
        assert_eq!(pruned(None, Some(3), 3), Some(vec![2, 1, 3]));
        assert_eq!(pruned(None, Some(0), 0), None);
        assert_eq!(pruned(None, Some(2), 5), Some(vec![2, 1, 5]));
        assert_eq!(pruned(Some(2), Some(4), 0), Some(vec![4, 2, 3]));
        assert_eq!(pruned(Some(3), Some(3), 1), Some(vec![1, 3]));
        assert_eq!(pruned(None, None, 0), Some(vec![4, 2, 1, 3, 5]));
    }

    #[test]
    fn range_pruning_cancels_emptied_trackers_only() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(13);
        let ps = peers(&[1]);
        f.fetch(h(1), h(10), 10, t(0), &ps[..], &mut rng).unwrap();
        f.fetch(h(2), h(20), 20, t(0), &ps[..], &mut rng).unwrap();
        f.fetch(h(3), h(5), 5, t(0), &ps[..], &mut rng).unwrap();
        drain_asks(&mut f);
        f.stop_fetching_outside_range(Some(11), None, 5);
        let events = drain_events(&mut f);
        assert_eq!(
            events,
            vec![FetchEvent::Cancelled {
                kind: ItemKind::QuorumSet,
                item: h(1)
            }]
        );
        assert!(f.is_fetching(&h(2)) && f.is_fetching(&h(3)));
        assert_eq!(f.metrics().cancellations, 1);
        check_invariants(&f);
    }

    // ---- determinism ----

    fn scripted_run(seed: u64) -> Vec<(Instant, Ask)> {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(seed);
        let list: Vec<PeerView> = (0..10)
            .map(|n| PeerView {
                conn: ConnId(n),
                latency: Some(ms(100 * (n % 3))),
            })
            .collect();
        let mut now = t(0);
        let mut out = Vec::new();
        for item in 0..5 {
            f.fetch(h(item), h(100 + item), item, now, &list[..], &mut rng)
                .unwrap();
            out.extend(drain_asks(&mut f).into_iter().map(|a| (now, a)));
        }
        out.extend(run_until(&mut f, &mut now, t(60_000), &list[..], &mut rng));
        out
    }

    #[test]
    fn same_seed_same_asks() {
        let a = scripted_run(99);
        assert!(a.len() > 100);
        assert_eq!(a, scripted_run(99));
        assert_ne!(a, scripted_run(100));
    }

    // ---- bounds ----

    #[test]
    fn tracker_bound() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(14);
        let none: &[PeerView] = &[];
        let max = f.config().max_trackers as u64;
        for i in 0..max {
            f.fetch(h(i), h(i), 1, t(0), none, &mut rng).unwrap();
        }
        for i in max..max + 50 {
            assert_eq!(
                f.fetch(h(i), h(i), 1, t(0), none, &mut rng),
                Err(FetchError::TooManyTrackers)
            );
        }
        // Existing items still take envelopes.
        f.fetch(h(0), h(u64::MAX), 1, t(0), none, &mut rng).unwrap();
        assert_eq!(f.len(), f.config().max_trackers);
        assert_eq!(f.metrics().rejected, 50);
        check_invariants(&f);
        // Room again once one completes.
        f.recv(&h(3), t(1)).unwrap();
        f.fetch(h(max), h(0), 1, t(1), none, &mut rng).unwrap();
    }

    #[test]
    fn envelope_bound() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(15);
        let none: &[PeerView] = &[];
        let max = f.config().max_envelopes_per_tracker as u64;
        for e in 0..max + 20 {
            let r = f.fetch(h(u64::MAX), h(e), e, t(0), none, &mut rng);
            assert_eq!(r.is_ok(), e < max, "envelope {e}");
        }
        assert_eq!(
            f.tracker(&h(u64::MAX)).unwrap().waiting().len(),
            f.config().max_envelopes_per_tracker
        );
        // A rejected envelope does not raise the slot.
        assert_eq!(f.last_seen_slot(&h(u64::MAX)), Some(max - 1));
        // Known envelopes stay idempotent at the bound.
        f.fetch(h(u64::MAX), h(0), 0, t(0), none, &mut rng).unwrap();
        assert_eq!(f.metrics().rejected, 20);

        let mut zero = ItemFetcher::new(
            ItemKind::TxSet,
            FetchConfig {
                max_envelopes_per_tracker: 0,
                ..FetchConfig::default()
            },
        );
        assert_eq!(
            zero.fetch(h(1), h(1), 1, t(0), none, &mut rng),
            Err(FetchError::TooManyEnvelopes)
        );
        assert!(zero.is_empty());
    }

    #[test]
    fn peers_asked_bound_starts_a_new_round() {
        let mut f = ItemFetcher::new(
            ItemKind::QuorumSet,
            FetchConfig {
                max_peers_asked: 4,
                ..FetchConfig::default()
            },
        );
        let mut rng = Rng::from_u64(16);
        let list: Vec<PeerView> = (0..50).map(peer).collect();
        f.fetch(h(1), h(1), 1, t(0), &list[..], &mut rng).unwrap();
        let mut now = t(0);
        run_until(&mut f, &mut now, t(1500 * 3), &list[..], &mut rng);
        assert_eq!(f.metrics().asks, 4);
        assert_eq!(f.tracker(&h(1)).unwrap().asked.len(), 4);
        f.handle_timeout(t(1500 * 4), &list[..], &mut rng);
        assert_eq!(f.metrics().rebuilds, 1);
        assert!(f.tracker(&h(1)).unwrap().asked.is_empty());
        check_invariants(&f);

        // With the default bound, peers that never drop are forgotten each round.
        let mut f = fetcher();
        let list: Vec<PeerView> = (0..5000).map(peer).collect();
        f.fetch(h(1), h(1), 1, t(0), &list[..], &mut rng).unwrap();
        let mut now = t(0);
        run_until(&mut f, &mut now, t(1500 * 1200), &list[..], &mut rng);
        assert!(f.metrics().rebuilds >= 1);
        check_invariants(&f);
    }

    #[test]
    fn undrained_queues_are_bounded() {
        let cfg = FetchConfig {
            max_queued: 8,
            ..FetchConfig::default()
        };
        let mut f = ItemFetcher::new(ItemKind::TxSet, cfg);
        let mut rng = Rng::from_u64(17);
        let ps = peers(&[1, 2, 3]);
        for i in 0..100 {
            f.fetch(h(i), h(i), 1, t(0), &ps[..], &mut rng).unwrap();
            check_invariants(&f);
        }
        assert_eq!(f.asks.len(), 8);
        assert_eq!(f.metrics().asks_dropped, 92);
        // The newest survive.
        let items: Vec<Hash> = drain_asks(&mut f).iter().map(|a| a.item).collect();
        assert_eq!(items, (92..100).map(h).collect::<Vec<_>>());

        for i in 0..100 {
            f.stop_fetch(&h(i), &h(i));
            check_invariants(&f);
        }
        assert_eq!(f.events.len(), 8);
        assert_eq!(f.metrics().events_dropped, 92);
        assert_eq!(f.metrics().cancellations, 100);

        let mut zero = ItemFetcher::new(
            ItemKind::TxSet,
            FetchConfig {
                max_queued: 0,
                ..FetchConfig::default()
            },
        );
        zero.fetch(h(1), h(1), 1, t(0), &ps[..], &mut rng).unwrap();
        assert_eq!(zero.poll_ask(), None);
        assert_eq!(zero.metrics().asks_dropped, 1);
    }

    #[test]
    fn end_of_time_does_not_hang_or_panic() {
        let mut f = fetcher();
        let mut rng = Rng::from_u64(18);
        let ps = peers(&[1]);
        let end = Instant::from_micros(u64::MAX);
        f.fetch(h(1), h(1), 1, end, &ps[..], &mut rng).unwrap();
        for _ in 0..5 {
            f.handle_timeout(end, &ps[..], &mut rng);
            check_invariants(&f);
        }
        assert_eq!(f.poll_timeout(), Some(end));
        assert_eq!(
            f.recv(&h(1), Instant::ZERO).unwrap().elapsed,
            Duration::ZERO
        );
    }

    #[test]
    fn random_operations_keep_invariants() {
        let cfg = FetchConfig {
            max_trackers: 6,
            max_envelopes_per_tracker: 4,
            max_peers_asked: 3,
            max_queued: 5,
        };
        let mut rng = Rng::from_u64(19);
        let mut f = ItemFetcher::new(ItemKind::QuorumSet, cfg);
        let mut now = t(0);
        let mut list: Vec<PeerView> = Vec::new();
        for step in 0..20_000u64 {
            let op = rng.below(9);
            let item = h(rng.below(10));
            let env = h(100 + rng.below(8));
            let conn = ConnId(rng.below(6));
            let knows_seed = rng.next_u64();
            let ps = Peers {
                authenticated: &list,
                knows: move |c: ConnId, e: &Hash| {
                    (c.0 ^ u64::from(e[0]) ^ knows_seed).is_multiple_of(3)
                },
            };
            let mut r = rng.clone();
            match op {
                0 | 1 => {
                    let _ = f.fetch(item, env, rng.below(20), now, &ps, &mut r);
                }
                2 => {
                    f.stop_fetch(&item, &env);
                }
                3 => {
                    let (a, b) = (rng.below(20), rng.below(20));
                    f.stop_fetching_outside_range(
                        Some(a.min(b)).filter(|_| step % 2 == 0),
                        Some(a.max(b)),
                        rng.below(20),
                    );
                }
                4 => {
                    f.doesnt_have(&item, conn, now, &ps, &mut r);
                }
                5 => {
                    if !list.iter().any(|p| p.conn == conn) {
                        list.push(PeerView {
                            conn,
                            latency: Some(ms(rng.below(3000))),
                        });
                    } else {
                        list.retain(|p| p.conn != conn);
                        let ps = Peers {
                            authenticated: &list,
                            knows: |_: ConnId, _: &Hash| false,
                        };
                        f.peer_dropped(conn, now, &ps, &mut r);
                    }
                }
                6 => {
                    let _ = f.recv(&item, now);
                }
                7 => {
                    now = now + ms(rng.below(4000));
                    f.handle_timeout(now, &ps, &mut r);
                }
                _ => {
                    while let Some(a) = f.poll_ask() {
                        assert!(f.is_fetching(&a.item));
                        assert_eq!(Some(a.conn), f.tracker(&a.item).unwrap().last_asked());
                    }
                    drain_events(&mut f);
                }
            }
            rng = r;
            check_invariants(&f);
            if let Some(d) = f.poll_timeout() {
                assert!(d >= now || f.trackers.values().any(|t| t.deadline == d));
            }
        }
        assert!(f.metrics().asks > 100);
    }

    // ---- query limits ----

    #[test]
    fn default_query_limits() {
        let c = QueryConfig::default();
        assert_eq!(c.window(), Duration::from_secs(60));
        assert_eq!(c.max_per_window(QueryKind::GetTxSet), Some(300));
        assert_eq!(c.max_per_window(QueryKind::GetScpQuorumSet), Some(300));
        assert_eq!(c.max_per_window(QueryKind::GetScpState), Some(10));
        assert_eq!(
            QueryKind::from_message_type(MessageType::GetScpState),
            Some(QueryKind::GetScpState)
        );
        assert_eq!(QueryKind::from_message_type(MessageType::TxSet), None);
    }

    #[test]
    fn query_limits_per_kind() {
        let mut q = QueryLimits::new(QueryConfig::default());
        let now = t(1_000);
        for kind in [QueryKind::GetTxSet, QueryKind::GetScpQuorumSet] {
            for i in 0..300 {
                assert!(q.allow(kind, now + ms(i)), "{kind:?} {i}");
            }
            for i in 0..50 {
                assert!(!q.allow(kind, now + ms(300 + i)), "{kind:?} over");
            }
            assert_eq!(q.served(kind), 300);
        }
        for _ in 0..10 {
            assert!(q.allow(QueryKind::GetScpState, now));
        }
        assert!(!q.allow(QueryKind::GetScpState, now));
        assert_eq!(q.ignored(), 101);
        // Still refused just before the window ends.
        assert!(!q.allow(QueryKind::GetTxSet, now + (Duration::from_secs(60) - ms(1))));
    }

    #[test]
    fn query_window_restarts_with_the_first_query_after_expiry() {
        let mut q = QueryLimits::new(QueryConfig::default());
        let k = QueryKind::GetScpState;
        for _ in 0..10 {
            assert!(q.allow(k, t(0)));
        }
        assert!(!q.allow(k, t(59_999)));
        // Exactly one window later: a new window opens at this query.
        assert!(q.allow(k, t(60_000)));
        assert_eq!(q.served(k), 1);
        for _ in 0..9 {
            assert!(q.allow(k, t(60_000)));
        }
        assert!(!q.allow(k, t(100_000)));
        // Long silence: the window starts with the next query, not on a 60 s grid.
        assert!(q.allow(k, t(500_000)));
        for _ in 0..9 {
            assert!(q.allow(k, t(550_000)));
        }
        assert!(!q.allow(k, t(559_999)));
        assert!(q.allow(k, t(560_000)));
        // Other kinds have their own windows.
        assert_eq!(q.served(QueryKind::GetTxSet), 0);
    }

    #[test]
    fn query_limit_configuration() {
        // v25.2.0: GET_SCP_STATE unlimited.
        let mut q = QueryLimits::new(QueryConfig {
            max_scp_state_queries: None,
            ..QueryConfig::default()
        });
        for _ in 0..10_000 {
            assert!(q.allow(QueryKind::GetScpState, t(0)));
        }
        // Window truncated to whole seconds: 5.5 s × 12 = 66 s → 330; 1.234 s × 12 → 14 s.
        let c = QueryConfig {
            expected_ledger_close_time: ms(5500),
            ..QueryConfig::default()
        };
        assert_eq!(c.window(), Duration::from_secs(66));
        assert_eq!(c.max_per_window(QueryKind::GetTxSet), Some(330));
        let c = QueryConfig {
            expected_ledger_close_time: ms(1234),
            ..QueryConfig::default()
        };
        assert_eq!(c.window(), Duration::from_secs(14));
        let mut q = QueryLimits::new(c);
        for _ in 0..70 {
            assert!(q.allow(QueryKind::GetScpQuorumSet, t(0)));
        }
        assert!(!q.allow(QueryKind::GetScpQuorumSet, t(13_999)));
        assert!(q.allow(QueryKind::GetScpQuorumSet, t(14_000)));
        // Changing the close time applies at the next query.
        q.config_mut().expected_ledger_close_time = Duration::from_secs(5);
        assert_eq!(q.config().window(), Duration::from_secs(60));
        // Extreme values neither overflow nor panic.
        let c = QueryConfig {
            expected_ledger_close_time: Duration::MAX,
            max_slots_to_remember: u32::MAX,
            max_scp_state_queries: Some(0),
        };
        assert_eq!(c.max_per_window(QueryKind::GetTxSet), Some(u32::MAX));
        let mut q = QueryLimits::new(c);
        assert!(q.allow(QueryKind::GetTxSet, t(0)));
        assert!(!q.allow(QueryKind::GetScpState, t(0)));
        // A zero-second window (sub-second ledgers) answers nothing, as in core.
        let mut q = QueryLimits::new(QueryConfig {
            expected_ledger_close_time: ms(50),
            ..QueryConfig::default()
        });
        assert!(!q.allow(QueryKind::GetTxSet, t(0)));
        // Time going backwards keeps the current window.
        let mut q = QueryLimits::new(QueryConfig::default());
        assert!(q.allow(QueryKind::GetScpState, t(10_000)));
        assert!(q.allow(QueryKind::GetScpState, t(0)));
        assert_eq!(q.served(QueryKind::GetScpState), 2);
    }
}
