//! Flow control (PROTOCOL.md §3; stellar-core `FlowControl.cpp`, `FlowControlCapacity.cpp`).
//!
//! Flood messages (SCP_MESSAGE, TRANSACTION, FLOOD_DEMAND, FLOOD_ADVERT) need credit in two
//! dimensions, one message and `xdr_size(StellarMessage)` bytes. Each side grants the other
//! credit with SEND_MORE_EXTENDED as it processes what it received.
//!
//! Unlike stellar-core, which only notices an overrun once its local reading capacity is
//! exhausted, [`InboundCredit`] tracks exactly what the remote may still send: the sans-IO
//! peer processes each message before reading the next, so local capacity never fills and
//! the exact check is the meaningful one. A conforming sender never notices the difference.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::time::Duration;

use crate::time::Instant;
use crate::wire::{MessageType, ScpEnvelope, SendMoreExtended};

/// Flow-control settings, stellar-core's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowConfig {
    /// `PEER_FLOOD_READING_CAPACITY`: messages granted at start.
    pub flood_reading_capacity: u32,
    /// `PEER_FLOOD_READING_CAPACITY_BYTES`: bytes granted at start.
    pub flood_reading_capacity_bytes: u32,
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE`: re-grant after this many processed messages.
    pub send_more_batch_size: u32,
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES`: or after this many processed bytes.
    pub send_more_batch_size_bytes: u32,
    /// `OUTBOUND_TX_QUEUE_BYTE_LIMIT`.
    pub outbound_tx_queue_byte_limit: usize,
    /// The herder's max transaction size: larger TRANSACTIONs are never queued.
    pub max_tx_size: usize,
    /// `L`, the last ledger's max tx-set size in operations: bounds the transaction queue
    /// (messages) and the advert and demand queues (hashes).
    pub max_tx_set_size_ops: usize,
    /// `PEER_SEND_MODE_IDLE_TIMEOUT`: drop a peer that leaves us without credit this long.
    pub no_credit_timeout: Duration,
    /// Our own bound on the SCP queue, which stellar-core leaves to slot pruning alone.
    pub max_scp_queue: usize,
}

/// `MAX_CLASSIC_TX_SIZE_BYTES`.
pub const MAX_CLASSIC_TX_SIZE_BYTES: usize = 100 * 1024;

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            flood_reading_capacity: 200,
            flood_reading_capacity_bytes: 300_000,
            send_more_batch_size: 40,
            send_more_batch_size_bytes: 100_000,
            outbound_tx_queue_byte_limit: 3 * 1024 * 1024,
            max_tx_size: MAX_CLASSIC_TX_SIZE_BYTES,
            max_tx_set_size_ops: 1000,
            no_credit_timeout: Duration::from_secs(60),
            max_scp_queue: 10_000,
        }
    }
}

/// A flow-control rule the remote broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowError {
    /// A flood message beyond the credit we granted.
    PeerAtCapacity,
    /// SEND_MORE_EXTENDED with zero bytes.
    InvalidSendMore,
    /// A grant that would overflow our u64 credit.
    CapacityOverflow,
}

/// What the remote may still send us, and what we have processed but not yet re-granted.
#[derive(Debug, Clone, Default)]
pub struct InboundCredit {
    messages: u64,
    bytes: u64,
    processed_messages: u32,
    processed_bytes: u32,
}

impl InboundCredit {
    /// The first grant, sent right after AUTH.
    pub fn initial_grant(&mut self, cfg: &FlowConfig) -> SendMoreExtended {
        self.messages += u64::from(cfg.flood_reading_capacity);
        self.bytes += u64::from(cfg.flood_reading_capacity_bytes);
        SendMoreExtended {
            num_messages: cfg.flood_reading_capacity,
            num_bytes: cfg.flood_reading_capacity_bytes,
        }
    }

    /// A flood message of `size` bytes arrived.
    pub fn receive(&mut self, size: usize) -> Result<(), FlowError> {
        let size = size as u64;
        if self.messages == 0 || self.bytes < size {
            return Err(FlowError::PeerAtCapacity);
        }
        self.messages -= 1;
        self.bytes -= size;
        Ok(())
    }

