//! One connection's state machine, for both roles (stellar-core `Peer.cpp`, `TCPPeer.cpp`).
//!
//! A [`Peer`] turns bytes into events and commands into bytes:
//! - [`Peer::handle_input`] buffers received bytes; [`Peer::poll`] decodes and processes
//!   one frame at a time and returns what the layer above must see. A received message is a
//!   view into the receive buffer, valid until the next call, so the receive path neither
//!   copies nor allocates. A flood message counts as processed (its flow-control credit is
//!   returned) when the next call is made.
//! - [`Peer::send`] / [`Peer::send_shared`] queue messages; [`Peer::poll_transmit`] hands out
//!   the bytes to write, MACed and sequenced at that moment so wire order is sequence order.
//! - [`Peer::poll_timeout`] / [`Peer::handle_timeout`] run the 5-second timer: idle,
//!   no-credit and straggler checks, and the latency ping.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::auth::{AuthCert, CertError, LocalNode, MacKeys, NodeId, Role, derive_mac_keys};
use crate::flow::{
    FlowConfig, FlowError, InboundCredit, OutboundCredit, OutboundQueues, Priority, ScpWindow,
};
use crate::time::{Instant, WallClock};
use crate::wire::{
    AUTH_FLAGS, Auth, AuthenticatedMessage, BadFrameLength, DecodeError, DontHave, ErrorCode,
    ErrorMsg, FrameDecoder, Hash, Hello, MAX_MESSAGE_SIZE, MAX_UNAUTH_MESSAGE_SIZE, MessageType,
    PeerAddress, Peers, SendMoreExtended, StellarMessage, VERSION_STR_MAX, write_frame_with,
    zero_mac,
};

/// Ping samples a connection keeps: libmedida's sliding-window size (surveys report the
/// median latency from a histogram of at most this many samples).
pub const PING_HISTORY_MAX: usize = 1028;
/// `MAX_BATCH_WRITE_BYTES`: how much stellar-core writes to a socket at once.
pub const MAX_BATCH_WRITE_BYTES: usize = 1024 * 1024;

/// How far back ping samples are kept: libmedida's sliding-window time.
pub const PING_HISTORY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Timer and size settings of a connection, stellar-core's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub flow: FlowConfig,
    /// `PEER_AUTHENTICATION_TIMEOUT`: idle limit until authenticated.
    pub auth_timeout: Duration,
    /// `PEER_TIMEOUT`: idle limit once authenticated.
    pub idle_timeout: Duration,
    /// `PEER_STRAGGLER_TIMEOUT`.
    pub straggler_timeout: Duration,
    /// The recurrent timer's period.
    pub tick_interval: Duration,
    /// Frame body limit before authentication (`MAX_UNAUTH_MESSAGE_SIZE`).
    pub max_unauth_message_size: usize,
    /// Frame body limit after authentication (`MAX_MESSAGE_SIZE`).
    pub max_message_size: usize,
    /// Bytes we hold for the host to write before giving up on the connection.
    pub max_transmit_buffer: usize,
    /// Flood messages leave their queues for one [`Peer::poll_transmit`] only up to this many
    /// bytes (stellar-core's `MAX_BATCH_WRITE_BYTES`, 1 MiB): a remote that reads slowly
    /// leaves the rest queued, where the queues' trimming applies, rather than in the host's
    /// write buffers.
    pub max_write_batch: usize,
    /// GET_SCP_STATE ledger to ask for right after authenticating (`None`: do not ask).
    pub scp_state_request: Option<u32>,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            flow: FlowConfig::default(),
            auth_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(30),
            straggler_timeout: Duration::from_secs(120),
            tick_interval: Duration::from_secs(5),
            max_unauth_message_size: MAX_UNAUTH_MESSAGE_SIZE,
            max_message_size: MAX_MESSAGE_SIZE,
            max_transmit_buffer: 2 * MAX_MESSAGE_SIZE + 1024 * 1024,
            max_write_batch: MAX_BATCH_WRITE_BYTES,
            scp_state_request: Some(0),
        }
    }
}

/// Why a connection ended. `Display` gives stellar-core's wording; [`DropReason::error`]
/// says which ERROR_MSG (if any) was sent before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// A frame header announced 0 bytes or more than the limit ("error during read").
    BadFrameLength(BadFrameLength),
    /// The message did not decode.
    CorruptXdr(DecodeError),
    UnexpectedHello,
    CertInvalid(CertError),
    Banned,
    /// The X25519 exchange produced an all-zero secret.
    BadCrypto,
    WrongVersion {
        remote_min: u32,
        remote_max: u32,
        local_min: u32,
        local_max: u32,
    },
    ConnectingToSelf,
    WrongNetwork,
    BadAddress,
    AlreadyConnected(NodeId),
    OutOfOrderAuth,
    PeerRejected,
    FlowControlBytesDisabled,
    /// A message other than HELLO, AUTH or ERROR_MSG before the handshake completed.
    BeforeHandshake(MessageType),
    UnexpectedSequence {
        expected: u64,
        got: u64,
    },
    BadMac,
    /// The obsolete SEND_MORE.
    UnexpectedSendMore,
    InvalidSendMoreExtended,
    CapacityOverflow,
    PeerAtCapacity,
    /// PEERS sent to an acceptor.
    PeersFromInitiator,
    /// A second PEERS message.
    TooManyPeers,
    IdleTimeout,
    NoCreditTimeout,
    Straggling,
    /// The host stopped taking bytes while we had more than `max_transmit_buffer` to send.
    TransmitOverflow,
    /// The remote sent ERROR_MSG.
    RemoteError {
        code: ErrorCode,
        msg: heapless::String<100>,
    },
    /// The remote closed the connection or the transport failed.
    RemoteClosed,
    DroppedByUser,
    Shutdown,
    PreferredPeerSelected,
    OutOfSync,
    /// A survey message whose signature did not verify (`SurveyManager::dropPeerIfSigInvalid`).
    SurveyBadSignature,
}

