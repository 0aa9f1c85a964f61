//! Transaction flooding in pull mode: FLOOD_ADVERT / FLOOD_DEMAND (PROTOCOL.md §4.3;
//! stellar-core `TxAdverts.cpp`, `TxDemandsManager.cpp`).
//!
//! Transactions are never pushed. A node that wants to flood one queues its hash as an
//! *advert* to every peer that does not already know it; a peer that does not have the
//! transaction *demands* it, and the advertiser answers with the TRANSACTION.
//!
//! - [`PullConfig`]: the settings and stellar-core's sizing formulas
//!   ([`PullConfig::max_advert_size`], [`PullConfig::max_demand_size`]).
//! - [`TxAdverts`] (one per connection): outgoing adverts batched into FLOOD_ADVERTs, and
//!   the hashes the peer advertised to us, waiting to be demanded.
//! - [`TxDemands`] (one per node): every `FLOOD_DEMAND_PERIOD` decides what to demand from
//!   whom, with linear back-off between peers, and records pull latency.
//!
//! ## How the node-level overlay drives it
//! - broadcasting a TRANSACTION: for each authenticated peer the floodgate has not told,
//!   [`TxAdverts::send_advert`]; count [`PullMetrics::advertised`] when it
//!   [`SendAdvert::is_advertised`]; a [`SendAdvert::Flush`] batch goes out as one
//!   FLOOD_ADVERT now;
//! - timers: [`TxAdverts::poll_timeout`] / [`TxAdverts::take_ready`] per peer (timer
//!   flush), [`TxDemands::poll_timeout`] / [`TxDemands::demand`] node-wide; each returned
//!   list is one FLOOD_DEMAND;
//! - FLOOD_ADVERT received (only while synced): [`TxAdverts::receive_advert`] with the
//!   herder's tracking ledger;
//! - FLOOD_DEMAND received: look each hash up, send what the queue holds, and count each
//!   with [`TxDemands::record_served`];
//! - TRANSACTION received: [`TxDemands::record_tx_pull_latency`];
//! - ledger closed: [`TxAdverts::clear_below`] on every peer.
//!
//! ## Where this differs from stellar-core, and why
//! - Demand history is keyed by a peer key `K` (default [`ConnId`]); core keys it by
//!   NodeID. An overlay that wants core's exact behaviour across reconnects can use
//!   `TxDemands<NodeId>`.
//! - Core bounds demand history only by time (60 s). Here it also has a hard cap,
//!   [`PullConfig::max_demand_history`] (a full demand budget every period for the whole
//!   retention window, at most [`MAX_DEMAND_HISTORY`]); past it the oldest record goes
//!   first, counted as abandoned if its transaction never came. Junk adverts can therefore
//!   not grow memory without bound.
//! - [`TxDemands::demand`] does nothing before [`TxDemands::poll_timeout`], so an overlay
//!   may call it from any timeout; a late call schedules the next round a full period
//!   later, as core's re-armed timer does.
//! - Core flushes outgoing adverts when the batch size *equals* the maximum; here at `>=`,
//!   so a maximum that shrinks (a smaller tx set after an upgrade) can never let a batch
//!   pass `TX_ADVERT_VECTOR_MAX_SIZE`.
//! - An expected ledger close time of 0 (core would divide by zero) yields the largest
//!   sizes, 1000.
//! - The advert history's random eviction draws from the crate's seeded [`Rng`] (core: a
//!   per-cache engine with a fixed seed), so runs repeat per host seed.
//! - The flood rates stay `f64` as in core's config: the product `rate × ops` truncated to
//!   an integer is what core computes, and a single IEEE-754 multiply plus a truncating cast
//!   gives the same bits on every target Rust supports. Everything after it is integer.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::borrow::BorrowMut;
use core::time::Duration;

use crate::ConnId;
use crate::index::{HashIndex, hash_index};
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{Hash, TX_HASHES_MAX};

/// `FLOOD_ADVERT_PERIOD_MS`: how long an outgoing advert batch may wait.
pub const FLOOD_ADVERT_PERIOD: Duration = Duration::from_millis(100);
/// `FLOOD_DEMAND_PERIOD_MS`: how often demands are issued.
pub const FLOOD_DEMAND_PERIOD: Duration = Duration::from_millis(200);
/// `FLOOD_DEMAND_BACKOFF_DELAY_MS`: re-demand delay per peer already asked.
pub const FLOOD_DEMAND_BACKOFF_DELAY: Duration = Duration::from_millis(500);
/// `MAX_DELAY_DEMAND`: the re-demand delay never grows past this.
pub const MAX_DELAY_DEMAND: Duration = Duration::from_secs(2);
/// `MAX_RETRY_COUNT`: after this many peers were asked, nobody is assumed to have it.
pub const MAX_RETRY_COUNT: usize = 15;
/// How long a demand is remembered from its first demand: `MAX_DELAY_DEMAND ×
/// MAX_RETRY_COUNT × 2`.
pub const DEMAND_HISTORY_RETENTION: Duration = Duration::from_secs(2 * 15 * 2);
/// Absolute cap of remembered demands (ours; core has none): the largest demand vector
/// every default demand period for the whole retention window, 1000 × 300.
pub const MAX_DEMAND_HISTORY: usize = 300_000;
/// `ADVERT_CACHE_SIZE`: hashes remembered per peer as advertised to us.
pub const ADVERT_CACHE_SIZE: usize = 50_000;
/// `TX_ADVERT_VECTOR_MAX_SIZE`: XDR bound of a FLOOD_ADVERT.
pub const TX_ADVERT_VECTOR_MAX_SIZE: usize = TX_HASHES_MAX;
/// `TX_DEMAND_VECTOR_MAX_SIZE`: XDR bound of a FLOOD_DEMAND.
pub const TX_DEMAND_VECTOR_MAX_SIZE: usize = TX_HASHES_MAX;

/// Pull-mode settings and the network figures the sizes derive from (stellar-core's
/// defaults). The ledger-dependent fields change as ledgers close; the overlay keeps one
/// value and passes it in, so nothing holds a stale copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PullConfig {
    /// `FLOOD_ADVERT_PERIOD_MS`.
    pub flood_advert_period: Duration,
    /// `FLOOD_DEMAND_PERIOD_MS`.
    pub flood_demand_period: Duration,
    /// `FLOOD_DEMAND_BACKOFF_DELAY_MS`.
    pub flood_demand_backoff_delay: Duration,
    /// `FLOOD_OP_RATE_PER_LEDGER`.
    pub flood_op_rate_per_ledger: f64,
    /// `FLOOD_SOROBAN_RATE_PER_LEDGER`.
    pub flood_soroban_rate_per_ledger: f64,
    /// `L`: the last closed ledger's max tx-set size in operations
    /// (`getLastMaxTxSetSizeOps`). Also caps each peer's incoming advert queue.
    pub max_tx_set_size_ops: u32,
    /// Soroban network config `ledgerMaxTxCount`; 0 before protocol 20 (no Soroban
    /// queue, no Soroban term in the advert size).
    pub soroban_ledger_max_tx_count: u32,
    /// `TRANSACTION_QUEUE_SIZE_MULTIPLIER`: the classic queue holds this many ledgers.
    pub transaction_queue_size_multiplier: u32,
    /// `SOROBAN_TRANSACTION_QUEUE_SIZE_MULTIPLIER`.
    pub soroban_transaction_queue_size_multiplier: u32,
    /// `getExpectedLedgerCloseTime` (network config `ledgerTargetCloseTimeMilliseconds`
    /// from protocol 23, 5 s before).
    pub expected_ledger_close: Duration,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            flood_advert_period: FLOOD_ADVERT_PERIOD,
            flood_demand_period: FLOOD_DEMAND_PERIOD,
            flood_demand_backoff_delay: FLOOD_DEMAND_BACKOFF_DELAY,
            flood_op_rate_per_ledger: 1.0,
            flood_soroban_rate_per_ledger: 1.0,
            max_tx_set_size_ops: 1000,
            soroban_ledger_max_tx_count: 100,
            transaction_queue_size_multiplier: 2,
            soroban_transaction_queue_size_multiplier: 2,
            expected_ledger_close: Duration::from_secs(5),
        }
    }
}

/// `TxAdverts::getOpsFloodLedger`: `rate × ops`, truncated. A negative or NaN product
/// (core asserts) becomes 0; the cast saturates.
fn ops_flood_ledger(max_ops: u64, rate: f64) -> u64 {
    (rate * max_ops as f64) as u64
}

/// `bigDivideOrThrow(a, b, c, ROUND_UP)` in 128 bits. Division by zero (core would fault)
/// and results past `u64` saturate, which the callers then clamp to the XDR bound.
fn big_divide_round_up(a: u64, b: u64, c: u64) -> u64 {
    if c == 0 {
        return u64::MAX;
    }
    let q = (u128::from(a) * u128::from(b)).div_ceil(u128::from(c));
    u64::try_from(q).unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Both vector sizes are clamped to `1..=1000`.
fn clamp_vector_size(n: u64, max: usize) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX).clamp(1, max)
}