    /// A flood message was processed: returns the grant to send, if a batch is complete.
    pub fn processed(&mut self, size: usize, cfg: &FlowConfig) -> Option<SendMoreExtended> {
        self.processed_messages += 1;
        self.processed_bytes = self.processed_bytes.saturating_add(size as u32);
        if self.processed_messages >= cfg.send_more_batch_size
            || self.processed_bytes >= cfg.send_more_batch_size_bytes
        {
            let grant = SendMoreExtended {
                num_messages: self.processed_messages,
                num_bytes: self.processed_bytes,
            };
            self.messages += u64::from(grant.num_messages);
            self.bytes += u64::from(grant.num_bytes);
            self.processed_messages = 0;
            self.processed_bytes = 0;
            Some(grant)
        } else {
            None
        }
    }

    /// Extra byte credit after a max-tx-size upgrade (`handleMaxTxSizeIncrease`).
    pub fn grow_bytes(&mut self, delta: u32) -> SendMoreExtended {
        self.bytes += u64::from(delta);
        SendMoreExtended {
            num_messages: 0,
            num_bytes: delta,
        }
    }

    pub fn messages(&self) -> u64 {
        self.messages
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// What we may still send the remote.
#[derive(Debug, Clone)]
pub struct OutboundCredit {
    messages: u64,
    bytes: u64,
    /// Since when a flood message has been waiting for credit (set at connection start and
    /// whenever a send is blocked, cleared by every grant), as stellar-core keeps it.
    no_credit_since: Option<Instant>,
    /// Total time spent blocked for credit, for display.
    blocked_total: Duration,
}

impl OutboundCredit {
    pub fn new(now: Instant) -> Self {
        OutboundCredit {
            messages: 0,
            bytes: 0,
            no_credit_since: Some(now),
            blocked_total: Duration::ZERO,
        }
    }

    /// Applies a SEND_MORE_EXTENDED from the remote.
    pub fn grant(&mut self, g: SendMoreExtended, now: Instant) -> Result<(), FlowError> {
        if g.num_bytes == 0 {
            return Err(FlowError::InvalidSendMore);
        }
        let messages = self.messages.checked_add(u64::from(g.num_messages));
        let bytes = self.bytes.checked_add(u64::from(g.num_bytes));
        let (Some(messages), Some(bytes)) = (messages, bytes) else {
            return Err(FlowError::CapacityOverflow);
        };
        self.messages = messages;
        self.bytes = bytes;
        if let Some(since) = self.no_credit_since.take() {
            self.blocked_total += now - since;
        }
        Ok(())
    }

    fn fits(&self, size: usize) -> bool {
        self.messages >= 1 && self.bytes >= size as u64
    }

    fn consume(&mut self, size: usize) {
        self.messages -= 1;
        self.bytes -= size as u64;
    }

    /// Whether the remote has left us without credit for `timeout`.
    pub fn timed_out(&self, now: Instant, timeout: Duration) -> bool {
        self.no_credit_since.is_some_and(|t| now - t >= timeout)
    }

    pub fn messages(&self) -> u64 {
        self.messages
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Time spent with a message waiting for credit.
    pub fn blocked_for(&self, now: Instant) -> Duration {
        self.blocked_total + self.no_credit_since.map_or(Duration::ZERO, |t| now - t)
    }
}

/// A flood message waiting for credit: its StellarMessage XDR (shared between every peer
/// it goes to) and when it was queued.
#[derive(Debug, Clone)]
pub struct Queued {
    pub message: Arc<[u8]>,
    pub enqueued: Instant,
}

/// The outbound queue a flood message waits in, in the order they are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Scp = 0,
    Transaction = 1,
    Demand = 2,
    Advert = 3,
}

impl Priority {
    pub fn of(ty: MessageType) -> Option<Priority> {
        match ty {
            MessageType::ScpMessage => Some(Priority::Scp),
            MessageType::Transaction => Some(Priority::Transaction),
            MessageType::FloodDemand => Some(Priority::Demand),
            MessageType::FloodAdvert => Some(Priority::Advert),
            _ => None,
        }
    }
}

/// Which SCP slots are still worth sending (the herder's window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScpWindow {
    /// `getMinLedgerSeqToRemember`: queued statements for older slots are dropped ...
    pub min_slot: u64,
    /// ... except those for the latest checkpoint slot.
    pub checkpoint_slot: u64,
}

/// The four outbound priority queues with stellar-core's trimming (`addMsgAndMaybeTrimQueue`).
#[derive(Debug, Default)]
pub struct OutboundQueues {
    queues: [VecDeque<Queued>; 4],
    tx_bytes: usize,
    demand_hashes: usize,
    advert_hashes: usize,
    /// Messages dropped by trimming, per queue (`overlay.outbound-queue.drop-*`).
    pub dropped: [u64; 4],
}

/// What a FLOOD_ADVERT or FLOOD_DEMAND weighs in its queue: its hashes (stellar-core's
/// count), but at least 1, so that empty ones (which stellar-core never sends, but a host
/// could) still fill the queue towards its trim limit rather than pile up unbounded.
fn hash_count(message: &[u8]) -> usize {
    // type tag + count + 32 bytes per hash
    (message.len().saturating_sub(8) / 32).max(1)
}

fn scp_envelope(message: &[u8]) -> Option<ScpEnvelope<'_>> {
    ScpEnvelope::decode(message.get(4..)?).ok()
}