impl DropReason {
    /// The ERROR_MSG code sent to the remote before closing, if stellar-core sends one.
    pub fn error(&self) -> Option<ErrorCode> {
        use DropReason::*;
        match self {
            CorruptXdr(_) => Some(ErrorCode::Data),
            WrongVersion { .. }
            | ConnectingToSelf
            | WrongNetwork
            | BadAddress
            | AlreadyConnected(_)
            | FlowControlBytesDisabled => Some(ErrorCode::Conf),
            UnexpectedSequence { .. } | BadMac => Some(ErrorCode::Auth),
            PeerRejected | PreferredPeerSelected | OutOfSync => Some(ErrorCode::Load),
            OutOfOrderAuth | DroppedByUser | Shutdown | SurveyBadSignature => Some(ErrorCode::Misc),
            _ => None,
        }
    }

    /// A short stable name for the kind of reason (for per-reason drop counters).
    pub fn kind(&self) -> &'static str {
        use DropReason::*;
        match self {
            BadFrameLength(_) => "bad-frame-length",
            CorruptXdr(_) => "corrupt-xdr",
            UnexpectedHello => "unexpected-hello",
            CertInvalid(_) => "invalid-cert",
            Banned => "banned",
            BadCrypto => "bad-crypto",
            WrongVersion { .. } => "wrong-version",
            ConnectingToSelf => "self",
            WrongNetwork => "wrong-network",
            BadAddress => "bad-address",
            AlreadyConnected(_) => "already-connected",
            OutOfOrderAuth => "out-of-order-auth",
            PeerRejected => "peer-rejected",
            FlowControlBytesDisabled => "flow-control-bytes-disabled",
            BeforeHandshake(_) => "before-handshake",
            UnexpectedSequence { .. } => "unexpected-sequence",
            BadMac => "bad-mac",
            UnexpectedSendMore => "send-more",
            InvalidSendMoreExtended => "invalid-send-more-extended",
            CapacityOverflow => "capacity-overflow",
            PeerAtCapacity => "peer-at-capacity",
            PeersFromInitiator => "peers-from-initiator",
            TooManyPeers => "too-many-peers",
            IdleTimeout => "idle-timeout",
            NoCreditTimeout => "no-credit-timeout",
            Straggling => "straggling",
            TransmitOverflow => "transmit-overflow",
            RemoteError { .. } => "remote-error",
            RemoteClosed => "remote-closed",
            DroppedByUser => "dropped-by-user",
            Shutdown => "shutdown",
            PreferredPeerSelected => "preferred-peer-selected",
            OutOfSync => "out-of-sync",
            SurveyBadSignature => "survey-bad-signature",
        }
    }

    /// Whether the remote ended the connection (rather than us).
    pub fn by_remote(&self) -> bool {
        matches!(
            self,
            DropReason::RemoteError { .. } | DropReason::RemoteClosed
        )
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DropReason::*;
        match self {
            BadFrameLength(b) => write!(
                f,
                "error during read (frame length {} over limit {})",
                b.len, b.limit
            ),
            CorruptXdr(e) => write!(f, "received corrupt XDR ({e})"),
            UnexpectedHello => f.write_str("received unexpected HELLO"),
            CertInvalid(CertError::Expired { expiration, now }) => {
                write!(
                    f,
                    "failed to verify auth cert (expired at {expiration}, now {now})"
                )
            }
            CertInvalid(CertError::BadSignature) => f.write_str("failed to verify auth cert"),
            Banned => f.write_str("node is banned"),
            BadCrypto => f.write_str("bad crypto request"),
            WrongVersion {
                remote_min,
                remote_max,
                local_min,
                local_max,
            } => write!(
                f,
                "wrong protocol version (remote {remote_min}-{remote_max}, local {local_min}-{local_max})"
            ),
            ConnectingToSelf => f.write_str("connecting to self"),
            WrongNetwork => f.write_str("wrong network passphrase"),
            BadAddress => f.write_str("bad address"),
            AlreadyConnected(id) => {
                let s = alloc::format!("{id}");
                write!(f, "already-connected peer: {}", &s[..5])
            }
            OutOfOrderAuth => f.write_str("out-of-order AUTH message"),
            PeerRejected => f.write_str("peer rejected"),
            FlowControlBytesDisabled => f.write_str("flow control bytes disabled"),
            BeforeHandshake(t) => write!(f, "received {t} before completed handshake"),
            UnexpectedSequence { expected, got } => {
                write!(
                    f,
                    "unexpected auth sequence (expected {expected}, got {got})"
                )
            }
            BadMac => f.write_str("unexpected MAC"),
            UnexpectedSendMore => f.write_str("unexpected message type SEND_MORE"),
            InvalidSendMoreExtended => f.write_str("invalid message SEND_MORE_EXTENDED"),
            CapacityOverflow => f.write_str("Peer capacity overflow"),
            PeerAtCapacity => f.write_str("unexpected flood message, peer at capacity"),
            PeersFromInitiator => f.write_str("received PEERS"),
            TooManyPeers => f.write_str("too many msgs PEERS"),
            IdleTimeout => f.write_str("idle timeout"),
            NoCreditTimeout => f.write_str("idle timeout (no new flood requests)"),
            Straggling => f.write_str("straggling (cannot keep up)"),
            TransmitOverflow => f.write_str("transmit buffer overflow (remote not reading)"),
            RemoteError { code, msg } => write!(f, "remote sent {}: {msg}", code.name()),
            RemoteClosed => f.write_str("remote closed the connection"),
            DroppedByUser => f.write_str("dropped by user"),
            Shutdown => f.write_str("shutdown"),
            PreferredPeerSelected => f.write_str("preferred peer selected instead"),
            OutOfSync => f.write_str("random disconnect due to out of sync"),
            SurveyBadSignature => f.write_str("Survey has invalid signature"),
        }
    }
}

