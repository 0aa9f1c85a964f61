//! Drives one `Peer` as a host would, with a [`Session`] as the remote, and asserts the
//! peer-level invariants after every step.

use std::sync::Arc;
use std::time::Duration;

use overlay_core::flow::{FlowConfig, Priority};
use overlay_core::wire::{MessageType, PeerAddress, StellarMessage};
use overlay_core::{
    Admission, DropReason, Event, Instant, NodeId, Peer, PeerConfig, PeerSetup, RemoteInfo, Role,
};

use crate::{Session, clock, local, local_cert, loopback};

pub fn other(role: Role) -> Role {
    match role {
        Role::Initiator => Role::Acceptor,
        Role::Acceptor => Role::Initiator,
    }
}

/// What the harness says before the fuzz input takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    None,
    /// The remote's valid HELLO.
    Hello,
    /// The remote's valid HELLO and AUTH: the peer must end up authenticated.
    Authenticated,
}

/// Handshake answers: admits everyone, hands out a few addresses.
#[derive(Debug, Default)]
pub struct Gate {
    pub reject: bool,
}

impl Admission for Gate {
    fn is_banned(&self, _: &NodeId) -> bool {
        false
    }
    fn hello_accepted(&mut self, _: Role, _: &RemoteInfo) -> bool {
        true
    }
    fn admit(&mut self, _: Role, _: &RemoteInfo) -> bool {
        !self.reject
    }
    fn peers_to_send(&mut self, _: &RemoteInfo) -> Vec<PeerAddress> {
        (1..4u8)
            .map(|i| PeerAddress {
                ip: [1, 2, 3, i].into(),
                port: 11625,
                num_failures: 0,
            })
            .collect()
    }
}

/// Small settings, so credit runs out, queues trim and the transmit buffer overflows
/// within a fuzz input.
pub fn tight_config() -> PeerConfig {
    PeerConfig {
        flow: FlowConfig {
            flood_reading_capacity: 4,
            flood_reading_capacity_bytes: 2048,
            send_more_batch_size: 2,
            send_more_batch_size_bytes: 1024,
            outbound_tx_queue_byte_limit: 4096,
            max_tx_size: 1024,
            max_tx_set_size_ops: 4,
            no_credit_timeout: Duration::from_secs(10),
            max_scp_queue: 4,
        },
        max_transmit_buffer: 16 * 1024,
        max_message_size: 64 * 1024,
        ..PeerConfig::default()
    }
}

#[derive(Debug)]
pub struct Harness {
    pub peer: Peer,
    pub session: Session,
    pub gate: Gate,
    pub now: Instant,
    pub config: PeerConfig,
    pub hello: bool,
    pub authenticated: bool,
    pub closed: Option<DropReason>,
    /// While true the host does not drain `poll_transmit` (a host whose socket is full).
    pub withhold: bool,
    pub messages: u64,
    out: Vec<u8>,
    buf: Vec<u8>,
}

impl Harness {
    pub fn new(role: Role, session: Session, nonce: [u8; 32]) -> Self {
        Self::with_config(role, session, nonce, PeerConfig::default())
    }

    pub fn with_config(
        role: Role,
        mut session: Session,
        nonce: [u8; 32],
        config: PeerConfig,
    ) -> Self {
        session.expect_local(nonce, local().ecdh.public());
        let peer = Peer::new(
            PeerSetup {
                role,
                local: Arc::clone(local()),
                cert: local_cert(),
                nonce,
                remote_address: Some(loopback(40000)),
                config: config.clone(),
                clock: clock(),
            },
            Instant::ZERO,
        );
        let mut h = Harness {
            peer,
            session,
            gate: Gate::default(),
            now: Instant::ZERO,
            config,
            hello: false,
            authenticated: false,
            closed: None,
            withhold: false,
            messages: 0,
            out: Vec::new(),
            buf: Vec::new(),
        };
        h.drain();
        h
    }

    /// Plays the start of an honest handshake.
    pub fn prefix(&mut self, prefix: Prefix) {
        if prefix == Prefix::None {
            return;
        }
        let hello = self.session.remote().hello_frame.clone();
        self.input(&hello);
        assert!(
            self.hello,
            "the remote's valid HELLO is accepted: {:?}",
            self.closed
        );
        if prefix == Prefix::Authenticated {
            self.send(&auth_message());
            assert!(
                self.authenticated,
                "a valid handshake authenticates: {:?}",
                self.closed
            );
        }
    }