/// An SCP_MESSAGE's slot and node, read at their fixed offsets (type tag, then the node's
/// key type and key, then the slot) without decoding the statement.
fn scp_peek(message: &[u8]) -> Option<(u64, [u8; 32])> {
    let tag = i32::from_be_bytes(message.get(..4)?.try_into().ok()?);
    let key_type = u32::from_be_bytes(message.get(4..8)?.try_into().ok()?);
    if tag != MessageType::ScpMessage as i32 || key_type != 0 {
        return None;
    }
    let node: [u8; 32] = message.get(8..40)?.try_into().ok()?;
    let slot = u64::from_be_bytes(message.get(40..48)?.try_into().ok()?);
    Some((slot, node))
}

impl OutboundQueues {
    /// Queues a flood message (StellarMessage XDR). Returns whether it was kept.
    pub fn push(
        &mut self,
        priority: Priority,
        message: Arc<[u8]>,
        now: Instant,
        cfg: &FlowConfig,
        scp: ScpWindow,
    ) -> bool {
        let size = message.len();
        match priority {
            Priority::Transaction if size > cfg.max_tx_size => return false,
            Priority::Transaction => self.tx_bytes += size,
            Priority::Demand => self.demand_hashes += hash_count(&message),
            Priority::Advert => self.advert_hashes += hash_count(&message),
            Priority::Scp => {}
        }
        let idx = priority as usize;
        self.queues[idx].push_back(Queued {
            message,
            enqueued: now,
        });
        let limit = cfg.max_tx_set_size_ops;
        let over = match priority {
            Priority::Transaction => {
                self.queues[idx].len() > limit || self.tx_bytes > cfg.outbound_tx_queue_byte_limit
            }
            Priority::Demand => self.demand_hashes > limit,
            Priority::Advert => self.advert_hashes > limit,
            Priority::Scp => {
                self.trim_scp(scp, cfg);
                false
            }
        };
        if over {
            // Far behind: drop the whole queue, as stellar-core does.
            self.dropped[idx] += self.queues[idx].len() as u64;
            self.queues[idx].clear();
            self.tx_bytes = if priority == Priority::Transaction {
                0
            } else {
                self.tx_bytes
            };
            match priority {
                Priority::Demand => self.demand_hashes = 0,
                Priority::Advert => self.advert_hashes = 0,
                _ => {}
            }
        }
        true
    }