/// What we learned of the remote from its HELLO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteInfo {
    pub node_id: NodeId,
    pub ledger_version: u32,
    pub overlay_version: u32,
    pub overlay_min_version: u32,
    pub version_str: heapless::Vec<u8, VERSION_STR_MAX>,
    pub listening_port: i32,
    /// The socket's IP with the remote's `listeningPort`: how stellar-core keys peers.
    pub address: Option<SocketAddr>,
    pub cert_expiration: u64,
    pub cert_pubkey: [u8; 32],
    pub nonce: [u8; 32],
}

impl RemoteInfo {
    /// `versionStr` as text (invalid UTF-8 is cut at the first bad byte).
    pub fn version_str(&self) -> &str {
        match core::str::from_utf8(&self.version_str) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&self.version_str[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

/// What a peer asks of its node during the handshake. The node-level overlay answers from
/// its ban list and connection table; a lone connection can use [`AcceptAll`].
pub trait Admission {
    /// HELLO step 3: refuse a banned node (plain drop).
    fn is_banned(&self, node: &NodeId) -> bool;
    /// HELLO steps 11–13: the HELLO passed every check; record the remote and return `false`
    /// if another connection already carries this node ID.
    fn hello_accepted(&mut self, role: Role, remote: &RemoteInfo) -> bool;
    /// AUTH step 5: whether there is room for this peer.
    fn admit(&mut self, role: Role, remote: &RemoteInfo) -> bool;
    /// Addresses an acceptor sends in PEERS right after its AUTH, before admission (so even
    /// a full node hands out addresses). Nothing is sent if empty.
    fn peers_to_send(&mut self, remote: &RemoteInfo) -> Vec<PeerAddress> {
        let _ = remote;
        Vec::new()
    }
}

/// Admits everyone: for a single connection with no node around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl Admission for AcceptAll {
    fn is_banned(&self, _: &NodeId) -> bool {
        false
    }
    fn hello_accepted(&mut self, _: Role, _: &RemoteInfo) -> bool {
        true
    }
    fn admit(&mut self, _: Role, _: &RemoteInfo) -> bool {
        true
    }
}

/// A message received on an authenticated connection.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub sequence: u64,
    pub message: StellarMessage<'a>,
    /// The `StellarMessage` XDR as received (what a relay forwards and the floodgate hashes).
    pub raw: &'a [u8],
    /// Bytes of the frame body (the `AuthenticatedMessage`).
    pub frame_len: usize,
}

/// What a [`Peer`] reports.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The remote's HELLO passed every check (keys derived, `GOT_HELLO`).
    Hello(RemoteInfo),
    /// Both AUTH messages were exchanged and the peer was admitted; flood messages can go
    /// once credit arrives.
    Authenticated(RemoteInfo),
    /// The remote granted flow-control credit.
    CreditGranted(SendMoreExtended),
    /// A message for the layer above.
    Message(Received<'a>),
    /// The connection is over (last event). Write out [`Peer::poll_transmit`] (it may hold
    /// a final ERROR_MSG), then close the transport.
    Closed(DropReason),
}

/// Why a message could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The handshake has not completed.
    NotAuthenticated,
    /// The connection is closing.
    Closed,
    /// HELLO, AUTH, ERROR_MSG, SEND_MORE(_EXTENDED) belong to the peer itself.
    Reserved(MessageType),
    /// The bytes are not a `StellarMessage` of a known type.
    Malformed,
    /// A flood message was dropped by outbound queue trimming (e.g. a transaction over the
    /// max size).
    Trimmed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotAuthenticated => f.write_str("peer not authenticated yet"),
            SendError::Closed => f.write_str("peer is closing"),
            SendError::Reserved(t) => write!(f, "{t} is sent by the peer itself"),
            SendError::Malformed => f.write_str("not a StellarMessage"),
            SendError::Trimmed => f.write_str("dropped by outbound queue trimming"),
        }
    }
}

/// Connection states (`Peer::PeerState`); `CONNECTING` is the host's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// TCP is up, waiting for the remote's HELLO.
    Connected,
    GotHello,
    GotAuth,
    Closing,
}

/// Per-connection counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub messages_read: u64,
    pub messages_written: u64,
    /// Raw transport bytes, record marks included.
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub flood_messages_read: u64,
    pub flood_bytes_read: u64,
    pub flood_messages_written: u64,
    pub flood_bytes_written: u64,
    /// Round trip of the last latency ping.
    pub last_ping: Option<Duration>,
    pub pings: u64,
    /// Time flood messages waited for credit, per outbound queue (SCP, transaction, demand,
    /// advert): stellar-core's `overlay.outbound-queue.*` timers.
    pub queue_delay: [QueueDelay; 4],
}