    /// Frames a message as the honest remote (sequence and MAC) and feeds it.
    pub fn send(&mut self, message: &[u8]) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        self.session.frame(message, &mut buf);
        self.input(&buf);
        self.buf = buf;
    }

    /// Feeds transport bytes, draining events whenever the peer stops taking them.
    pub fn input(&mut self, mut bytes: &[u8]) {
        let mut stalls = 0;
        while !bytes.is_empty() {
            let took = self.peer.handle_input(self.now, bytes);
            assert!(took <= bytes.len());
            bytes = &bytes[took..];
            self.drain();
            if took == 0 {
                stalls += 1;
                assert!(stalls < 3, "peer takes no bytes although drained");
            }
        }
    }

    /// Advances the clock by `ms` and runs the timer if due.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now + Duration::from_millis(ms);
        if let Some(t) = self.peer.poll_timeout() {
            assert!(!self.peer.is_closed());
            if t <= self.now {
                self.peer.handle_timeout(self.now);
            }
        }
        self.drain();
    }

    /// Drains events, checks them, then takes the output unless withheld.
    pub fn drain(&mut self) {
        let mut n = 0u32;
        while let Some(ev) = self.peer.poll(self.now, &mut self.gate) {
            n += 1;
            assert!(n < 1_000_000, "poll does not terminate");
            assert!(self.closed.is_none(), "an event after Closed: {ev:?}");
            match ev {
                Event::Hello(r) => {
                    assert!(!self.hello, "two HELLO events");
                    assert_eq!(r.node_id, self.session.remote().node.node_id());
                    self.hello = true;
                }
                Event::Authenticated(r) => {
                    assert!(self.hello && !self.authenticated);
                    assert_eq!(r.node_id, self.session.remote().node.node_id());
                    self.authenticated = true;
                }
                Event::CreditGranted(g) => {
                    assert!(self.authenticated);
                    assert!(g.num_bytes > 0);
                }
                Event::Message(m) => {
                    assert!(self.authenticated, "a message before authentication");
                    let ty = m.message.message_type();
                    assert!(
                        !matches!(
                            ty,
                            MessageType::Hello
                                | MessageType::Auth
                                | MessageType::ErrorMsg
                                | MessageType::SendMore
                                | MessageType::SendMoreExtended
                        ),
                        "the peer delivers {ty}, which it handles itself"
                    );
                    assert_eq!(m.frame_len, m.raw.len() + 44);
                    crate::checks::reencodes(&m.message, m.raw);
                    if ty == MessageType::Peers {
                        assert_eq!(self.peer.role(), Role::Initiator);
                    }
                    self.messages += 1;
                }
                Event::Closed(reason) => {
                    let _ = reason.to_string();
                    let _ = reason.kind();
                    self.closed = Some(reason);
                }
            }
            self.check_state();
        }
        if self.closed.is_some() {
            assert!(self.peer.is_closed());
            assert!(self.peer.poll(self.now, &mut self.gate).is_none());
            assert!(self.peer.poll_timeout().is_none());
        }
        self.check_state();
        if !self.withhold {
            self.transmit();
        }
    }

    /// Takes everything the peer has to write and checks it as the remote.
    pub fn transmit(&mut self) {
        loop {
            self.out.clear();
            let n = self.peer.poll_transmit(self.now, &mut self.out);
            assert_eq!(n, self.out.len());
            if n == 0 {
                break;
            }
            self.session.check_output(&self.out);
        }
        assert!(!self.peer.has_output() || self.peer.is_closed());
    }

    fn check_state(&self) {
        let flow = &self.config.flow;
        let (messages, bytes) = self.peer.inbound_credit();
        assert!(
            messages <= u64::from(flow.flood_reading_capacity),
            "inbound credit grew"
        );
        assert!(
            bytes <= u64::from(flow.flood_reading_capacity_bytes),
            "inbound byte credit grew"
        );
        let limits = [
            (Priority::Scp, flow.max_scp_queue),
            (Priority::Transaction, flow.max_tx_set_size_ops),
            (Priority::Demand, flow.max_tx_set_size_ops),
            (Priority::Advert, flow.max_tx_set_size_ops),
        ];
        for (p, limit) in limits {
            assert!(self.peer.queued(p) <= limit, "{p:?} queue over its bound");
        }
        assert_eq!(
            self.peer.is_authenticated(),
            self.authenticated && self.closed.is_none()
        );
    }

    /// End-of-input checks.
    pub fn finish(&mut self) {
        self.withhold = false;
        self.drain();
        if self.closed.is_some() {
            assert!(self.peer.is_closed());
        }
    }
}

/// `AUTH { flags: 200 }`.
pub fn auth_message() -> Vec<u8> {
    StellarMessage::Auth(overlay_core::wire::Auth {
        flags: overlay_core::wire::AUTH_FLAGS,
    })
    .to_vec()
}