    /// Drops queued statements for forgotten slots and lets the newest statement replace
    /// one queued statement it supersedes.
    ///
    /// Runs on every SCP push to every peer, so it decodes as little as it can: the slot
    /// and node of each queued statement are peeked at fixed offsets, the newest statement
    /// is decoded once, and a queued one only when it is from the same node and slot (the
    /// only case where it can be superseded).
    fn trim_scp(&mut self, window: ScpWindow, cfg: &FlowConfig) {
        let q = &mut self.queues[Priority::Scp as usize];
        let mut dropped = 0u64;
        // The newest statement stays last while older ones are removed.
        let newest_peek = q.back().and_then(|n| scp_peek(&n.message));
        let mut replaced = false;
        let mut i = 0;
        while i < q.len() {
            let Some((slot, node)) = scp_peek(&q[i].message) else {
                i += 1;
                continue;
            };
            if slot < window.min_slot && slot != window.checkpoint_slot {
                q.remove(i);
                dropped += 1;
                continue;
            }
            let last = q.len() - 1;
            if !replaced && i != last && newest_peek == Some((slot, node)) {
                let superseded = match (scp_envelope(&q[last].message), scp_envelope(&q[i].message))
                {
                    (Some(new), Some(old)) => old.is_superseded_by(&new),
                    _ => false,
                };
                if superseded {
                    if let Some(n) = q.pop_back() {
                        q[i] = n;
                    }
                    replaced = true;
                    dropped += 1;
                }
            }
            i += 1;
        }
        while q.len() > cfg.max_scp_queue {
            q.pop_front();
            dropped += 1;
        }
        self.dropped[Priority::Scp as usize] += dropped;
    }

    /// Takes the next message the credit allows: queues in priority order, and inside a
    /// queue only its head (a head that does not fit blocks its queue, not the others).
    /// Consumes the credit. Marks the credit as blocked when something waits.
    pub fn pop_sendable(
        &mut self,
        credit: &mut OutboundCredit,
        now: Instant,
    ) -> Option<(Priority, Queued)> {
        for (idx, q) in self.queues.iter_mut().enumerate() {
            let Some(head) = q.front() else { continue };
            let size = head.message.len();
            if !credit.fits(size) {
                if credit.no_credit_since.is_none() {
                    credit.no_credit_since = Some(now);
                }
                continue;
            }
            credit.consume(size);
            let item = q.pop_front()?;
            let priority = match idx {
                0 => Priority::Scp,
                1 => {
                    self.tx_bytes -= size;
                    Priority::Transaction
                }
                2 => {
                    self.demand_hashes -= hash_count(&item.message);
                    Priority::Demand
                }
                _ => {
                    self.advert_hashes -= hash_count(&item.message);
                    Priority::Advert
                }
            };
            return Some((priority, item));
        }
        None
    }

    /// Whether some queue's head fits the credit.
    pub fn has_sendable(&self, credit: &OutboundCredit) -> bool {
        self.queues
            .iter()
            .any(|q| q.front().is_some_and(|h| credit.fits(h.message.len())))
    }