/// How long messages of one outbound queue waited before being written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDelay {
    pub count: u64,
    pub total: Duration,
    pub max: Duration,
}

/// Everything needed to create a [`Peer`].
#[derive(Debug, Clone)]
pub struct PeerSetup {
    pub role: Role,
    pub local: Arc<LocalNode>,
    /// Our current AuthCert (see [`crate::auth::CertCache`]); it must stay valid for the
    /// handshake's few seconds.
    pub cert: AuthCert,
    /// 32 fresh random bytes for this connection.
    pub nonce: [u8; 32],
    /// The transport's remote address; stellar-core drops peers whose IP is unknown.
    pub remote_address: Option<SocketAddr>,
    pub config: PeerConfig,
    pub clock: WallClock,
}

/// Everything but the receive buffer, so a frame borrowed from the buffer can be processed
/// against the rest of the state.
#[derive(Debug)]
struct Conn {
    role: Role,
    local: Arc<LocalNode>,
    cert: AuthCert,
    nonce: [u8; 32],
    remote_address: Option<SocketAddr>,
    config: PeerConfig,
    clock: WallClock,
    state: State,
    keys: Option<MacKeys>,
    remote: Option<RemoteInfo>,
    send_seq: u64,
    recv_seq: u64,
    tx: Vec<u8>,
    /// Enqueue time of the newest message in `tx`.
    tx_newest: Instant,
    inbound: InboundCredit,
    outbound: OutboundCredit,
    queues: OutboundQueues,
    scp_window: ScpWindow,
    /// Size of the flood message last delivered, returned to credit on the next call.
    unprocessed: Option<usize>,
    /// An event produced outside `poll` (timers, commands), delivered by the next `poll`.
    pending: Option<Event<'static>>,
    peers_received: bool,
    created: Instant,
    last_read: Instant,
    last_write: Instant,
    /// Enqueue time of the newest message handed to the host (straggler reference).
    last_write_enqueued: Instant,
    next_tick: Instant,
    ping: Option<(Hash, Instant)>,
    /// Recent ping round trips, for surveys' `averageLatencyMs`.
    ping_history: VecDeque<(Instant, Duration)>,
    stats: PeerStats,
}

/// One connection.
#[derive(Debug)]
pub struct Peer {
    rx: FrameDecoder,
    conn: Conn,
}

/// What processing one frame produced. Moved, never stored, so its size is harmless.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    /// Nothing for the layer above; go on with the next frame.
    Continue,
    /// Deliver the current frame as [`Event::Message`].
    Deliver,
    /// Deliver this event.
    Event(Event<'static>),
}

impl Peer {
    /// A connection whose transport is up. The initiator's HELLO is queued at once.
    pub fn new(setup: PeerSetup, now: Instant) -> Self {
        let PeerSetup {
            role,
            local,
            cert,
            nonce,
            remote_address,
            config,
            clock,
        } = setup;
        let next_tick = now + config.tick_interval;
        let mut conn = Conn {
            role,
            local,
            cert,
            nonce,
            remote_address,
            config,
            clock,
            state: State::Connected,
            keys: None,
            remote: None,
            send_seq: 0,
            recv_seq: 0,
            tx: Vec::new(),
            tx_newest: now,
            inbound: InboundCredit::default(),
            outbound: OutboundCredit::new(now),
            queues: OutboundQueues::default(),
            scp_window: ScpWindow::default(),
            unprocessed: None,
            pending: None,
            peers_received: false,
            created: now,
            last_read: now,
            last_write: now,
            last_write_enqueued: now,
            next_tick,
            ping: None,
            ping_history: VecDeque::new(),
            stats: PeerStats::default(),
        };
        if role == Role::Initiator {
            conn.send_hello(now);
        }
        Peer {
            rx: FrameDecoder::new(),
            conn,
        }
    }

    pub fn role(&self) -> Role {
        self.conn.role
    }

    pub fn state(&self) -> State {
        self.conn.state
    }

    pub fn is_authenticated(&self) -> bool {
        self.conn.state == State::GotAuth
    }

    pub fn is_closed(&self) -> bool {
        self.conn.state == State::Closing
    }