impl PullConfig {
    /// `getMaxQueueSizeOps`: classic queue capacity, `L × multiplier`.
    pub fn max_queue_size_ops(&self) -> u64 {
        u64::from(self.max_tx_set_size_ops) * u64::from(self.transaction_queue_size_multiplier)
    }

    /// `getMaxQueueSizeSorobanOps`: `ledgerMaxTxCount × multiplier`.
    pub fn max_queue_size_soroban_ops(&self) -> u64 {
        u64::from(self.soroban_ledger_max_tx_count)
            * u64::from(self.soroban_transaction_queue_size_multiplier)
    }

    /// `TxAdverts::getMaxAdvertSize`: the ops the network floods per ledger, scaled to one
    /// advert period, rounded up, clamped to `1..=TX_ADVERT_VECTOR_MAX_SIZE`.
    pub fn max_advert_size(&self) -> usize {
        let ops = ops_flood_ledger(
            u64::from(self.max_tx_set_size_ops),
            self.flood_op_rate_per_ledger,
        )
        .saturating_add(ops_flood_ledger(
            u64::from(self.soroban_ledger_max_tx_count),
            self.flood_soroban_rate_per_ledger,
        ));
        let n = big_divide_round_up(
            ops,
            millis(self.flood_advert_period),
            millis(self.expected_ledger_close),
        );
        clamp_vector_size(n, TX_ADVERT_VECTOR_MAX_SIZE)
    }

    /// `TxDemandsManager::getMaxDemandSize`: the queue capacities in ops, scaled to one
    /// demand period, rounded up, clamped to `1..=TX_DEMAND_VECTOR_MAX_SIZE`. The most
    /// hashes demanded from one peer per period.
    pub fn max_demand_size(&self) -> usize {
        let ops = ops_flood_ledger(self.max_queue_size_ops(), self.flood_op_rate_per_ledger)
            .saturating_add(ops_flood_ledger(
                self.max_queue_size_soroban_ops(),
                self.flood_soroban_rate_per_ledger,
            ));
        let n = big_divide_round_up(
            ops,
            millis(self.flood_demand_period),
            millis(self.expected_ledger_close),
        );
        clamp_vector_size(n, TX_DEMAND_VECTOR_MAX_SIZE)
    }

    /// Cap of each peer's incoming advert queue (pending + retry): `L`.
    pub fn advert_queue_limit(&self) -> usize {
        usize::try_from(self.max_tx_set_size_ops).unwrap_or(usize::MAX)
    }

    /// `retryDelayDemand`: wait this long after the last demand before asking the next
    /// peer, when `num_peers_asked` were asked already (linear, capped at 2 s).
    pub fn retry_delay_demand(&self, num_peers_asked: usize) -> Duration {
        let n = u32::try_from(num_peers_asked).unwrap_or(u32::MAX);
        self.flood_demand_backoff_delay
            .saturating_mul(n)
            .min(MAX_DELAY_DEMAND)
    }

    /// Our hard cap on remembered demands (core has none): one full
    /// [`max_demand_size`](Self::max_demand_size) budget every demand period across the
    /// whole retention window — 88 × 300 = 26 400 with the defaults — and never more than
    /// [`MAX_DEMAND_HISTORY`] whatever the period.
    pub fn max_demand_history(&self) -> usize {
        let periods =
            millis(DEMAND_HISTORY_RETENTION).div_ceil(millis(self.flood_demand_period).max(1));
        self.max_demand_size()
            .saturating_mul(usize::try_from(periods).unwrap_or(usize::MAX))
            .min(MAX_DEMAND_HISTORY)
    }
}

/// Where a remembered advert sits in [`AdvertHistory`].
#[derive(Debug, Clone, Copy)]
struct AdvertSlot {
    ledger: u32,
    last_access: u64,
    index: usize,
}

/// stellar-core's `RandomEvictionCache<Hash, uint32_t>`: past capacity, two random entries
/// are drawn and the less recently written one is evicted (the new entry is a candidate).
/// Reads do not refresh an entry; writes do.
#[derive(Debug)]
struct AdvertHistory {
    slots: HashIndex<AdvertSlot>,
    /// The same keys, indexable for uniform random draws.
    keys: Vec<Hash>,
    generation: u64,
    capacity: usize,
    rng: Rng,
}

impl AdvertHistory {
    fn new(capacity: usize, mut rng: Rng) -> Self {
        AdvertHistory {
            slots: hash_index(rng.next_u64()),
            keys: Vec::new(),
            generation: 0,
            capacity,
            rng,
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn contains(&self, hash: &Hash) -> bool {
        self.slots.contains_key(hash)
    }

    fn put(&mut self, hash: Hash, ledger: u32) {
        self.generation += 1;
        if let Some(slot) = self.slots.get_mut(&hash) {
            slot.ledger = ledger;
            slot.last_access = self.generation;
            return;
        }
        self.slots.insert(
            hash,
            AdvertSlot {
                ledger,
                last_access: self.generation,
                index: self.keys.len(),
            },
        );
        self.keys.push(hash);
        while self.keys.len() > self.capacity {
            self.evict_one();
        }
    }

    fn last_access(&self, index: usize) -> u64 {
        self.keys
            .get(index)
            .and_then(|k| self.slots.get(k))
            .map_or(0, |s| s.last_access)
    }

    fn evict_one(&mut self) {
        let len = self.keys.len();
        if len == 0 {
            return;
        }
        let a = self.rng.index(len);
        let b = self.rng.index(len);
        let victim = if self.last_access(a) < self.last_access(b) {
            a
        } else {
            b
        };
        let hash = self.keys.swap_remove(victim);
        self.slots.remove(&hash);
        if let Some(moved) = self.keys.get(victim)
            && let Some(slot) = self.slots.get_mut(moved)
        {
            slot.index = victim;
        }
    }

    /// The index and the key list agree.
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.slots.len(), self.keys.len());
        for (i, k) in self.keys.iter().enumerate() {
            assert_eq!(self.slots.get(k).map(|s| s.index), Some(i));
        }
    }

    /// Forgets hashes last advertised in a ledger below `ledger`.
    fn clear_below(&mut self, ledger: u32) {
        let before = self.slots.len();
        self.slots.retain(|_, s| s.ledger >= ledger);
        if self.slots.len() == before {
            return;
        }
        // Re-index what is left in the key list's order (the table's own order differs
        // between targets; the random draws must not).
        let slots = &mut self.slots;
        self.keys.retain(|k| slots.contains_key(k));
        for (i, k) in self.keys.iter().enumerate() {
            if let Some(slot) = slots.get_mut(k) {
                slot.index = i;
            }
        }
    }
}

/// What [`TxAdverts::send_advert`] did with a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendAdvert {
    /// The peer advertised this hash to us: it has the transaction, nothing queued.
    PeerKnows,
    /// Queued; the batch goes out when it fills or its timer fires.
    Queued,
    /// Queued and the batch is full: send these hashes as one FLOOD_ADVERT now.
    Flush(Vec<Hash>),
}

impl SendAdvert {
    /// Whether the hash was advertised (counts towards `overlay.flood.advertised`).
    pub fn is_advertised(&self) -> bool {
        !matches!(self, SendAdvert::PeerKnows)
    }
}

/// Per-peer pull-mode counters (stellar-core `Peer::PeerMetrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerPullStats {
    /// `mDemandTimeouts`: hashes demanded from this peer after another peer did not
    /// deliver in time.
    pub demand_timeouts: u64,
    /// `mTxDemandSent`: FLOOD_DEMAND messages produced for this peer.
    pub tx_demand_sent: u64,
}

/// One connection's adverts (stellar-core `TxAdverts`): hashes we will advertise to the
/// peer, and hashes the peer advertised to us that we may demand.
///
/// Bounds: outgoing batch ≤ [`PullConfig::max_advert_size`] ≤ 1000; incoming queue
/// (pending + retry) ≤ [`PullConfig::advert_queue_limit`] (`L`); advert history ≤
/// [`ADVERT_CACHE_SIZE`].
#[derive(Debug)]
pub struct TxAdverts {
    /// Advertised to us, never tried yet; FIFO.
    incoming: VecDeque<Hash>,
    /// Tried, to be demanded again later; FIFO, popped before `incoming`.
    retry: VecDeque<Hash>,
    /// Every hash this peer advertised to us, with the ledger it did.
    history: AdvertHistory,
    outgoing: Vec<Hash>,
    /// When the outgoing batch is due: one advert period after its first hash.
    flush_at: Option<Instant>,
    stats: PeerPullStats,
}

impl TxAdverts {
    /// A connection's empty advert state. `rng` seeds the history's own eviction stream, so
    /// one peer's traffic does not perturb another's choices.
    pub fn new(rng: &mut Rng) -> Self {
        Self::with_history_capacity(ADVERT_CACHE_SIZE, rng)
    }