    pub fn len(&self, priority: Priority) -> usize {
        self.queues[priority as usize].len()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    pub fn clear(&mut self) {
        *self = OutboundQueues {
            dropped: self.dropped,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn msg(ty: MessageType, len: usize) -> Arc<[u8]> {
        let mut v = Vec::from((ty as i32).to_be_bytes());
        v.resize(len, 0);
        v.into()
    }

    #[test]
    fn regrant_after_batch_of_messages_or_bytes() {
        let cfg = FlowConfig::default();
        let mut c = InboundCredit::default();
        assert_eq!(
            c.initial_grant(&cfg),
            SendMoreExtended {
                num_messages: 200,
                num_bytes: 300_000
            }
        );
        for i in 1..40 {
            c.receive(100).unwrap();
            assert_eq!(c.processed(100, &cfg), None, "message {i}");
        }
        c.receive(100).unwrap();
        assert_eq!(
            c.processed(100, &cfg),
            Some(SendMoreExtended {
                num_messages: 40,
                num_bytes: 4000
            })
        );
        // Byte batch first: two 60 kB messages.
        c.receive(60_000).unwrap();
        assert_eq!(c.processed(60_000, &cfg), None);
        c.receive(60_000).unwrap();
        assert_eq!(
            c.processed(60_000, &cfg),
            Some(SendMoreExtended {
                num_messages: 2,
                num_bytes: 120_000
            })
        );
    }

    #[test]
    fn overrun_of_messages_or_bytes_is_detected() {
        let cfg = FlowConfig {
            flood_reading_capacity: 2,
            flood_reading_capacity_bytes: 1000,
            ..Default::default()
        };
        let mut c = InboundCredit::default();
        c.initial_grant(&cfg);
        c.receive(10).unwrap();
        c.receive(10).unwrap();
        assert_eq!(c.receive(10), Err(FlowError::PeerAtCapacity));
        let mut c = InboundCredit::default();
        c.initial_grant(&cfg);
        assert_eq!(c.receive(1001), Err(FlowError::PeerAtCapacity));
    }

    #[test]
    fn send_more_validation() {
        let mut c = OutboundCredit::new(Instant::ZERO);
        assert_eq!(
            c.grant(
                SendMoreExtended {
                    num_messages: 5,
                    num_bytes: 0
                },
                Instant::ZERO
            ),
            Err(FlowError::InvalidSendMore)
        );
        c.grant(
            SendMoreExtended {
                num_messages: 0,
                num_bytes: 10,
            },
            Instant::ZERO,
        )
        .unwrap();
        c.messages = u64::MAX - 1;
        assert_eq!(
            c.grant(
                SendMoreExtended {
                    num_messages: 2,
                    num_bytes: 1
                },
                Instant::ZERO
            ),
            Err(FlowError::CapacityOverflow)
        );
    }

    /// Regression (fuzz target `peer_authenticated`): empty FLOOD_DEMANDs and FLOOD_ADVERTs
    /// weighed nothing, so a host sending them with no credit grew the queue without bound.
    #[test]
    fn empty_demands_and_adverts_still_count_towards_the_trim_limit() {
        let cfg = FlowConfig::default();
        let mut q = OutboundQueues::default();
        for (p, ty) in [
            (Priority::Demand, MessageType::FloodDemand),
            (Priority::Advert, MessageType::FloodAdvert),
        ] {
            for _ in 0..3 * cfg.max_tx_set_size_ops {
                // Type tag and a zero count: no hashes.
                q.push(p, msg(ty, 8), Instant::ZERO, &cfg, ScpWindow::default());
                assert!(q.len(p) <= cfg.max_tx_set_size_ops);
            }
            assert!(q.dropped[p as usize] > 0, "{p:?} trimmed");
        }
    }

    #[test]
    fn priority_order_and_per_queue_head_of_line() {
        let cfg = FlowConfig::default();
        let mut q = OutboundQueues::default();
        let now = Instant::ZERO;
        q.push(
            Priority::Advert,
            msg(MessageType::FloodAdvert, 40),
            now,
            &cfg,
            ScpWindow::default(),
        );
        q.push(
            Priority::Transaction,
            msg(MessageType::Transaction, 500),
            now,
            &cfg,
            ScpWindow::default(),
        );
        q.push(
            Priority::Demand,
            msg(MessageType::FloodDemand, 40),
            now,
            &cfg,
            ScpWindow::default(),
        );
        let mut credit = OutboundCredit::new(now);
        credit
            .grant(
                SendMoreExtended {
                    num_messages: 10,
                    num_bytes: 100,
                },
                now,
            )
            .unwrap();
        // The transaction does not fit; the demand and the advert still go, in that order.
        let (pa, a) = q.pop_sendable(&mut credit, now).unwrap();
        assert_eq!(
            (pa, a.message[3]),
            (Priority::Demand, MessageType::FloodDemand as u8)
        );
        let (pb, b) = q.pop_sendable(&mut credit, now).unwrap();
        assert_eq!(
            (pb, b.message[3]),
            (Priority::Advert, MessageType::FloodAdvert as u8)
        );
        assert!(q.pop_sendable(&mut credit, now).is_none());
        assert!(credit.timed_out(now + Duration::from_secs(60), cfg.no_credit_timeout));
        credit
            .grant(
                SendMoreExtended {
                    num_messages: 1,
                    num_bytes: 1000,
                },
                now,
            )
            .unwrap();
        assert!(!credit.timed_out(now + Duration::from_secs(60), cfg.no_credit_timeout));
        assert_eq!(
            q.pop_sendable(&mut credit, now).unwrap().1.message.len(),
            500
        );
    }

    #[test]
    fn tx_queue_is_dropped_whole_past_its_limits() {
        let cfg = FlowConfig {
            max_tx_set_size_ops: 3,
            ..Default::default()
        };
        let mut q = OutboundQueues::default();
        let w = ScpWindow::default();
        assert!(!q.push(
            Priority::Transaction,
            msg(MessageType::Transaction, cfg.max_tx_size + 4),
            Instant::ZERO,
            &cfg,
            w
        ));
        for _ in 0..3 {
            q.push(
                Priority::Transaction,
                msg(MessageType::Transaction, 100),
                Instant::ZERO,
                &cfg,
                w,
            );
        }
        assert_eq!(q.len(Priority::Transaction), 3);
        q.push(
            Priority::Transaction,
            msg(MessageType::Transaction, 100),
            Instant::ZERO,
            &cfg,
            w,
        );
        assert_eq!(q.len(Priority::Transaction), 0);
        assert_eq!(q.dropped[1], 4);
        // By bytes.
        let cfg = FlowConfig {
            outbound_tx_queue_byte_limit: 250,
            ..Default::default()
        };
        q.push(
            Priority::Transaction,
            msg(MessageType::Transaction, 200),
            Instant::ZERO,
            &cfg,
            w,
        );
        q.push(
            Priority::Transaction,
            msg(MessageType::Transaction, 100),
            Instant::ZERO,
            &cfg,
            w,
        );
        assert_eq!(q.len(Priority::Transaction), 0);
    }

    #[test]
    fn scp_queue_replaces_superseded_and_drops_old_slots() {
        use crate::test_support::nominate;
        let cfg = FlowConfig::default();
        let mut q = OutboundQueues::default();
        let w = ScpWindow {
            min_slot: 10,
            checkpoint_slot: 0,
        };
        let now = Instant::ZERO;
        q.push(Priority::Scp, nominate(1, 20, &[1]), now, &cfg, w);
        q.push(Priority::Scp, nominate(2, 20, &[1]), now, &cfg, w);
        // Node 1 votes for more: its queued statement is replaced in place, order kept.
        let newer = nominate(1, 20, &[1, 2]);
        q.push(Priority::Scp, Arc::clone(&newer), now, &cfg, w);
        assert_eq!(q.len(Priority::Scp), 2);
        assert_eq!(q.queues[0][0].message, newer);
        assert_eq!(q.dropped[0], 1);
        // A statement that does not supersede (a different vote set) is kept beside it.
        q.push(Priority::Scp, nominate(1, 20, &[3]), now, &cfg, w);
        assert_eq!(q.len(Priority::Scp), 3);
        // Slots below the window go, except the checkpoint.
        let w = ScpWindow {
            min_slot: 30,
            checkpoint_slot: 20,
        };
        q.push(Priority::Scp, nominate(3, 31, &[1]), now, &cfg, w);
        assert_eq!(q.len(Priority::Scp), 4, "slot 20 is the checkpoint: kept");
        let w = ScpWindow {
            min_slot: 30,
            checkpoint_slot: 0,
        };
        q.push(Priority::Scp, nominate(3, 32, &[1]), now, &cfg, w);
        assert_eq!(q.len(Priority::Scp), 2);
    }

    #[test]
    fn advert_queue_is_dropped_past_hash_limit() {
        let cfg = FlowConfig {
            max_tx_set_size_ops: 5,
            ..Default::default()
        };
        let mut q = OutboundQueues::default();
        let w = ScpWindow::default();
        q.push(
            Priority::Advert,
            msg(MessageType::FloodAdvert, 8 + 32 * 3),
            Instant::ZERO,
            &cfg,
            w,
        );
        q.push(
            Priority::Advert,
            msg(MessageType::FloodAdvert, 8 + 32 * 2),
            Instant::ZERO,
            &cfg,
            w,
        );
        assert_eq!(q.len(Priority::Advert), 2);
        q.push(
            Priority::Advert,
            msg(MessageType::FloodAdvert, 8 + 32),
            Instant::ZERO,
            &cfg,
            w,
        );
        assert_eq!(q.len(Priority::Advert), 0);
    }
}