    /// The remote's HELLO details, once received.
    pub fn remote(&self) -> Option<&RemoteInfo> {
        self.conn.remote.as_ref()
    }

    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.conn.remote_address
    }

    pub fn stats(&self) -> &PeerStats {
        &self.conn.stats
    }

    /// Ping round trips completed in the [`PING_HISTORY_WINDOW`] before the newest one (at
    /// most [`PING_HISTORY_MAX`]), oldest first, with when each completed. Surveys take the
    /// median of those measured while collecting (stellar-core's per-peer sliding-window
    /// latency histogram).
    pub fn ping_samples(&self) -> impl Iterator<Item = (Instant, Duration)> + '_ {
        self.conn.ping_history.iter().copied()
    }

    pub fn connected_at(&self) -> Instant {
        self.conn.created
    }

    /// Credit the remote still has from us (messages, bytes).
    pub fn inbound_credit(&self) -> (u64, u64) {
        (self.conn.inbound.messages(), self.conn.inbound.bytes())
    }

    /// Credit we still have from the remote (messages, bytes).
    pub fn outbound_credit(&self) -> (u64, u64) {
        (self.conn.outbound.messages(), self.conn.outbound.bytes())
    }

    /// Time spent with flood messages waiting for the remote's credit.
    pub fn time_without_credit(&self, now: Instant) -> Duration {
        self.conn.outbound.blocked_for(now)
    }

    /// Messages waiting for credit in one outbound queue.
    pub fn queued(&self, priority: Priority) -> usize {
        self.conn.queues.len(priority)
    }

    /// Messages dropped by outbound trimming, per queue (SCP, tx, demand, advert).
    pub fn queue_drops(&self) -> [u64; 4] {
        self.conn.queues.dropped
    }

    /// The MAC keys, once derived (for diagnostics such as key fingerprints).
    pub fn mac_keys(&self) -> Option<&MacKeys> {
        self.conn.keys.as_ref()
    }

    pub fn local_nonce(&self) -> &[u8; 32] {
        &self.conn.nonce
    }

    /// Re-anchors the wall clock (AuthCert expiry is checked in UNIX seconds).
    pub fn set_wall_clock(&mut self, clock: WallClock) {
        self.conn.clock = clock;
    }

    /// Tells the peer which SCP slots are still worth sending (queue trimming).
    pub fn set_scp_window(&mut self, window: ScpWindow) {
        self.conn.scp_window = window;
    }

    /// Takes received bytes. Returns how many were taken: fewer than offered only if the
    /// host has not drained [`Peer::poll`], in which case it should offer the rest later.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> usize {
        if self.conn.state == State::Closing || data.is_empty() {
            return data.len();
        }
        let (header_before, frame_before) = self.rx.progress();
        let taken = self.rx.push(data, self.conn.frame_limit());
        let (header_after, frame_after) = self.rx.progress();
        // Like stellar-core, only a completed header or frame counts as a read for the idle
        // timer: a peer trickling one byte a second is idle, not busy.
        if (header_after && !header_before) || (frame_after && !frame_before) {
            self.conn.last_read = now;
        }
        self.conn.stats.bytes_read += taken as u64;
        taken
    }

    /// Processes buffered frames until one produces an event.
    pub fn poll(&mut self, now: Instant, admission: &mut impl Admission) -> Option<Event<'_>> {
        self.conn.finish_processing(now);
        if let Some(ev) = self.conn.pending.take() {
            return Some(ev);
        }
        if self.conn.state == State::Closing {
            return None;
        }
        loop {
            let frame = match self.rx.next_frame(self.conn.frame_limit()) {
                Ok(Some(frame)) => frame,
                Ok(None) => return None,
                Err(bad) => {
                    self.conn.close(now, DropReason::BadFrameLength(bad));
                    self.rx.clear();
                    return self.conn.pending.take();
                }
            };
            match self.conn.process(now, frame, admission) {
                Outcome::Continue => {}
                Outcome::Deliver => break,
                Outcome::Event(ev) => {
                    if self.conn.state == State::Closing {
                        self.rx.clear();
                    }
                    return Some(ev);
                }
            }
        }
        // Re-borrow the frame just processed, now that the state is updated.
        self.last_message().map(Event::Message)
    }

    /// The message the last [`Peer::poll`] delivered, again. It stays valid until the next
    /// `poll`, `handle_input`, `handle_timeout` or `close`, so a layer above can decide what
    /// to do with a message, act on the peer (reply, send), then hand the same borrowed
    /// message on without copying it.
    pub fn last_message(&self) -> Option<Received<'_>> {
        let frame = self.rx.lent_frame()?;
        let am = AuthenticatedMessage::parse(frame).ok()?;
        let message = am.decode().ok()?;
        Some(Received {
            sequence: am.sequence,
            message,
            raw: am.message,
            frame_len: frame.len(),
        })
    }

    /// Queues a message: flood messages wait for credit in their priority queue; others go
    /// out with the next [`Peer::poll_transmit`].
    pub fn send(&mut self, now: Instant, message: &StellarMessage<'_>) -> Result<(), SendError> {
        let ty = message.message_type();
        self.conn.check_sendable(ty)?;
        if ty.is_flood() {
            self.conn.enqueue(now, ty, message.to_vec().into())
        } else {
            self.conn.write(now, message);
            Ok(())
        }
    }

    /// Queues an already-encoded StellarMessage, shared with other peers (broadcast encodes
    /// once; each peer only adds its sequence number and MAC).
    pub fn send_shared(&mut self, now: Instant, message: Arc<[u8]>) -> Result<(), SendError> {
        let ty = message
            .get(..4)
            .and_then(|t| t.try_into().ok())
            .map(i32::from_be_bytes)
            .and_then(|t| MessageType::from_i32(t).ok())
            .ok_or(SendError::Malformed)?;
        self.conn.check_sendable(ty)?;
        if ty.is_flood() {
            self.conn.enqueue(now, ty, message)
        } else {
            self.conn.write_encoded(now, ty, &message);
            Ok(())
        }
    }

    /// Hands out bytes to write: frames already due, then flood messages as far as the
    /// remote's credit allows. Appends to `out` (or swaps buffers when `out` is empty) and
    /// returns how many bytes were added.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> usize {
        let c = &mut self.conn;
        // With nothing waiting here, flood frames are written straight into a host buffer
        // that already holds bytes (lent for the call), rather than copied into it after.
        let lent = c.tx.is_empty() && !out.is_empty();
        let base = if lent {
            core::mem::swap(out, &mut c.tx);
            c.tx.len()
        } else {
            0
        };
        c.fill_from_queues(now, base);
        let n = c.tx.len() - base;
        if lent || out.is_empty() {
            core::mem::swap(out, &mut c.tx);
        } else if n > 0 {
            out.extend_from_slice(&c.tx);
            c.tx.clear();
        }
        if n == 0 {
            return 0;
        }
        c.last_write = now;
        c.last_write_enqueued = c.last_write_enqueued.max(c.tx_newest);
        c.stats.bytes_written += n as u64;
        n
    }

    /// Whether [`Peer::poll_transmit`] has anything to hand out right now.
    pub fn has_output(&self) -> bool {
        !self.conn.tx.is_empty()
            || (self.conn.state == State::GotAuth
                && self.conn.queues.has_sendable(&self.conn.outbound))
    }

    /// When [`Peer::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.conn.state != State::Closing).then_some(self.conn.next_tick)
    }

    /// Runs the recurrent timer if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let c = &mut self.conn;
        if c.state == State::Closing || now < c.next_tick {
            return;
        }
        c.next_tick = now + c.config.tick_interval;
        let idle_limit = if c.state == State::GotAuth {
            c.config.idle_timeout
        } else {
            c.config.auth_timeout
        };
        if now - c.last_read >= idle_limit && now - c.last_write >= idle_limit {
            c.close(now, DropReason::IdleTimeout);
        } else if c.outbound.timed_out(now, c.config.flow.no_credit_timeout) {
            c.close(now, DropReason::NoCreditTimeout);
        } else if now - c.last_write_enqueued >= c.config.straggler_timeout {
            c.close(now, DropReason::Straggling);
        } else if c.state == State::GotAuth && c.ping.is_none() {
            c.send_ping(now);
        }
        if c.state == State::Closing {
            self.rx.clear();
        }
    }

    /// Ends the connection from our side, sending stellar-core's ERROR_MSG for the reason
    /// if it sends one. [`Event::Closed`] follows from [`Peer::poll`].
    pub fn close(&mut self, now: Instant, reason: DropReason) {
        if self.conn.state != State::Closing {
            self.conn.close(now, reason);
            self.rx.clear();
        }
    }
}