    fn with_history_capacity(capacity: usize, rng: &mut Rng) -> Self {
        TxAdverts {
            incoming: VecDeque::new(),
            retry: VecDeque::new(),
            history: AdvertHistory::new(capacity, Rng::from_u64(rng.next_u64())),
            outgoing: Vec::new(),
            flush_at: None,
            stats: PeerPullStats::default(),
        }
    }

    // ---- outgoing ----

    /// `seenAdvert`: the peer advertised `hash` to us, so it has the transaction and must
    /// not be sent an advert for it.
    pub fn peer_knows(&self, hash: &Hash) -> bool {
        self.history.contains(hash)
    }

    /// `Peer::sendAdvert`: advertise `hash` unless the peer already knows it.
    pub fn send_advert(&mut self, cfg: &PullConfig, hash: Hash, now: Instant) -> SendAdvert {
        if self.peer_knows(&hash) {
            return SendAdvert::PeerKnows;
        }
        match self.queue_advert(cfg, hash, now) {
            Some(batch) => SendAdvert::Flush(batch),
            None => SendAdvert::Queued,
        }
    }

    /// `queueOutgoingAdvert`: adds `hash` to the outgoing batch (no history check). The
    /// first hash starts the advert timer; a batch that reaches
    /// [`PullConfig::max_advert_size`] is returned to be sent now.
    pub fn queue_advert(
        &mut self,
        cfg: &PullConfig,
        hash: Hash,
        now: Instant,
    ) -> Option<Vec<Hash>> {
        if self.outgoing.is_empty() {
            self.flush_at = Some(now + cfg.flood_advert_period);
        }
        self.outgoing.push(hash);
        if self.outgoing.len() >= cfg.max_advert_size() {
            return self.flush();
        }
        None
    }

    /// When the outgoing batch is due, if one is waiting.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.flush_at
    }

    /// The outgoing batch, once its advert period has passed: send it as one FLOOD_ADVERT.
    pub fn take_ready(&mut self, now: Instant) -> Option<Vec<Hash>> {
        match self.flush_at {
            Some(at) if now >= at => self.flush(),
            _ => None,
        }
    }

    /// Hashes waiting in the outgoing batch.
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    fn flush(&mut self) -> Option<Vec<Hash>> {
        self.flush_at = None;
        if self.outgoing.is_empty() {
            return None;
        }
        Some(core::mem::take(&mut self.outgoing))
    }

    // ---- incoming ----

    /// `queueIncomingAdvert`: a FLOOD_ADVERT from this peer, received while the herder
    /// tracks `ledger_seq`. Every hash is remembered; all are queued for demanding, and
    /// the queue keeps only its newest `L` (an advert longer than `L` keeps its last `L`;
    /// older hashes go first, retries before pending).
    pub fn receive_advert<'a>(
        &mut self,
        cfg: &PullConfig,
        hashes: impl IntoIterator<Item = &'a Hash>,
        ledger_seq: u32,
    ) {
        let limit = cfg.advert_queue_limit();
        for hash in hashes {
            self.history.put(*hash, ledger_seq);
            // Trimming per hash never lets the queue pass `L` and drops the same hashes as
            // core's skip-then-trim.
            self.incoming.push_back(*hash);
            self.trim(limit);
        }
    }

    /// `retryIncomingAdvert`: hashes to demand again later, ahead of the pending ones;
    /// the queue is trimmed to `L` again (oldest retries first).
    pub fn retry_incoming(&mut self, cfg: &PullConfig, hashes: impl IntoIterator<Item = Hash>) {
        let limit = cfg.advert_queue_limit();
        for hash in hashes {
            self.retry.push_back(hash);
            self.trim(limit);
        }
    }

    fn trim(&mut self, limit: usize) {
        while self.incoming_len() > limit {
            if self.pop_incoming().is_none() {
                break;
            }
        }
    }

    /// `popIncomingAdvert`: the next hash to consider demanding, retries first.
    pub fn pop_incoming(&mut self) -> Option<Hash> {
        self.retry.pop_front().or_else(|| self.incoming.pop_front())
    }

    /// `hasAdvert`: anything left to consider demanding.
    pub fn has_advert(&self) -> bool {
        !self.retry.is_empty() || !self.incoming.is_empty()
    }

    /// Hashes waiting to be demanded (pending + retry).
    pub fn incoming_len(&self) -> usize {
        self.retry.len() + self.incoming.len()
    }

    /// `clearBelow`: forget hashes last advertised in a ledger below `ledger_seq`.
    pub fn clear_below(&mut self, ledger_seq: u32) {
        self.history.clear_below(ledger_seq);
    }

    /// Hashes remembered as advertised by this peer.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    pub fn stats(&self) -> &PeerPullStats {
        &self.stats
    }
}

/// What the demand rules say about one hash from one peer (`DemandStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DemandStatus {
    Demand,
    RetryLater,
    Discard,
}

/// A demanded hash (`DemandHistory`).
#[derive(Debug)]
struct DemandRecord<K> {
    first_demanded: Instant,
    last_demanded: Instant,
    /// Peers asked and when; at most [`MAX_RETRY_COUNT`] (the 16th is never asked).
    peers: Vec<(K, Instant)>,
    latency_recorded: bool,
}

/// Timer statistics (medida timers reduced to what a sans-IO core can keep exactly).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyStats {
    pub count: u64,
    pub sum: Duration,
    pub max: Duration,
}

impl LatencyStats {
    fn record(&mut self, d: Duration) {
        self.count += 1;
        self.sum = self.sum.saturating_add(d);
        self.max = self.max.max(d);
    }
}

/// Node-wide pull-mode counters, under stellar-core's metric names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullMetrics {
    /// `overlay.flood.advertised`: hashes queued as adverts. Counted by the overlay for
    /// each [`SendAdvert::is_advertised`] (the floodgate's meter in core).
    pub advertised: u64,
    /// `overlay.flood.demanded`: hashes demanded (not messages).
    pub demanded: u64,
    /// `overlay.flood.fulfilled`: demanded hashes we answered with a TRANSACTION.
    pub fulfilled: u64,
    /// `overlay.flood.unfulfilled-banned`: demanded hashes we hold as banned.
    pub unfulfilled_banned: u64,
    /// `overlay.flood.unfulfilled-unknown`: demanded hashes we do not know.
    pub unfulfilled_unknown: u64,
    /// `overlay.flood.abandoned-demands`: demand records dropped before the transaction
    /// arrived.
    pub abandoned_demands: u64,
    /// `overlay.demand.timeout`: re-demands from another peer.
    pub demand_timeouts: u64,
    /// `overlay.flood.tx-pull-latency`: first demand → first arrival.
    pub tx_pull_latency: LatencyStats,
    /// `overlay.flood.peer-tx-pull-latency`: demand from a peer → arrival from it.
    pub peer_tx_pull_latency: LatencyStats,
}

/// How we answered one hash of a FLOOD_DEMAND (`TxDemandsManager::recvTxDemand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemandServed {
    /// The queue holds it: a TRANSACTION was sent.
    Fulfilled,
    /// Banned: nothing sent.
    UnfulfilledBanned,
    /// Unknown: nothing sent (no DONT_HAVE for transactions).
    UnfulfilledUnknown,
}

/// Latencies of a pulled transaction (`recordTxPullLatency`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullLatency {
    /// Since the first demand, on the first arrival only.
    pub total: Option<Duration>,
    /// Since it was demanded from the sender, if it was (feeds the peer's pull latency).
    pub peer: Option<Duration>,
}

/// The node's demand schedule (stellar-core `TxDemandsManager`). `K` names a peer in the
/// demand history: [`ConnId`] by default; `NodeId` reproduces core across reconnects.
///
/// Bounds: records ≤ [`PullConfig::max_demand_history`], each kept at most
/// [`DEMAND_HISTORY_RETENTION`]; peers per record ≤ [`MAX_RETRY_COUNT`]; per peer per
/// period ≤ [`PullConfig::max_demand_size`] hashes.
#[derive(Debug)]
pub struct TxDemands<K = ConnId> {
    history: HashIndex<DemandRecord<K>>,
    /// The same hashes in first-demand order, for expiry.
    pending: VecDeque<Hash>,
    next_demand: Instant,
    metrics: PullMetrics,
}

impl<K: Ord + Copy> TxDemands<K> {
    /// The first demand round is due at `now` (core demands as soon as it starts). `seed`
    /// keys the history's hashing (see [`crate::index`]).
    pub fn new(now: Instant, seed: u64) -> Self {
        TxDemands {
            history: hash_index(seed),
            pending: VecDeque::new(),
            next_demand: now,
            metrics: PullMetrics::default(),
        }
    }