impl Conn {
    /// Keeps a ping sample: the last [`PING_HISTORY_WINDOW`], at most [`PING_HISTORY_MAX`].
    fn record_ping(&mut self, now: Instant, rtt: Duration) {
        let h = &mut self.ping_history;
        h.push_back((now, rtt));
        let horizon = now
            .as_micros()
            .saturating_sub(PING_HISTORY_WINDOW.as_micros() as u64);
        while h.front().is_some_and(|(t, _)| t.as_micros() < horizon) || h.len() > PING_HISTORY_MAX
        {
            h.pop_front();
        }
    }

    fn frame_limit(&self) -> usize {
        if self.state == State::GotAuth {
            self.config.max_message_size
        } else {
            self.config.max_unauth_message_size
        }
    }

    fn unix_now(&self, now: Instant) -> u64 {
        self.clock.unix_secs(now)
    }

    /// Appends one frame to `tx`: `len` bytes of StellarMessage written by `body`, with the
    /// next sequence number and MAC unless its type carries none.
    fn write_with(
        &mut self,
        now: Instant,
        ty: MessageType,
        len: usize,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        match &self.keys {
            Some(keys) if !ty.is_unauthenticated() => {
                write_frame_with(&mut self.tx, self.send_seq, len, body, |input| {
                    keys.send.mac(input)
                });
                self.send_seq += 1;
            }
            _ => write_frame_with(&mut self.tx, 0, len, body, zero_mac),
        }
        self.tx_newest = now;
        self.stats.messages_written += 1;
        if self.tx.len() > self.config.max_transmit_buffer && self.state != State::Closing {
            // Keep what is there; the host will drop the connection.
            self.close(now, DropReason::TransmitOverflow);
        }
    }

    /// Writes an already-encoded message whose type has been checked.
    fn write_encoded(&mut self, now: Instant, ty: MessageType, message: &[u8]) {
        self.write_with(now, ty, message.len(), |out| out.extend_from_slice(message));
    }

    /// Encodes straight into the transmit buffer: no allocation per control message.
    fn write(&mut self, now: Instant, message: &StellarMessage<'_>) {
        self.write_with(now, message.message_type(), message.encoded_len(), |out| {
            message.encode(out)
        });
    }

    fn check_sendable(&self, ty: MessageType) -> Result<(), SendError> {
        if matches!(
            ty,
            MessageType::Hello
                | MessageType::Auth
                | MessageType::ErrorMsg
                | MessageType::SendMore
                | MessageType::SendMoreExtended
        ) {
            return Err(SendError::Reserved(ty));
        }
        match self.state {
            State::Closing => Err(SendError::Closed),
            State::GotAuth => Ok(()),
            _ => Err(SendError::NotAuthenticated),
        }
    }

    fn enqueue(
        &mut self,
        now: Instant,
        ty: MessageType,
        message: Arc<[u8]>,
    ) -> Result<(), SendError> {
        let priority = Priority::of(ty).ok_or(SendError::Malformed)?;
        if self
            .queues
            .push(priority, message, now, &self.config.flow, self.scp_window)
        {
            Ok(())
        } else {
            Err(SendError::Trimmed)
        }
    }

    /// Writes queued flood messages the remote has credit for into `tx`, whose first `base`
    /// bytes are the host's (lent by [`Peer::poll_transmit`]).
    fn fill_from_queues(&mut self, now: Instant, base: usize) {
        if self.state != State::GotAuth {
            return;
        }
        while let Some((priority, q)) = self.queues.pop_sendable(&mut self.outbound, now) {
            let Some(keys) = &self.keys else { return };
            let delay = now - q.enqueued;
            let d = &mut self.stats.queue_delay[priority as usize];
            d.count += 1;
            d.total += delay;
            d.max = d.max.max(delay);
            let m = &q.message;
            write_frame_with(
                &mut self.tx,
                self.send_seq,
                m.len(),
                |o| o.extend_from_slice(m),
                |input| keys.send.mac(input),
            );
            self.send_seq += 1;
            self.tx_newest = self.tx_newest.max(q.enqueued);
            self.stats.messages_written += 1;
            self.stats.flood_messages_written += 1;
            self.stats.flood_bytes_written += q.message.len() as u64;
            if self.tx.len() - base
                >= self
                    .config
                    .max_write_batch
                    .min(self.config.max_transmit_buffer / 2)
            {
                break;
            }
        }
    }

    fn send_hello(&mut self, now: Instant) {
        let local = Arc::clone(&self.local);
        let (cert, nonce) = (self.cert, self.nonce);
        let hello = StellarMessage::Hello(Hello {
            ledger_version: local.ledger_version,
            overlay_version: local.overlay_version,
            overlay_min_version: local.overlay_min_version,
            network_id: &local.network_id.0,
            version_str: local.version_str.as_bytes(),
            listening_port: i32::from(local.listening_port),
            peer_id: &local.key.node_id().0,
            cert: cert.view(),
            nonce: &nonce,
        });
        self.write(now, &hello);
    }

    fn send_auth(&mut self, now: Instant) {
        self.write(now, &StellarMessage::Auth(Auth { flags: AUTH_FLAGS }));
    }