    /// When [`demand`](Self::demand) is next due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_demand
    }

    /// One demand round (`TxDemandsManager::demand`), if due; otherwise nothing happens and
    /// nothing is returned. Returns one FLOOD_DEMAND per peer with something to demand, in
    /// the round's (shuffled) peer order.
    ///
    /// `peers` are the authenticated peers with their advert state; the slice is shuffled
    /// in place. `is_known_or_banned` answers whether the herder holds or has banned a
    /// transaction. Rounds give each peer at most one new demand until none can add more,
    /// so demands for a hash several peers advertised spread across them.
    pub fn demand<A: BorrowMut<TxAdverts>>(
        &mut self,
        cfg: &PullConfig,
        now: Instant,
        peers: &mut [(K, A)],
        mut is_known_or_banned: impl FnMut(&Hash) -> bool,
        rng: &mut Rng,
    ) -> Vec<(K, Vec<Hash>)> {
        if now < self.next_demand {
            return Vec::new();
        }
        self.next_demand = now + cfg.flood_demand_period;
        self.purge_obsolete(now);

        // Random order so no peer always gets the first pick (core shuffles its list).
        rng.shuffle(peers);
        let max_demand_size = cfg.max_demand_size();
        let max_history = cfg.max_demand_history();
        // Per peer: (demand, retry). Retries sit out the rest of this round.
        let mut lists: Vec<(Vec<Hash>, Vec<Hash>)> = Vec::new();
        lists.resize_with(peers.len(), Default::default);

        let mut any_new_demand = true;
        while any_new_demand {
            any_new_demand = false;
            for ((key, adverts), (demand, retry)) in peers.iter_mut().zip(lists.iter_mut()) {
                let adverts = adverts.borrow_mut();
                let mut added = false;
                while !added && demand.len() < max_demand_size {
                    let Some(hash) = adverts.pop_incoming() else {
                        break;
                    };
                    match self.demand_status(cfg, now, &hash, key, &mut is_known_or_banned) {
                        DemandStatus::Demand => {
                            self.note_demand(hash, *key, now, max_history, adverts);
                            demand.push(hash);
                            added = true;
                        }
                        DemandStatus::RetryLater => retry.push(hash),
                        DemandStatus::Discard => {}
                    }
                }
                any_new_demand |= added;
            }
        }

        let mut out = Vec::new();
        for ((key, adverts), (demand, retry)) in peers.iter_mut().zip(lists) {
            let adverts = adverts.borrow_mut();
            adverts.retry_incoming(cfg, retry);
            if !demand.is_empty() {
                self.metrics.demanded += demand.len() as u64;
                adverts.stats.tx_demand_sent += 1;
                out.push((*key, demand));
            }
        }
        out
    }

    /// `demandStatus`.
    fn demand_status(
        &self,
        cfg: &PullConfig,
        now: Instant,
        hash: &Hash,
        peer: &K,
        is_known_or_banned: &mut impl FnMut(&Hash) -> bool,
    ) -> DemandStatus {
        if is_known_or_banned(hash) {
            return DemandStatus::Discard;
        }
        let Some(record) = self.history.get(hash) else {
            return DemandStatus::Demand;
        };
        if record.peers.iter().any(|(k, _)| k == peer) {
            return DemandStatus::Discard;
        }
        let asked = record.peers.len();
        if asked >= MAX_RETRY_COUNT {
            return DemandStatus::Discard;
        }
        if now - record.last_demanded >= cfg.retry_delay_demand(asked) {
            DemandStatus::Demand
        } else {
            DemandStatus::RetryLater
        }
    }

    fn note_demand(
        &mut self,
        hash: Hash,
        peer: K,
        now: Instant,
        max_history: usize,
        adverts: &mut TxAdverts,
    ) {
        if let Some(record) = self.history.get_mut(&hash) {
            // Someone else was asked and did not deliver in time.
            self.metrics.demand_timeouts += 1;
            adverts.stats.demand_timeouts += 1;
            record.peers.push((peer, now));
            record.last_demanded = now;
            return;
        }
        while self.history.len() >= max_history.max(1) {
            if !self.drop_oldest() {
                break;
            }
        }
        self.history.insert(
            hash,
            DemandRecord {
                first_demanded: now,
                last_demanded: now,
                peers: alloc::vec![(peer, now)],
                latency_recorded: false,
            },
        );
        self.pending.push_back(hash);
    }

    /// Drops records whose first demand is [`DEMAND_HISTORY_RETENTION`] old.
    fn purge_obsolete(&mut self, now: Instant) {
        while let Some(front) = self.pending.front() {
            let expired = self
                .history
                .get(front)
                .is_none_or(|r| now - r.first_demanded >= DEMAND_HISTORY_RETENTION);
            if !expired || !self.drop_oldest() {
                break;
            }
        }
    }

    fn drop_oldest(&mut self) -> bool {
        let Some(hash) = self.pending.pop_front() else {
            return false;
        };
        if let Some(record) = self.history.remove(&hash)
            && !record.latency_recorded
        {
            self.metrics.abandoned_demands += 1;
        }
        true
    }

    /// `recordTxPullLatency`: a TRANSACTION with this full hash arrived from `from`.
    /// Records the end-to-end latency on its first arrival and the per-peer latency
    /// whenever the sender is a peer we demanded it from.
    pub fn record_tx_pull_latency(&mut self, hash: &Hash, from: K, now: Instant) -> PullLatency {
        let mut latency = PullLatency::default();
        let Some(record) = self.history.get_mut(hash) else {
            return latency;
        };
        if !record.latency_recorded {
            let d = now - record.first_demanded;
            record.latency_recorded = true;
            self.metrics.tx_pull_latency.record(d);
            latency.total = Some(d);
        }
        if let Some((_, asked_at)) = record.peers.iter().find(|(k, _)| *k == from) {
            let d = now - *asked_at;
            self.metrics.peer_tx_pull_latency.record(d);
            latency.peer = Some(d);
        }
        latency
    }

    /// Counts how one demanded hash from a peer was answered.
    pub fn record_served(&mut self, served: DemandServed) {
        match served {
            DemandServed::Fulfilled => self.metrics.fulfilled += 1,
            DemandServed::UnfulfilledBanned => self.metrics.unfulfilled_banned += 1,
            DemandServed::UnfulfilledUnknown => self.metrics.unfulfilled_unknown += 1,
        }
    }

    /// Whether `hash` has a demand record (demanded within the retention window).
    pub fn is_demanded(&self, hash: &Hash) -> bool {
        self.history.contains_key(hash)
    }

    /// Demand records kept.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    pub fn metrics(&self) -> &PullMetrics {
        &self.metrics
    }

    /// For the counters the overlay observes itself (`advertised`).
    pub fn metrics_mut(&mut self) -> &mut PullMetrics {
        &mut self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::{BTreeMap, BTreeSet};
    use alloc::vec;

    fn h(i: u32) -> Hash {
        let mut x = [0u8; 32];
        x[..4].copy_from_slice(&i.to_be_bytes());
        x[31] = 0xA5;
        x
    }

    fn hashes(range: core::ops::Range<u32>) -> Vec<Hash> {
        range.map(h).collect()
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn adverts(seed: u64) -> TxAdverts {
        TxAdverts::new(&mut Rng::from_u64(seed))
    }

    fn cfg_with_l(l: u32) -> PullConfig {
        PullConfig {
            max_tx_set_size_ops: l,
            ..PullConfig::default()
        }
    }

    fn drain(a: &mut TxAdverts) -> Vec<Hash> {
        core::iter::from_fn(|| a.pop_incoming()).collect()
    }

    // ---------------------------------------------------------------- sizing

    #[test]
    fn defaults_match_stellar_core() {
        let cfg = PullConfig::default();
        assert_eq!(cfg.flood_advert_period, Duration::from_millis(100));
        assert_eq!(cfg.flood_demand_period, Duration::from_millis(200));
        assert_eq!(cfg.flood_demand_backoff_delay, Duration::from_millis(500));
        assert_eq!(MAX_DELAY_DEMAND, Duration::from_secs(2));
        assert_eq!(
            DEMAND_HISTORY_RETENTION,
            MAX_DELAY_DEMAND * (MAX_RETRY_COUNT as u32) * 2
        );
        assert_eq!(DEMAND_HISTORY_RETENTION, Duration::from_secs(60));
        assert_eq!(ADVERT_CACHE_SIZE, 50_000);
        assert_eq!(TX_ADVERT_VECTOR_MAX_SIZE, 1000);
        assert_eq!(TX_DEMAND_VECTOR_MAX_SIZE, 1000);
        assert_eq!(cfg.max_queue_size_ops(), 2000);
        assert_eq!(cfg.max_queue_size_soroban_ops(), 200);
        // ceil((1000 + 100) × 100 / 5000) = 22
        assert_eq!(cfg.max_advert_size(), 22);
        // ceil((2000 + 200) × 200 / 5000) = 88
        assert_eq!(cfg.max_demand_size(), 88);
        assert_eq!(cfg.advert_queue_limit(), 1000);
        assert_eq!(cfg.max_demand_history(), 88 * 300);
    }

    #[test]
    fn sizes_round_up_and_clamp() {
        let base = PullConfig {
            soroban_ledger_max_tx_count: 0,
            ..PullConfig::default()
        };
        // Nothing to flood still allows one hash.
        let zero = PullConfig {
            max_tx_set_size_ops: 0,
            ..base
        };
        assert_eq!(zero.max_advert_size(), 1);
        assert_eq!(zero.max_demand_size(), 1);
        // 50 × 100 / 5000 = 1 exactly; 51 rounds up to 2.
        assert_eq!(cfg_with_l(50).max_advert_size(), 3); // Soroban term: (50+100)×100/5000
        assert_eq!(
            PullConfig {
                max_tx_set_size_ops: 50,
                ..base
            }
            .max_advert_size(),
            1
        );
        assert_eq!(
            PullConfig {
                max_tx_set_size_ops: 51,
                ..base
            }
            .max_advert_size(),
            2
        );
        assert_eq!(
            PullConfig {
                max_tx_set_size_ops: 1,
                ..base
            }
            .max_advert_size(),
            1
        );
        // Demand: 37 × 2 × 200 / 5000 = 2.96 → 3.
        assert_eq!(
            PullConfig {
                max_tx_set_size_ops: 37,
                ..base
            }
            .max_demand_size(),
            3
        );
        // Huge networks clamp to the XDR bound.
        let huge = cfg_with_l(TX_ADVERT_VECTOR_MAX_SIZE as u32 * 100);
        assert_eq!(huge.max_advert_size(), 1000);
        assert_eq!(huge.max_demand_size(), 1000);
        assert_eq!(huge.max_demand_history(), 300_000);
        let max = PullConfig {
            max_tx_set_size_ops: u32::MAX,
            soroban_ledger_max_tx_count: u32::MAX,
            transaction_queue_size_multiplier: u32::MAX,
            soroban_transaction_queue_size_multiplier: u32::MAX,
            flood_op_rate_per_ledger: f64::MAX,
            flood_soroban_rate_per_ledger: f64::MAX,
            flood_demand_period: Duration::MAX,
            flood_advert_period: Duration::MAX,
            ..PullConfig::default()
        };
        assert_eq!(max.max_advert_size(), 1000);
        assert_eq!(max.max_demand_size(), 1000);
        // A zero close time does not divide by zero.
        let no_close = PullConfig {
            expected_ledger_close: Duration::ZERO,
            ..PullConfig::default()
        };
        assert_eq!(no_close.max_advert_size(), 1000);
        assert_eq!(no_close.max_demand_size(), 1000);
        // A zero demand period: one hash per call, history still bounded.
        let no_period = PullConfig {
            flood_demand_period: Duration::ZERO,
            ..PullConfig::default()
        };
        assert_eq!(no_period.max_demand_size(), 1);
        assert_eq!(no_period.max_demand_history(), 60_000);
        let tiny_period = PullConfig {
            flood_demand_period: Duration::from_millis(1),
            ..huge
        };
        assert_eq!(tiny_period.max_demand_size(), 41); // ceil(200 200 / 5000)
        assert_eq!(tiny_period.max_demand_history(), MAX_DEMAND_HISTORY);
        // Faster ledgers flood more per period.
        let fast = PullConfig {
            expected_ledger_close: Duration::from_millis(2500),
            ..PullConfig::default()
        };
        assert_eq!(fast.max_advert_size(), 44);
        assert_eq!(fast.max_demand_size(), 176);
    }

    #[test]
    fn flood_rates_truncate_like_core() {
        let half = PullConfig {
            flood_op_rate_per_ledger: 0.5,
            flood_soroban_rate_per_ledger: 0.5,
            ..PullConfig::default()
        };
        // (500 + 50) × 100 / 5000 = 11; (1000 + 100) × 200 / 5000 = 44
        assert_eq!(half.max_advert_size(), 11);
        assert_eq!(half.max_demand_size(), 44);
        // Same truncation as core's double product: 0.29 × 100 is 28.999… → 28.
        assert_eq!(ops_flood_ledger(100, 0.29), 28);
        assert_eq!(ops_flood_ledger(1000, 1.0), 1000);
        assert_eq!(ops_flood_ledger(1000, -1.0), 0);
        assert_eq!(ops_flood_ledger(1000, f64::NAN), 0);
        assert_eq!(ops_flood_ledger(u64::MAX, f64::INFINITY), u64::MAX);
        let odd = PullConfig {
            flood_op_rate_per_ledger: f64::NAN,
            flood_soroban_rate_per_ledger: -3.0,
            ..PullConfig::default()
        };
        assert_eq!(odd.max_advert_size(), 1);
        assert_eq!(odd.max_demand_size(), 1);
    }

    #[test]
    fn retry_delay_is_linear_and_capped() {
        let cfg = PullConfig::default();
        assert_eq!(cfg.retry_delay_demand(0), Duration::ZERO);
        assert_eq!(cfg.retry_delay_demand(1), Duration::from_millis(500));
        assert_eq!(cfg.retry_delay_demand(2), Duration::from_millis(1000));
        assert_eq!(cfg.retry_delay_demand(3), Duration::from_millis(1500));
        assert_eq!(cfg.retry_delay_demand(4), Duration::from_secs(2));
        assert_eq!(cfg.retry_delay_demand(14), Duration::from_secs(2));
        assert_eq!(cfg.retry_delay_demand(usize::MAX), Duration::from_secs(2));
    }

    // ---------------------------------------------------------------- incoming adverts

    /// stellar-core `TxAdvertsTests` "incoming adverts".
    #[test]
    fn incoming_queue_is_capped_and_retries_pop_first() {
        let cfg = cfg_with_l(200);
        let limit = 200u32;
        let mut a = adverts(1);

        a.receive_advert(&cfg, &hashes(0..limit), 1);
        assert_eq!(a.incoming_len(), 200);
        // Retries push the queue past L: the oldest retries go first, i.e. all of them.
        a.retry_incoming(&cfg, hashes(limit..2 * limit));
        assert_eq!(a.incoming_len(), 200);
        assert_eq!(drain(&mut a), hashes(0..limit));
        assert!(!a.has_advert());

        a.receive_advert(&cfg, &hashes(0..limit / 2), 1);
        a.retry_incoming(&cfg, hashes(limit..limit + limit / 2));
        assert_eq!(a.incoming_len(), 200);
        let mut expect = hashes(limit..limit + limit / 2);
        expect.extend(hashes(0..limit / 2));
        assert_eq!(drain(&mut a), expect);
        assert_eq!(a.incoming_len(), 0);
        assert_eq!(a.pop_incoming(), None);
    }

    #[test]
    fn advert_longer_than_l_keeps_its_last_l_but_remembers_all() {
        let cfg = cfg_with_l(200);
        let mut a = adverts(2);
        a.retry_incoming(&cfg, hashes(5000..5010));
        a.receive_advert(&cfg, &hashes(0..50), 3);
        a.receive_advert(&cfg, &hashes(1000..2000), 3);
        assert_eq!(a.incoming_len(), 200);
        assert_eq!(drain(&mut a), hashes(1800..2000));
        assert_eq!(a.history_len(), 1000 + 50);
        assert!(a.peer_knows(&h(0)));
        assert!(a.peer_knows(&h(1000)));
        // Retried hashes were ours to retry, never advertised by the peer.
        assert!(!a.peer_knows(&h(5000)));
    }

    #[test]
    fn overflow_pops_oldest_retry_first() {
        let cfg = cfg_with_l(4);
        let mut a = adverts(3);
        a.receive_advert(&cfg, &[h(10), h(11)], 1);
        a.retry_incoming(&cfg, [h(0), h(1)]);
        a.receive_advert(&cfg, &[h(12)], 1);
        assert_eq!(a.incoming_len(), 4);
        assert_eq!(drain(&mut a), [h(1), h(10), h(11), h(12)]);

        a.receive_advert(&cfg, &[h(10), h(11)], 1);
        a.retry_incoming(&cfg, [h(0), h(1)]);
        a.receive_advert(&cfg, &[h(12), h(13), h(14)], 1);
        assert_eq!(drain(&mut a), [h(11), h(12), h(13), h(14)]);
    }

    #[test]
    fn zero_limit_queues_nothing() {
        let cfg = cfg_with_l(0);
        let mut a = adverts(4);
        a.receive_advert(&cfg, &hashes(0..10), 1);
        a.retry_incoming(&cfg, hashes(10..20));
        assert!(!a.has_advert());
        assert_eq!(a.pop_incoming(), None);
        assert_eq!(a.history_len(), 10);
    }

    #[test]
    fn advert_history_is_bounded_by_the_cache_size() {
        let cfg = cfg_with_l(100);
        let mut a = adverts(5);
        for chunk in 0..60 {
            a.receive_advert(&cfg, &hashes(chunk * 1000..(chunk + 1) * 1000), 1);
            assert!(a.history_len() <= ADVERT_CACHE_SIZE);
        }
        assert_eq!(a.history_len(), ADVERT_CACHE_SIZE);
        assert!(a.incoming_len() <= 100);
    }

    #[test]
    fn random_eviction_prefers_older_entries_and_is_deterministic() {
        let run = |seed| {
            let mut rng = Rng::from_u64(seed);
            let mut a = TxAdverts::with_history_capacity(64, &mut rng);
            let cfg = cfg_with_l(10);
            for i in 0..1000 {
                a.receive_advert(&cfg, &[h(i)], 1);
                assert!(a.history_len() <= 64);
                if i % 2 == 0 {
                    // Re-advertising refreshes an entry without growing the cache.
                    a.receive_advert(&cfg, &[h(i / 2)], 1);
                }
                a.history.check();
            }
            (0..1000)
                .filter(|i| a.peer_knows(&h(*i)))
                .collect::<Vec<u32>>()
        };
        let kept = run(9);
        assert_eq!(kept.len(), 64);
        assert_eq!(kept, run(9));
        assert_ne!(kept, run(10));
        // Two-candidate LRU eviction keeps mostly recent entries.
        let recent = kept.iter().filter(|i| **i >= 900).count();
        assert!(recent > 32, "recent survivors: {recent}");
        // The newest entry survives unless both draws hit it.
        assert!(kept.contains(&999));
    }

    #[test]
    fn clear_below_prunes_by_last_advertised_ledger() {
        let cfg = cfg_with_l(100);
        let mut rng = Rng::from_u64(6);
        let mut a = TxAdverts::with_history_capacity(12, &mut rng);
        a.receive_advert(&cfg, &hashes(0..2), 1);
        a.receive_advert(&cfg, &hashes(10..20), 5);
        // Re-advertised: the ledger is updated.
        a.receive_advert(&cfg, &[h(0)], 6);
        assert_eq!(a.history_len(), 12);
        a.clear_below(5);
        assert_eq!(a.history_len(), 11);
        assert!(a.peer_knows(&h(0)));
        assert!(!a.peer_knows(&h(1)));
        assert!(a.peer_knows(&h(10)));
        // The queue is not touched by pruning.
        assert_eq!(a.incoming_len(), 13);
        // Re-indexed history still evicts correctly past its capacity.
        a.receive_advert(&cfg, &hashes(100..120), 7);
        assert_eq!(a.history_len(), 12);
        a.history.check();
        a.clear_below(8);
        assert_eq!(a.history_len(), 0);
        a.clear_below(0);
        assert_eq!(a.history_len(), 0);
    }

    // ---------------------------------------------------------------- outgoing adverts

    /// `TxAdvertsTests` "flush advert after some time".
    #[test]
    fn outgoing_batch_flushes_on_its_timer() {
        let cfg = PullConfig::default();
        let mut a = adverts(7);
        assert_eq!(a.poll_timeout(), None);
        assert_eq!(a.take_ready(ms(1000)), None);
        assert_eq!(a.queue_advert(&cfg, h(0), ms(10)), None);
        assert_eq!(a.poll_timeout(), Some(ms(110)));
        // A later hash does not restart the timer.
        assert_eq!(a.queue_advert(&cfg, h(1), ms(60)), None);
        assert_eq!(a.poll_timeout(), Some(ms(110)));
        assert_eq!(a.outgoing_len(), 2);
        assert_eq!(a.take_ready(ms(109)), None);
        assert_eq!(a.take_ready(ms(110)), Some(vec![h(0), h(1)]));
        assert_eq!(a.outgoing_len(), 0);
        assert_eq!(a.poll_timeout(), None);
        assert_eq!(a.take_ready(ms(500)), None);
        // The next hash starts a new period.
        assert_eq!(a.queue_advert(&cfg, h(2), ms(500)), None);
        assert_eq!(a.poll_timeout(), Some(ms(600)));
    }

    /// `TxAdvertsTests` "flush advert when at capacity".
    #[test]
    fn outgoing_batch_flushes_at_max_advert_size() {
        let cfg = PullConfig::default();
        let max = cfg.max_advert_size();
        let mut a = adverts(8);
        for i in 0..max as u32 - 1 {
            assert_eq!(a.queue_advert(&cfg, h(i), ms(0)), None);
        }
        assert_eq!(a.outgoing_len(), max - 1);
        let batch = a.queue_advert(&cfg, h(max as u32), ms(1));
        assert_eq!(batch.map(|b| b.len()), Some(max));
        assert_eq!(a.outgoing_len(), 0);
        assert_eq!(a.poll_timeout(), None);
    }

    /// `TxAdvertsTests` "ensure outgoing queue is capped".
    #[test]
    fn outgoing_batch_never_exceeds_the_xdr_bound() {
        let cfg = cfg_with_l(TX_ADVERT_VECTOR_MAX_SIZE as u32 * 100);
        assert!(cfg.max_advert_size() <= TX_ADVERT_VECTOR_MAX_SIZE);
        let mut a = adverts(9);
        let mut batches = Vec::new();
        for i in 0..2 * TX_ADVERT_VECTOR_MAX_SIZE as u32 + 5 {
            if let Some(b) = a.queue_advert(&cfg, h(i), ms(0)) {
                batches.push(b.len());
            }
            assert!(a.outgoing_len() < TX_ADVERT_VECTOR_MAX_SIZE);
        }
        assert_eq!(batches, [1000, 1000]);
        assert_eq!(a.outgoing_len(), 5);
    }

    #[test]
    fn shrinking_max_advert_size_flushes_at_once() {
        let big = PullConfig::default();
        let small = cfg_with_l(100); // (100 + 100) × 100 / 5000 = 4
        assert_eq!(small.max_advert_size(), 4);
        let mut a = adverts(10);
        for i in 0..10 {
            assert_eq!(a.queue_advert(&big, h(i), ms(0)), None);
        }
        let b = a.queue_advert(&small, h(10), ms(0));
        assert_eq!(b.map(|b| b.len()), Some(11));
    }

    /// OverlayTests "do not advertise to peers that know about tx": a peer that
    /// advertised a hash to us never gets it advertised back.
    #[test]
    fn no_advert_back_to_the_source() {
        let cfg = PullConfig::default();
        let mut source = adverts(11);
        let mut other = adverts(12);
        source.receive_advert(&cfg, &[h(1)], 1);
        assert_eq!(source.send_advert(&cfg, h(1), ms(0)), SendAdvert::PeerKnows);
        assert!(!SendAdvert::PeerKnows.is_advertised());
        assert_eq!(source.outgoing_len(), 0);
        assert_eq!(other.send_advert(&cfg, h(1), ms(0)), SendAdvert::Queued);
        assert!(SendAdvert::Queued.is_advertised());
        assert_eq!(other.outgoing_len(), 1);
        // Forgotten after its ledger is pruned: advertising it back is allowed again.
        source.clear_below(2);
        assert!(source.send_advert(&cfg, h(1), ms(0)).is_advertised());
        // A full batch comes back as a flush.
        let mut full = adverts(13);
        let mut flushed = None;
        for i in 0..cfg.max_advert_size() as u32 {
            if let SendAdvert::Flush(b) = full.send_advert(&cfg, h(100 + i), ms(0)) {
                flushed = Some(b.len());
            }
        }
        assert_eq!(flushed, Some(cfg.max_advert_size()));
    }

    // ---------------------------------------------------------------- demands

    /// A node with some peers, driven tick by tick.
    struct Node {
        cfg: PullConfig,
        demands: TxDemands,
        peers: Vec<(ConnId, TxAdverts)>,
        rng: Rng,
        known: BTreeSet<Hash>,
        /// Every demand sent: (time, peer, hashes).
        sent: Vec<(Instant, ConnId, Vec<Hash>)>,
    }

    impl Node {
        fn new(cfg: PullConfig, n: u64, seed: u64) -> Self {
            let mut rng = Rng::from_u64(seed);
            let peers = (0..n)
                .map(|i| (ConnId(i), TxAdverts::new(&mut rng)))
                .collect();
            Node {
                cfg,
                demands: TxDemands::new(ms(0), 7),
                peers,
                rng,
                known: BTreeSet::new(),
                sent: Vec::new(),
            }
        }

        fn peer(&mut self, id: u64) -> &mut TxAdverts {
            let i = self
                .peers
                .iter()
                .position(|(c, _)| *c == ConnId(id))
                .expect("peer");
            &mut self.peers[i].1
        }

        fn advert(&mut self, id: u64, hs: &[Hash]) {
            let cfg = self.cfg;
            self.peer(id).receive_advert(&cfg, hs, 1);
        }

        /// Runs the demand round that is due next.
        fn tick(&mut self) -> Vec<(ConnId, Vec<Hash>)> {
            let now = self.demands.poll_timeout();
            let known = &self.known;
            let out = self.demands.demand(
                &self.cfg,
                now,
                &mut self.peers,
                |x| known.contains(x),
                &mut self.rng,
            );
            for (c, hs) in &out {
                assert!(!hs.is_empty());
                assert!(hs.len() <= self.cfg.max_demand_size());
                self.sent.push((now, *c, hs.clone()));
            }
            out
        }

        fn ticks_until(&mut self, t: Instant) {
            while self.demands.poll_timeout() <= t {
                self.tick();
            }
        }

        fn messages(&self) -> usize {
            self.sent.len()
        }

        fn demanded_from(&self, id: u64) -> Vec<Hash> {
            self.sent
                .iter()
                .filter(|(_, c, _)| *c == ConnId(id))
                .flat_map(|(_, _, hs)| hs.iter().copied())
                .collect()
        }
    }

    /// OverlayTests "sanity check - demand".
    #[test]
    fn demand_sanity() {
        let mut n = Node::new(PullConfig::default(), 2, 1);
        n.advert(0, &[h(0)]);
        n.advert(1, &[h(1)]);
        n.tick();
        assert_eq!(n.messages(), 2);
        assert_eq!(n.demanded_from(0), [h(0)]);
        assert_eq!(n.demanded_from(1), [h(1)]);
        assert_eq!(n.demands.metrics().demanded, 2);
        assert_eq!(n.demands.poll_timeout(), ms(200));
        assert_eq!(n.peer(0).stats().tx_demand_sent, 1);
        assert_eq!(n.peer(0).stats().demand_timeouts, 0);
    }

    /// OverlayTests "ignore duplicated adverts".
    #[test]
    fn duplicate_adverts_are_demanded_once() {
        let mut n = Node::new(PullConfig::default(), 1, 2);
        for _ in 0..3 {
            n.advert(0, &[h(0)]);
        }
        n.ticks_until(ms(600));
        assert_eq!(n.messages(), 1);
        // Long enough for back-offs to pass, short of the 60 s history.
        n.ticks_until(ms(10_600));
        n.advert(0, &[h(0)]);
        n.ticks_until(ms(11_200));
        assert_eq!(n.messages(), 1);
        assert_eq!(n.demands.metrics().demanded, 1);
        assert!(!n.peer(0).has_advert());
    }

    /// OverlayTests "exact same advert from two peers".
    #[test]
    fn same_advert_from_two_peers_splits_then_backs_off() {
        let mut n = Node::new(PullConfig::default(), 2, 3);
        let txs = hashes(0..5);
        n.advert(0, &txs);
        n.advert(1, &txs);
        n.tick();
        assert_eq!(n.messages(), 2);
        let (a, b) = (n.demanded_from(0), n.demanded_from(1));
        assert_eq!(a.len().min(b.len()), 2);
        assert_eq!(a.len().max(b.len()), 3);
        assert!(a.iter().all(|x| !b.contains(x)), "no overlap");
        // Retries wait out the 500 ms back-off: nothing at 200 or 400 ms.
        n.ticks_until(ms(400));
        assert_eq!(n.messages(), 2);
        n.ticks_until(ms(600));
        assert_eq!(n.messages(), 4);
        let mut a = n.demanded_from(0);
        let mut b = n.demanded_from(1);
        a.sort();
        b.sort();
        assert_eq!(a, txs);
        assert_eq!(b, txs);
        assert_eq!(n.demands.metrics().demand_timeouts, 5);
        let per_peer = n.peer(0).stats().demand_timeouts + n.peer(1).stats().demand_timeouts;
        assert_eq!(per_peer, 5);
        // Both asked: nothing more, ever.
        n.ticks_until(ms(70_000));
        assert_eq!(n.messages(), 4);
    }

    /// OverlayTests "overlapping adverts".
    #[test]
    fn overlapping_adverts() {
        let mut n = Node::new(PullConfig::default(), 2, 4);
        n.advert(0, &[h(0), h(1), h(3)]);
        n.advert(1, &[h(0), h(2), h(3)]);
        n.tick();
        assert_eq!(n.messages(), 2);
        let (a, b) = (n.demanded_from(0), n.demanded_from(1));
        assert_eq!((a.len(), b.len()), (2, 2));
        assert!(a.contains(&h(1)));
        assert!(b.contains(&h(2)));
        assert!(a.iter().all(|x| !b.contains(x)));
        n.ticks_until(ms(600));
        assert_eq!(n.messages(), 4);
        let mut a = n.demanded_from(0);
        let mut b = n.demanded_from(1);
        a.sort();
        b.sort();
        assert_eq!(a, [h(0), h(1), h(3)]);
        assert_eq!(b, [h(0), h(2), h(3)]);
    }

    /// OverlayTests "randomize peers": who gets the larger share is a fair coin.
    #[test]
    fn randomized_peers_share_demands_fairly() {
        let mut n = Node::new(PullConfig::default(), 2, 5);
        let (mut more0, mut more1) = (0, 0);
        let rounds = 300u32;
        let mut t = 0;
        for i in 0..rounds {
            let txs = hashes(i * 5..i * 5 + 5);
            n.advert(0, &txs);
            n.advert(1, &txs);
            n.ticks_until(ms(t));
            assert_eq!(n.messages(), i as usize * 4 + 2);
            let (a, b) = (n.demanded_from(0).len(), n.demanded_from(1).len());
            assert_eq!(a.max(b), i as usize * 5 + 3);
            assert_eq!(a.min(b), i as usize * 5 + 2);
            if a > b {
                more0 += 1;
            } else {
                more1 += 1;
            }
            t += 600;
            n.ticks_until(ms(t));
            assert_eq!(n.demanded_from(0).len(), (i as usize + 1) * 5);
            assert_eq!(n.demanded_from(1).len(), (i as usize + 1) * 5);
            t += 200;
        }
        assert!(more0.max(more1) <= rounds * 2 / 3, "{more0} vs {more1}");
    }

    #[test]
    fn redemands_back_off_500ms_1s_then_cap_at_2s() {
        let mut n = Node::new(PullConfig::default(), 6, 6);
        for p in 0..6 {
            n.advert(p, &[h(7)]);
        }
        n.ticks_until(ms(20_000));
        let times: Vec<u64> = n
            .sent
            .iter()
            .map(|(t, _, _)| t.as_micros() / 1000)
            .collect();
        // Gaps of ≥ 500 ms, 1 s, 1.5 s, 2 s, 2 s, rounded up to the 200 ms demand tick.
        assert_eq!(times, [0, 600, 1600, 3200, 5200, 7200]);
        let asked: BTreeSet<ConnId> = n.sent.iter().map(|(_, c, _)| *c).collect();
        assert_eq!(asked.len(), 6);
        assert_eq!(n.demands.metrics().demand_timeouts, 5);
        assert_eq!(n.demands.metrics().demanded, 6);
    }

    /// OverlayTests "overlay pull mode with many peers".
    #[test]
    fn at_most_fifteen_peers_are_asked() {
        let mut n = Node::new(PullConfig::default(), MAX_RETRY_COUNT as u64 + 5, 7);
        for p in 0..MAX_RETRY_COUNT as u64 + 5 {
            n.advert(p, &[h(1)]);
        }
        n.ticks_until(ms(10 * 60 * 1000));
        assert_eq!(n.messages(), MAX_RETRY_COUNT);
        assert_eq!(n.demands.metrics().demanded, MAX_RETRY_COUNT as u64);
        assert_eq!(
            n.demands.metrics().demand_timeouts,
            MAX_RETRY_COUNT as u64 - 1
        );
        assert!(n.peers.iter().all(|(_, a)| !a.has_advert()));
        assert_eq!(n.demands.history_len(), 0);
        assert_eq!(n.demands.metrics().abandoned_demands, 1);
    }

    #[test]
    fn demand_history_expires_after_sixty_seconds() {
        let mut n = Node::new(PullConfig::default(), 1, 8);
        n.advert(0, &[h(1), h(2)]);
        n.tick();
        assert!(n.demands.is_demanded(&h(1)));
        n.ticks_until(ms(59_800));
        assert!(n.demands.is_demanded(&h(1)));
        assert_eq!(n.demands.history_len(), 2);
        // h(2) arrived: its record goes too, but it is not abandoned.
        n.demands
            .record_tx_pull_latency(&h(2), ConnId(0), ms(30_000));
        n.ticks_until(ms(60_000));
        assert!(!n.demands.is_demanded(&h(1)));
        assert_eq!(n.demands.history_len(), 0);
        assert_eq!(n.demands.metrics().abandoned_demands, 1);
        // Forgotten: the same peer advertising it again is asked again.
        n.advert(0, &[h(1)]);
        n.tick();
        assert_eq!(n.demanded_from(0), [h(1), h(2), h(1)]);
    }

    #[test]
    fn pull_latency_total_once_and_per_peer() {
        let mut n = Node::new(PullConfig::default(), 2, 9);
        n.advert(0, &[h(1)]);
        n.advert(1, &[h(1)]);
        n.tick();
        let first = n.sent[0].1;
        let second = if first == ConnId(0) {
            ConnId(1)
        } else {
            ConnId(0)
        };
        n.ticks_until(ms(600));
        assert_eq!(n.sent[1].1, second);
        assert_eq!(n.sent[1].0, ms(600));
        let d = &mut n.demands;
        assert_eq!(
            d.record_tx_pull_latency(&h(1), second, ms(700)),
            PullLatency {
                total: Some(Duration::from_millis(700)),
                peer: Some(Duration::from_millis(100)),
            }
        );
        assert_eq!(
            d.record_tx_pull_latency(&h(1), first, ms(800)),
            PullLatency {
                total: None,
                peer: Some(Duration::from_millis(800)),
            }
        );
        // Sent by a peer we never asked, or a hash never demanded.
        assert_eq!(
            d.record_tx_pull_latency(&h(1), ConnId(9), ms(900)),
            PullLatency::default()
        );
        assert_eq!(
            d.record_tx_pull_latency(&h(2), first, ms(900)),
            PullLatency::default()
        );
        let m = d.metrics();
        assert_eq!(
            m.tx_pull_latency,
            LatencyStats {
                count: 1,
                sum: Duration::from_millis(700),
                max: Duration::from_millis(700),
            }
        );
        assert_eq!(
            m.peer_tx_pull_latency,
            LatencyStats {
                count: 2,
                sum: Duration::from_millis(900),
                max: Duration::from_millis(800),
            }
        );
        n.ticks_until(ms(61_000));
        assert_eq!(n.demands.metrics().abandoned_demands, 0);
    }

    #[test]
    fn known_or_banned_hashes_are_discarded() {
        let mut n = Node::new(PullConfig::default(), 1, 10);
        n.known.insert(h(1));
        n.advert(0, &[h(1), h(2)]);
        n.tick();
        assert_eq!(n.demanded_from(0), [h(2)]);
        assert!(!n.peer(0).has_advert());
        assert!(!n.demands.is_demanded(&h(1)));
    }

    #[test]
    fn per_peer_per_period_cap_is_max_demand_size() {
        let cfg = PullConfig::default();
        let mut n = Node::new(cfg, 1, 11);
        n.advert(0, &hashes(0..200));
        let sizes: Vec<usize> = (0..4)
            .map(|_| n.tick().first().map_or(0, |(_, hs)| hs.len()))
            .collect();
        assert_eq!(sizes, [88, 88, 24, 0]);
        assert_eq!(n.demanded_from(0), hashes(0..200));

        // The XDR bound holds for huge networks too.
        let huge = cfg_with_l(100_000);
        let mut n = Node::new(huge, 1, 12);
        for k in 0..3 {
            n.advert(0, &hashes(k * 1000..(k + 1) * 1000));
        }
        let sizes: Vec<usize> = (0..4)
            .map(|_| n.tick().first().map_or(0, |(_, hs)| hs.len()))
            .collect();
        assert_eq!(sizes, [1000, 1000, 1000, 0]);
    }

    #[test]
    fn rounds_share_the_budget_between_peers() {
        let cfg = PullConfig {
            max_tx_set_size_ops: 37,
            soroban_ledger_max_tx_count: 0,
            ..PullConfig::default()
        };
        assert_eq!(cfg.max_demand_size(), 3);
        let mut n = Node::new(cfg, 3, 13);
        n.advert(0, &hashes(0..10));
        n.advert(1, &hashes(100..110));
        n.advert(2, &[h(200)]);
        n.tick();
        assert_eq!(n.demanded_from(0), hashes(0..3));
        assert_eq!(n.demanded_from(1), hashes(100..103));
        assert_eq!(n.demanded_from(2), [h(200)]);
        // A peer whose queue holds only hashes waiting for back-off adds nothing, and
        // its retries go back to its queue.
        n.advert(2, &hashes(0..3));
        n.tick();
        assert_eq!(n.demanded_from(2), [h(200)]);
        assert_eq!(n.peer(2).incoming_len(), 3);
    }

    #[test]
    fn demand_waits_for_its_timer() {
        let mut n = Node::new(PullConfig::default(), 1, 14);
        n.tick();
        assert_eq!(n.demands.poll_timeout(), ms(200));
        n.advert(0, &[h(1)]);
        let out = n
            .demands
            .demand(&n.cfg, ms(199), &mut n.peers, |_| false, &mut n.rng);
        assert!(out.is_empty());
        assert_eq!(n.peers[0].1.incoming_len(), 1);
        // Late calls run and schedule the next round a full period later.
        let out = n
            .demands
            .demand(&n.cfg, ms(350), &mut n.peers, |_| false, &mut n.rng);
        assert_eq!(out, [(ConnId(0), vec![h(1)])]);
        assert_eq!(n.demands.poll_timeout(), ms(550));
    }

    #[test]
    fn demand_history_is_bounded() {
        // max_demand_size 1 → at most 300 records.
        let cfg = PullConfig {
            max_tx_set_size_ops: 1,
            soroban_ledger_max_tx_count: 0,
            transaction_queue_size_multiplier: 1,
            ..PullConfig::default()
        };
        assert_eq!(cfg.max_demand_size(), 1);
        assert_eq!(cfg.max_demand_history(), 300);
        let mut n = Node::new(cfg, 10, 15);
        let mut next = 0;
        for _ in 0..40 {
            for p in 0..10 {
                n.advert(p, &[h(next)]);
                next += 1;
            }
            n.tick();
            assert!(n.demands.history_len() <= 300);
        }
        assert_eq!(n.demands.metrics().demanded, 400);
        assert_eq!(n.demands.history_len(), 300);
        assert_eq!(n.demands.metrics().abandoned_demands, 100);
        // The oldest went first.
        assert!(!n.demands.is_demanded(&h(0)));
        assert!(n.demands.is_demanded(&h(399)));
    }

    #[test]
    fn retries_stay_within_the_queue_limit() {
        let cfg = cfg_with_l(4);
        let mut n = Node::new(cfg, 2, 16);
        n.advert(0, &hashes(0..4));
        n.advert(1, &hashes(0..4));
        for _ in 0..3 {
            n.tick();
            for (_, a) in &n.peers {
                assert!(a.incoming_len() <= 4);
            }
            n.advert(1, &hashes(10..14));
            n.advert(0, &hashes(20..24));
        }
    }

    #[test]
    fn same_seed_same_demands() {
        let run = |seed| {
            let mut n = Node::new(PullConfig::default(), 5, seed);
            for round in 0..20u32 {
                for p in 0..5 {
                    n.advert(p, &hashes(round * 7..round * 7 + 10));
                }
                n.ticks_until(ms(u64::from(round) * 400));
            }
            n.ticks_until(ms(30_000));
            n.sent
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
    }

    #[test]
    fn borrowed_peer_states_work_too() {
        let cfg = PullConfig::default();
        let mut rng = Rng::from_u64(17);
        let mut table: BTreeMap<ConnId, TxAdverts> = BTreeMap::new();
        for i in 0..3 {
            table.insert(ConnId(i), TxAdverts::new(&mut rng));
        }
        for (c, a) in table.iter_mut() {
            a.receive_advert(&cfg, &[h(c.0 as u32)], 1);
        }
        let mut demands = TxDemands::new(ms(0), 7);
        let mut view: Vec<(ConnId, &mut TxAdverts)> =
            table.iter_mut().map(|(c, a)| (*c, a)).collect();
        let mut out = demands.demand(&cfg, ms(0), &mut view, |_| false, &mut rng);
        out.sort();
        assert_eq!(
            out,
            [
                (ConnId(0), vec![h(0)]),
                (ConnId(1), vec![h(1)]),
                (ConnId(2), vec![h(2)])
            ]
        );
        assert!(table.values().all(|a| a.stats().tx_demand_sent == 1));
    }

    #[test]
    fn node_id_keys_survive_reconnects() {
        use crate::auth::NodeId;
        let cfg = PullConfig::default();
        let mut rng = Rng::from_u64(18);
        let node = NodeId([7; 32]);
        let mut demands: TxDemands<NodeId> = TxDemands::new(ms(0), 7);
        let mut first = TxAdverts::new(&mut rng);
        first.receive_advert(&cfg, &[h(1)], 1);
        let out = demands.demand(&cfg, ms(0), &mut [(node, &mut first)], |_| false, &mut rng);
        assert_eq!(out.len(), 1);
        // The same node on a new connection is not asked twice.
        let mut again = TxAdverts::new(&mut rng);
        again.receive_advert(&cfg, &[h(1)], 1);
        let out = demands.demand(
            &cfg,
            ms(5000),
            &mut [(node, &mut again)],
            |_| false,
            &mut rng,
        );
        assert!(out.is_empty());
        assert!(!again.has_advert());
    }

    #[test]
    fn served_demands_are_counted() {
        let mut d: TxDemands = TxDemands::new(ms(0), 7);
        d.record_served(DemandServed::Fulfilled);
        d.record_served(DemandServed::Fulfilled);
        d.record_served(DemandServed::UnfulfilledBanned);
        d.record_served(DemandServed::UnfulfilledUnknown);
        d.metrics_mut().advertised += 3;
        let m = d.metrics();
        assert_eq!(
            (
                m.fulfilled,
                m.unfulfilled_banned,
                m.unfulfilled_unknown,
                m.advertised
            ),
            (2, 1, 1, 3)
        );
    }

    #[test]
    fn no_peers_no_panic() {
        let cfg = PullConfig::default();
        let mut d: TxDemands = TxDemands::new(ms(0), 7);
        let mut rng = Rng::from_u64(19);
        let mut none: [(ConnId, TxAdverts); 0] = [];
        assert!(
            d.demand(&cfg, ms(0), &mut none, |_| false, &mut rng)
                .is_empty()
        );
        assert_eq!(d.poll_timeout(), ms(200));
    }
}