    fn send_ping(&mut self, now: Instant) {
        let Some(keys) = &self.keys else { return };
        // Any id the remote will echo in DONT_HAVE; stellar-core uses a keyed hash of the
        // send time in the first 8 bytes, so do we.
        let tag = keys.send.mac(&now.as_micros().to_be_bytes());
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&tag[..8]);
        self.ping = Some((id, now));
        self.stats.pings += 1;
        self.write(now, &StellarMessage::GetScpQuorumSet(&id));
    }

    /// Returns the credit of the flood message delivered by the previous `poll`.
    fn finish_processing(&mut self, now: Instant) {
        if let Some(size) = self.unprocessed.take()
            && let Some(grant) = self.inbound.processed(size, &self.config.flow)
            && self.state == State::GotAuth
        {
            self.write(now, &StellarMessage::SendMoreExtended(grant));
        }
    }

    fn close(&mut self, now: Instant, reason: DropReason) {
        if self.state == State::Closing {
            return;
        }
        if let Some(code) = reason.error() {
            let text = alloc::format!("{reason}");
            let text = if matches!(reason, DropReason::CorruptXdr(_)) {
                "received corrupt XDR"
            } else {
                &text
            };
            self.write(now, &StellarMessage::ErrorMsg(ErrorMsg::new(code, text)));
        }
        self.state = State::Closing;
        self.queues.clear();
        self.unprocessed = None;
        self.pending = Some(Event::Closed(reason));
    }

    /// Closes and returns the Closed event at once.
    fn fail(&mut self, now: Instant, reason: DropReason) -> Outcome {
        self.close(now, reason);
        match self.pending.take() {
            Some(ev) => Outcome::Event(ev),
            None => Outcome::Continue,
        }
    }

    fn process(&mut self, now: Instant, frame: &[u8], admission: &mut impl Admission) -> Outcome {
        self.stats.messages_read += 1;
        let am = match AuthenticatedMessage::parse(frame) {
            Ok(am) => am,
            Err(e) => return self.fail(now, DropReason::CorruptXdr(e)),
        };
        let message = match am.decode() {
            Ok(m) => m,
            Err(e) => return self.fail(now, DropReason::CorruptXdr(e)),
        };
        let ty = message.message_type();

        // MAC and sequence, once the keys exist; ERROR_MSG is never checked.
        if self.state >= State::GotHello && ty != MessageType::ErrorMsg {
            if am.sequence != self.recv_seq {
                let expected = self.recv_seq;
                return self.fail(
                    now,
                    DropReason::UnexpectedSequence {
                        expected,
                        got: am.sequence,
                    },
                );
            }
            let ok = self
                .keys
                .as_ref()
                .is_some_and(|k| k.recv.verify(am.mac_input, am.mac));
            if !ok {
                return self.fail(now, DropReason::BadMac);
            }
            self.recv_seq += 1;
        }

        if self.state != State::GotAuth
            && !matches!(
                ty,
                MessageType::Hello | MessageType::Auth | MessageType::ErrorMsg
            )
        {
            return self.fail(now, DropReason::BeforeHandshake(ty));
        }

        if ty.is_flood() {
            let size = am.message.len();
            if self.inbound.receive(size).is_err() {
                return self.fail(now, DropReason::PeerAtCapacity);
            }
            self.stats.flood_messages_read += 1;
            self.stats.flood_bytes_read += size as u64;
            self.unprocessed = Some(size);
        }

        match message {
            StellarMessage::ErrorMsg(e) => {
                let mut msg = heapless::String::new();
                for c in e.msg.iter().map(|b| *b as char) {
                    // Sanitised to printable text, as stellar-core logs it.
                    let _ = msg.push(if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    });
                }
                self.fail(now, DropReason::RemoteError { code: e.code, msg })
            }
            StellarMessage::Hello(h) => self.recv_hello(now, &h, admission),
            StellarMessage::Auth(a) => self.recv_auth(now, a, admission),
            StellarMessage::SendMore(_) => self.fail(now, DropReason::UnexpectedSendMore),
            StellarMessage::SendMoreExtended(g) => match self.outbound.grant(g, now) {
                Ok(()) => Outcome::Event(Event::CreditGranted(g)),
                Err(FlowError::CapacityOverflow) => self.fail(now, DropReason::CapacityOverflow),
                Err(_) => self.fail(now, DropReason::InvalidSendMoreExtended),
            },
            StellarMessage::Peers(_) => {
                if self.role == Role::Acceptor {
                    self.fail(now, DropReason::PeersFromInitiator)
                } else if self.peers_received {
                    self.fail(now, DropReason::TooManyPeers)
                } else {
                    self.peers_received = true;
                    Outcome::Deliver
                }
            }
            StellarMessage::DontHave(DontHave {
                message_type: MessageType::ScpQuorumSet,
                req_hash,
            }) if self.ping.is_some_and(|(id, _)| id == *req_hash) => {
                if let Some((_, sent)) = self.ping.take() {
                    self.stats.last_ping = Some(now - sent);
                    self.record_ping(now, now - sent);
                }
                Outcome::Continue
            }
            _ => Outcome::Deliver,
        }
    }

    fn recv_hello(
        &mut self,
        now: Instant,
        h: &Hello<'_>,
        admission: &mut impl Admission,
    ) -> Outcome {
        if self.state >= State::GotHello {
            return self.fail(now, DropReason::UnexpectedHello);
        }
        if let Err(e) = AuthCert::verify(
            &h.cert,
            &self.local.network_id,
            h.peer_id,
            self.unix_now(now),
        ) {
            return self.fail(now, DropReason::CertInvalid(e));
        }
        let node_id = NodeId(*h.peer_id);
        if admission.is_banned(&node_id) {
            return self.fail(now, DropReason::Banned);
        }
        let keys = match derive_mac_keys(
            self.role,
            &self.local.ecdh,
            h.cert.pubkey,
            &self.nonce,
            h.nonce,
        ) {
            Ok(k) => k,
            Err(_) => return self.fail(now, DropReason::BadCrypto),
        };
        let mut version_str = heapless::Vec::new();
        let _ = version_str
            .extend_from_slice(&h.version_str[..h.version_str.len().min(VERSION_STR_MAX)]);
        let address = self.remote_address.and_then(|a| {
            u16::try_from(h.listening_port)
                .ok()
                .map(|port| SocketAddr::new(a.ip(), port))
        });
        let remote = RemoteInfo {
            node_id,
            ledger_version: h.ledger_version,
            overlay_version: h.overlay_version,
            overlay_min_version: h.overlay_min_version,
            version_str,
            listening_port: h.listening_port,
            address,
            cert_expiration: h.cert.expiration,
            cert_pubkey: *h.cert.pubkey,
            nonce: *h.nonce,
        };
        self.keys = Some(keys);
        self.remote = Some(remote.clone());
        self.state = State::GotHello;

        if self.remote_address.is_none() {
            return self.fail(now, DropReason::BadAddress);
        }
        if self.role == Role::Acceptor {
            self.send_hello(now);
        }
        let local = &self.local;
        if h.overlay_min_version > h.overlay_version
            || h.overlay_version < local.overlay_min_version
            || h.overlay_min_version > local.overlay_version
        {
            let reason = DropReason::WrongVersion {
                remote_min: h.overlay_min_version,
                remote_max: h.overlay_version,
                local_min: local.overlay_min_version,
                local_max: local.overlay_version,
            };
            return self.fail(now, reason);
        }
        if node_id == local.node_id() {
            return self.fail(now, DropReason::ConnectingToSelf);
        }
        if *h.network_id != local.network_id.0 {
            return self.fail(now, DropReason::WrongNetwork);
        }
        if !(1..=i32::from(u16::MAX)).contains(&h.listening_port) {
            return self.fail(now, DropReason::BadAddress);
        }
        if !admission.hello_accepted(self.role, &remote) {
            return self.fail(now, DropReason::AlreadyConnected(node_id));
        }
        if self.role == Role::Initiator {
            self.send_auth(now);
        }
        Outcome::Event(Event::Hello(remote))
    }

    fn recv_auth(&mut self, now: Instant, a: Auth, admission: &mut impl Admission) -> Outcome {
        if self.state != State::GotHello {
            return self.fail(now, DropReason::OutOfOrderAuth);
        }
        self.state = State::GotAuth;
        let Some(remote) = self.remote.clone() else {
            return self.fail(now, DropReason::OutOfOrderAuth);
        };
        if self.role == Role::Acceptor {
            self.send_auth(now);
            let peers = admission.peers_to_send(&remote);
            if !peers.is_empty() {
                let mut list = Vec::new();
                Peers::encode_list(&peers, &mut list);
                self.write_with(now, MessageType::Peers, 4 + list.len(), |out| {
                    out.extend_from_slice(&(MessageType::Peers as i32).to_be_bytes());
                    out.extend_from_slice(&list);
                });
            }
        }
        // stellar-core v25 admits before it checks the flags.
        if !admission.admit(self.role, &remote) {
            return self.fail(now, DropReason::PeerRejected);
        }
        if a.flags != AUTH_FLAGS {
            return self.fail(now, DropReason::FlowControlBytesDisabled);
        }
        let grant = self.inbound.initial_grant(&self.config.flow);
        self.write(now, &StellarMessage::SendMoreExtended(grant));
        if let Some(ledger) = self.config.scp_state_request {
            self.write(now, &StellarMessage::GetScpState(ledger));
        }
        Outcome::Event(Event::Authenticated(remote))
    }
}
