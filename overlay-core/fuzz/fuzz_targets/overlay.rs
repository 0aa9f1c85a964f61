//! An `Overlay` fed arbitrary sequences of events, decoded from the fuzz input with
//! `arbitrary`: connections accepted, dialled, connected, failed and closed; honest remotes
//! that complete the handshake and then send structured messages (SCP envelopes, adverts,
//! demands, fetch requests and answers, PEERS, credit, survey messages, real stellar-xdr
//! encodings) with real MACs; raw bytes; time advancing; and the application's commands
//! (broadcast, add_transaction, fetch, stop_fetch, provide, ban, drop, ledger changes), and
//! correctly signed time-sliced survey messages from remotes allowed to survey, with the
//! admin's survey commands, so the survey's phases, limiter and relaying are reached.
//!
//! The harness is a host that follows the drain rule: after each event it drains
//! `poll_event`, writes out `poll_transmit` (unless a connection's socket is "full"),
//! closes dropped connections, and, as an application, optionally relays what it receives.
//! Invariants: no panic; `poll_event` terminates; events name live connections; each
//! connection authenticates and drops at most once; the floodgate, SCP state and stores stay
//! within their configured bounds; everything written on a connection is well-formed, in
//! sequence, and (for honest remotes) correctly MACed.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overlay_core::fetch::{ItemKind, quorum_set_hash};
use overlay_core::flood::sha256;
use overlay_core::overlay::{Overlay, OverlayConfig, OverlayEvent};
use overlay_core::peers::{AddressPolicy, ConnectionLimits};
use overlay_core::wire::{
    DontHave, Hash, MessageType, PeerAddress, Peers, SendMoreExtended, StellarMessage, TxHashes,
};
use overlay_core::{ConnId, DropReason, Instant, Role};
use overlay_core_fuzz::peer::{auth_message, other, tight_config};
use overlay_core_fuzz::{REMOTES, Session, clock, local, remote, seed_messages};

const MAX_CONNS: usize = 12;
const MAX_OPS: usize = 96;

#[derive(Arbitrary, Debug)]
struct Input {
    tight: bool,
    allow_private: bool,
    relay: bool,
    /// The remotes may survey this node (SURVEYOR_KEYS), so their signed survey messages
    /// get past the permission check into the limiter, the phases and the relaying.
    surveyors: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Accept {
        ip: u8,
    },
    Dial {
        ip: u8,
    },
    Connected {
        ip: u8,
    },
    ConnectFailed {
        ip: u8,
    },
    /// The remote of `conn` (remote identity `who`) plays HELLO then AUTH.
    Handshake {
        conn: u8,
        who: u8,
    },
    Send {
        conn: u8,
        msg: Msg,
    },
    Raw {
        conn: u8,
        bytes: Vec<u8>,
    },
    Closed {
        conn: u8,
    },
    Advance {
        ms: u16,
    },
    Broadcast(Msg),
    AddTransaction {
        tx: u8,
    },
    Fetch {
        qset: bool,
        item: u8,
        envelope: u8,
        slot: u8,
    },
    StopFetch {
        qset: bool,
        item: u8,
        envelope: u8,
    },
    Provide {
        qset: bool,
        item: u8,
    },
    Forget {
        item: u8,
    },
    Ban {
        who: u8,
    },
    Unban {
        who: u8,
    },
    Drop {
        conn: u8,
    },
    SetLedger {
        ledger: u8,
    },
    ClearBelow {
        ledger: u8,
    },
    /// The host's socket for `conn` is full (or drains again).
    Withhold {
        conn: u8,
    },
    /// The admin's survey commands (`startsurveycollecting`, `stopsurveycollecting`,
    /// `surveytopologytimesliced`, `stopsurvey`).
    SurveyStart {
        nonce: u8,
    },
    SurveyStop,
    SurveyTopology {
        who: u8,
        inbound: u8,
        outbound: u8,
    },
    SurveyStopReporting,
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Seed(u16),
    Scp {
        node: u8,
        slot: u8,
        kind: u8,
        value: u8,
        qset: u8,
    },
    Tx(u8),
    Advert(Vec<u8>),
    Demand(Vec<u8>),
    GetTxSet(u8),
    GetQuorumSet(u8),
    GetScpState(u8),
    TxSet(u8),
    QuorumSet(u8),
    DontHave {
        qset: bool,
        item: u8,
    },
    Peers(Vec<(u8, u16)>),
    Credit {
        messages: u16,
        bytes: u16,
    },
    Typed {
        ty: u8,
        body: Vec<u8>,
    },
    /// A time-sliced survey message correctly signed by `signer` (a remote, or us).
    Survey {
        kind: u8,
        signer: u8,
        surveyed: u8,
        nonce: u8,
        ledger: u8,
        index: u8,
        body: Vec<u8>,
    },
}

/// Remote `i`'s node, or ours for `i == REMOTES`.
fn survey_party(i: u8) -> &'static overlay_core::LocalNode {
    let i = usize::from(i) % (REMOTES + 1);
    if i == REMOTES {
        local()
    } else {
        &remote(i).node
    }
}

/// Transaction `i` of the pool: a 4-byte aligned opaque envelope.
fn tx(i: u8) -> Vec<u8> {
    vec![i; 8 + 4 * usize::from(i % 4)]
}

/// Quorum set `i` of the pool (opaque XDR as far as the overlay goes).
fn qset(i: u8) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0];
    v.extend_from_slice(&[i % 4; 32]);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

/// Generalized tx set `i` of the pool.
fn txset(i: u8) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1];
    v.extend_from_slice(&[i % 4; 32]);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

fn item_hash(qset_kind: bool, i: u8) -> Hash {
    if qset_kind {
        quorum_set_hash(&qset(i))
    } else {
        sha256(&txset(i))
    }
}

fn tag(ty: MessageType) -> Vec<u8> {
    (ty as i32).to_be_bytes().to_vec()
}

/// An SCP envelope (StellarMessage XDR) with a dummy signature.
fn scp(node: u8, slot: u8, kind: u8, value: u8, qset_i: u8) -> Vec<u8> {
    let mut v = tag(MessageType::ScpMessage);
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(&[node % 4; 32]);
    v.extend_from_slice(&u64::from(slot % 8).to_be_bytes());
    let value_xdr = {
        // A StellarValue-like value naming tx set `value`.
        let mut w = sha256(&txset(value)).to_vec();
        w.extend_from_slice(&u64::from(value).to_be_bytes());
        w
    };
    let qh = quorum_set_hash(&qset(qset_i));
    let ballot = |v: &mut Vec<u8>, counter: u32| {
        v.extend_from_slice(&counter.to_be_bytes());
        v.extend_from_slice(&(value_xdr.len() as u32).to_be_bytes());
        v.extend_from_slice(&value_xdr);
    };
    match kind % 4 {
        0 => {
            v.extend_from_slice(&0i32.to_be_bytes());
            v.extend_from_slice(&qh);
            ballot(&mut v, u32::from(kind / 4));
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&[0; 8]);
        }
        1 => {
            v.extend_from_slice(&1i32.to_be_bytes());
            ballot(&mut v, u32::from(kind / 4));
            v.extend_from_slice(&[0; 12]);
            v.extend_from_slice(&qh);
        }
        2 => {
            v.extend_from_slice(&2i32.to_be_bytes());
            ballot(&mut v, 1);
            v.extend_from_slice(&[0, 0, 0, 1]);
            v.extend_from_slice(&qh);
        }
        _ => {
            v.extend_from_slice(&3i32.to_be_bytes());
            v.extend_from_slice(&qh);
            let votes = 1 + u32::from(kind / 4 % 3);
            v.extend_from_slice(&votes.to_be_bytes());
            for _ in 0..votes {
                v.extend_from_slice(&(value_xdr.len() as u32).to_be_bytes());
                v.extend_from_slice(&value_xdr);
            }
            v.extend_from_slice(&[0; 4]);
        }
    }
    v.extend_from_slice(&64u32.to_be_bytes());
    v.extend_from_slice(&[7; 64]);
    v
}

fn hashes(items: &[u8], advert: bool) -> Vec<u8> {
    let list: Vec<Hash> = items.iter().take(1001).map(|i| sha256(&tx(*i))).collect();
    let h = TxHashes::new(&list);
    let m = if advert {
        StellarMessage::FloodAdvert(h)
    } else {
        StellarMessage::FloodDemand(h)
    };
    m.to_vec()
}

fn encode(msg: &Msg) -> Vec<u8> {
    match msg {
        Msg::Seed(i) => {
            let seeds = seed_messages();
            if seeds.is_empty() {
                return tag(MessageType::GetScpState);
            }
            seeds[usize::from(*i) % seeds.len()].clone()
        }
        Msg::Scp {
            node,
            slot,
            kind,
            value,
            qset,
        } => scp(*node, *slot, *kind, *value, *qset),
        Msg::Tx(i) => [tag(MessageType::Transaction), tx(*i)].concat(),
        Msg::Advert(items) => hashes(items, true),
        Msg::Demand(items) => hashes(items, false),
        Msg::GetTxSet(i) => StellarMessage::GetTxSet(&item_hash(false, *i)).to_vec(),
        Msg::GetQuorumSet(i) => StellarMessage::GetScpQuorumSet(&item_hash(true, *i)).to_vec(),
        Msg::GetScpState(l) => StellarMessage::GetScpState(u32::from(*l)).to_vec(),
        Msg::TxSet(i) => [tag(MessageType::GeneralizedTxSet), txset(*i)].concat(),
        Msg::QuorumSet(i) => [tag(MessageType::ScpQuorumSet), qset(*i)].concat(),
        Msg::DontHave { qset, item } => StellarMessage::DontHave(DontHave {
            message_type: if *qset {
                MessageType::ScpQuorumSet
            } else {
                MessageType::GeneralizedTxSet
            },
            req_hash: &item_hash(*qset, *item),
        })
        .to_vec(),
        Msg::Peers(list) => {
            let addrs: Vec<PeerAddress> = list
                .iter()
                .map(|(ip, port)| PeerAddress {
                    ip: [if ip % 3 == 0 { 10 } else { 5 }, 6, ip % 8, *ip].into(),
                    port: u32::from(*port),
                    num_failures: u32::from(ip % 5),
                })
                .collect();
            let mut m = tag(MessageType::Peers);
            Peers::encode_list(&addrs, &mut m);
            m
        }
        Msg::Credit { messages, bytes } => StellarMessage::SendMoreExtended(SendMoreExtended {
            num_messages: u32::from(*messages),
            num_bytes: u32::from(*bytes),
        })
        .to_vec(),
        Msg::Typed { ty, body } => {
            let t = MessageType::ALL[usize::from(*ty) % MessageType::ALL.len()];
            [tag(t), body.clone()].concat()
        }
        Msg::Survey {
            kind,
            signer,
            surveyed,
            nonce,
            ledger,
            index,
            body,
        } => {
            use overlay_core::survey;
            let key = &survey_party(*signer).key;
            let other = survey_party(*surveyed).node_id();
            let (nonce, ledger) = (u32::from(*nonce % 4), u32::from(*ledger));
            match kind % 4 {
                0 => survey::start_collecting_message(key, nonce, ledger),
                1 => survey::stop_collecting_message(key, nonce, ledger),
                2 => {
                    let encryption = survey::x25519_public(&[*signer; 32]);
                    let (i, o) = (u32::from(*index % 32), u32::from(*index / 32));
                    survey::request_message(key, &other, ledger, &encryption, nonce, i, o)
                }
                _ => survey::response_message(key, &other, ledger, body, nonce),
            }
        }
    }
}

fn ip(i: u8) -> SocketAddr {
    SocketAddr::from(([5, 6, 7, i % 16], 11625))
}

/// One connection as the host sees it.
#[derive(Debug)]
struct Link {
    session: Session,
    /// Bytes not from the honest remote went in: MACs of the output are not checked.
    tainted: bool,
    withhold: bool,
    /// The remote's HELLO went out (its identity is fixed from then on).
    hello_sent: bool,
    authenticated: bool,
    dropped: bool,
}

struct Host {
    overlay: Overlay,
    now: Instant,
    links: BTreeMap<ConnId, Link>,
    order: Vec<ConnId>,
    dials: BTreeSet<SocketAddr>,
    relay: bool,
    config: OverlayConfig,
    out: Vec<u8>,
}

impl Host {
    fn conn(&self, i: u8) -> Option<ConnId> {
        (!self.order.is_empty()).then(|| self.order[usize::from(i) % self.order.len()])
    }

    fn add(&mut self, id: ConnId, role: Role) {
        assert!(!self.links.contains_key(&id), "a connection id reused");
        let session = Session::new(0, other(role));
        self.links.insert(
            id,
            Link {
                session,
                tainted: false,
                withhold: false,
                hello_sent: false,
                authenticated: false,
                dropped: false,
            },
        );
        self.order.push(id);
    }

    fn input(&mut self, id: ConnId, mut bytes: &[u8]) {
        let mut stalls = 0;
        while !bytes.is_empty() {
            let took = self.overlay.handle_input(self.now, id, bytes);
            assert!(took <= bytes.len());
            bytes = &bytes[took..];
            self.drain();
            if took == 0 {
                stalls += 1;
                if stalls > 2 {
                    break;
                }
            }
        }
        self.drain();
    }

    /// The transport of `id` ended: the overlay reports the drop (unless it already did)
    /// and forgets the connection.
    fn close(&mut self, id: ConnId) {
        self.overlay.handle_closed(self.now, id);
        self.drain();
        self.links.remove(&id);
        self.order.retain(|c| *c != id);
        assert!(
            self.overlay.peer(id).is_none(),
            "a closed connection lingers"
        );
    }

    fn send(&mut self, id: ConnId, message: &[u8]) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let mut buf = Vec::new();
        link.session.frame(message, &mut buf);
        self.input(id, &buf);
    }

    /// The drain rule, plus the application's part.
    fn drain(&mut self) {
        let mut relay_scp = Vec::new();
        let mut relay_tx = Vec::new();
        let mut fetches = Vec::new();
        let mut n = 0u32;
        while let Some(ev) = self.overlay.poll_event(self.now) {
            n += 1;
            assert!(n < 100_000, "poll_event does not terminate");
            match ev {
                OverlayEvent::Connect(a) => {
                    assert!(self.dials.len() < 10_000);
                    self.dials.insert(a);
                }
                OverlayEvent::PeerAuthenticated { conn, role, remote } => {
                    let link = self
                        .links
                        .get_mut(&conn)
                        .expect("authenticated conn is known");
                    assert!(!link.authenticated && !link.dropped, "authenticated twice");
                    assert_eq!(role, other(link.session.remote_role));
                    if !link.tainted {
                        assert_eq!(remote.node_id, link.session.remote().node.node_id());
                    }
                    link.authenticated = true;
                }
                OverlayEvent::PeerDropped { conn, reason, .. } => {
                    let link = self.links.get_mut(&conn).expect("dropped conn is known");
                    assert!(!link.dropped, "dropped twice");
                    let _ = reason.to_string();
                    link.dropped = true;
                }
                OverlayEvent::ScpMessage {
                    from,
                    key,
                    message,
                    envelope,
                } => {
                    live(&self.links, from);
                    assert_eq!(&message[4..], envelope.bytes);
                    if self.relay {
                        relay_scp.push(message.to_vec());
                        fetches.push((
                            ItemKind::QuorumSet,
                            *envelope.quorum_set_hash(),
                            key,
                            envelope.slot_index,
                        ));
                    }
                }
                OverlayEvent::Transaction {
                    from,
                    hash,
                    envelope,
                } => {
                    live(&self.links, from);
                    assert_eq!(hash, sha256(envelope));
                    if self.relay {
                        relay_tx.push(envelope.to_vec());
                    }
                }
                OverlayEvent::TxSet {
                    from,
                    hash,
                    message,
                    envelopes,
                }
                | OverlayEvent::QuorumSet {
                    from,
                    hash,
                    message,
                    envelopes,
                } => {
                    live(&self.links, from);
                    assert!(!message.is_empty());
                    assert!(envelopes.len() <= 10_000);
                    let _ = hash;
                }
                OverlayEvent::Message { from, message } => {
                    live(&self.links, from);
                    let _ = message.message_type();
                }
                _ => {}
            }
        }
        for m in relay_scp {
            self.overlay.broadcast(self.now, &m);
        }
        for t in relay_tx {
            self.overlay.add_transaction(self.now, &t);
        }
        for (kind, item, env, slot) in fetches {
            self.overlay.fetch(self.now, kind, item, env, slot);
        }
        self.flush();
        self.check_bounds();
    }

    /// Writes out every connection's bytes (except withheld ones) and closes the dropped.
    fn flush(&mut self) {
        let ids: Vec<ConnId> = self.links.keys().copied().collect();
        for id in ids {
            let Some(link) = self.links.get_mut(&id) else {
                continue;
            };
            if link.withhold && !link.dropped {
                continue;
            }
            loop {
                self.out.clear();
                let n = self.overlay.transmit(self.now, id, &mut self.out);
                if n == 0 {
                    break;
                }
                if link.tainted {
                    // A foreign HELLO may have set other keys: check framing only.
                    check_framing(&self.out);
                } else {
                    link.session.check_output(&self.out);
                }
            }
            if link.dropped {
                self.links.remove(&id);
                self.order.retain(|c| *c != id);
                self.overlay.handle_closed(self.now, id);
                assert!(
                    self.overlay.peer(id).is_none(),
                    "a closed connection lingers"
                );
            }
        }
    }

    fn check_bounds(&self) {
        let c = &self.config;
        assert!(
            self.overlay.floodgate().len() <= c.floodgate_capacity,
            "floodgate unbounded"
        );
        assert!(
            self.overlay.scp_state().len() <= c.scp_state_envelopes,
            "SCP state unbounded"
        );
        assert!(self.overlay.connection_count() <= MAX_CONNS + 1);
        assert!(self.overlay.authenticated().count() <= self.links.len());
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Accept { ip: i } => {
                if self.links.len() < MAX_CONNS
                    && let Some(id) = self.overlay.handle_accept(self.now, ip(*i))
                {
                    self.add(id, Role::Acceptor);
                    self.drain();
                }
            }
            Op::Dial { ip: i } => {
                if let SocketAddr::V4(a) = ip(*i) {
                    self.overlay.connect(self.now, a);
                    self.drain();
                }
            }
            Op::Connected { ip: i } => {
                if self.links.len() < MAX_CONNS {
                    let a = self
                        .dials
                        .iter()
                        .nth(usize::from(*i) % self.dials.len().max(1))
                        .copied();
                    let a = a.unwrap_or(ip(*i));
                    self.dials.remove(&a);
                    let id = self.overlay.handle_connected(self.now, a);
                    self.add(id, Role::Initiator);
                    self.drain();
                }
            }
            Op::ConnectFailed { ip: i } => {
                let a = self
                    .dials
                    .iter()
                    .nth(usize::from(*i) % self.dials.len().max(1))
                    .copied();
                if let Some(a) = a {
                    self.dials.remove(&a);
                    self.overlay.handle_connect_failed(self.now, a);
                    self.drain();
                }
            }
            Op::Handshake { conn, who } => {
                let Some(id) = self.conn(*conn) else { return };
                let Some(link) = self.links.get_mut(&id) else {
                    return;
                };
                // One identity per connection: the overlay keys the connection to the first
                // HELLO it accepts.
                if link.hello_sent || link.tainted {
                    return;
                }
                link.hello_sent = true;
                link.session.remote_index = usize::from(*who) % REMOTES;
                link.session.keys = None;
                // Outbound: the overlay's HELLO is already out, so the keys are known.
                if let Some((nonce, pubkey)) = link.session.local_hello {
                    link.session.keys = overlay_core_fuzz::remote_keys(
                        link.session.remote_index,
                        link.session.remote_role,
                        &pubkey,
                        &nonce,
                    );
                }
                let hello = remote(link.session.remote_index).hello_frame.clone();
                self.input(id, &hello);
                if self
                    .links
                    .get(&id)
                    .is_some_and(|l| l.session.keys.is_some())
                {
                    self.send(id, &auth_message());
                }
            }
            Op::Send { conn, msg } => {
                if let Some(id) = self.conn(*conn) {
                    self.send(id, &encode(msg));
                }
            }
            Op::Raw { conn, bytes } => {
                if let Some(id) = self.conn(*conn) {
                    if let Some(l) = self.links.get_mut(&id) {
                        l.tainted = true;
                    }
                    self.input(id, bytes);
                }
            }
            Op::Closed { conn } => {
                if let Some(id) = self.conn(*conn) {
                    self.close(id);
                }
            }
            Op::Advance { ms } => {
                self.now = self.now + Duration::from_millis(u64::from(*ms) * 20);
                if let Some(t) = self.overlay.poll_timeout()
                    && t <= self.now
                {
                    self.overlay.handle_timeout(self.now);
                }
                self.drain();
            }
            Op::Broadcast(msg) => {
                let m = encode(msg);
                if StellarMessage::decode(&m).is_ok() {
                    self.overlay.broadcast(self.now, &m);
                    self.drain();
                }
            }
            Op::AddTransaction { tx: i } => {
                self.overlay.add_transaction(self.now, &tx(*i));
                self.drain();
            }
            Op::Fetch {
                qset,
                item,
                envelope,
                slot,
            } => {
                let kind = if *qset {
                    ItemKind::QuorumSet
                } else {
                    ItemKind::TxSet
                };
                self.overlay.fetch(
                    self.now,
                    kind,
                    item_hash(*qset, *item),
                    sha256(&[*envelope]),
                    u64::from(*slot),
                );
                self.drain();
            }
            Op::StopFetch {
                qset,
                item,
                envelope,
            } => {
                let kind = if *qset {
                    ItemKind::QuorumSet
                } else {
                    ItemKind::TxSet
                };
                self.overlay
                    .stop_fetch(kind, &item_hash(*qset, *item), &sha256(&[*envelope]));
                self.drain();
            }
            Op::Provide { qset, item } => {
                if *qset {
                    let m = [tag(MessageType::ScpQuorumSet), qset_bytes(*item)].concat();
                    self.overlay.provide_quorum_set(item_hash(true, *item), &m);
                } else {
                    let m = [tag(MessageType::GeneralizedTxSet), txset(*item)].concat();
                    self.overlay.provide_tx_set(item_hash(false, *item), &m);
                }
            }
            Op::Forget { item } => self.overlay.forget(&sha256(&[*item])),
            Op::Ban { who } => {
                let node = remote(usize::from(*who) % REMOTES).node.node_id();
                self.overlay.ban(self.now, node);
                self.drain();
            }
            Op::Unban { who } => {
                let node = remote(usize::from(*who) % REMOTES).node.node_id();
                self.overlay.unban(&node);
            }
            Op::Drop { conn } => {
                if let Some(id) = self.conn(*conn) {
                    self.overlay
                        .drop_peer(self.now, id, DropReason::DroppedByUser);
                    self.drain();
                }
            }
            Op::SetLedger { ledger } => self.overlay.set_ledger(u32::from(*ledger)),
            Op::SurveyStart { nonce } => {
                let _ = self
                    .overlay
                    .start_survey_collecting(self.now, u32::from(*nonce % 4));
                self.drain();
            }
            Op::SurveyStop => {
                let _ = self.overlay.stop_survey_collecting(self.now);
                self.drain();
            }
            Op::SurveyTopology {
                who,
                inbound,
                outbound,
            } => {
                let node = survey_party(*who).node_id();
                let _ = self.overlay.survey_topology(
                    self.now,
                    node,
                    u32::from(*inbound),
                    u32::from(*outbound),
                );
                self.drain();
            }
            Op::SurveyStopReporting => {
                self.overlay.stop_survey_reporting();
                self.drain();
            }
            Op::ClearBelow { ledger } => {
                self.overlay.clear_below(u32::from(*ledger));
                self.drain();
            }
            Op::Withhold { conn } => {
                if let Some(id) = self.conn(*conn)
                    && let Some(l) = self.links.get_mut(&id)
                {
                    l.withhold = !l.withhold;
                    self.drain();
                }
            }
        }
    }
}

fn live(links: &BTreeMap<ConnId, Link>, id: ConnId) {
    let link = links.get(&id).expect("an event from a known connection");
    assert!(
        link.authenticated,
        "a message from an unauthenticated connection"
    );
}

fn qset_bytes(i: u8) -> Vec<u8> {
    qset(i)
}

/// Checks that bytes are a sequence of well-formed frames (no MAC check).
fn check_framing(bytes: &[u8]) {
    let mut rest = bytes;
    while rest.len() >= 4 {
        let len = (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0x7fff_ffff) as usize;
        if rest.len() < 4 + len {
            break;
        }
        overlay_core_fuzz::checks::authenticated(&rest[4..4 + len]);
        let am = overlay_core::wire::AuthenticatedMessage::parse(&rest[4..4 + len])
            .expect("overlay frame parses");
        am.decode().expect("overlay message decodes");
        rest = &rest[4 + len..];
    }
}

fuzz_target!(|input: Input| {
    let peer = if input.tight {
        tight_config()
    } else {
        overlay_core::PeerConfig::default()
    };
    let config = OverlayConfig {
        peer,
        limits: ConnectionLimits {
            target_peer_connections: 2,
            max_additional_peer_connections: 3,
            max_pending_connections: 6,
            max_outbound_pending_connections: 3,
            max_inbound_pending_connections: 3,
        },
        known_peers: vec![SocketAddrV4::new([5, 6, 7, 1].into(), 11625)],
        address_policy: AddressPolicy {
            allow_localhost: false,
            allow_private: input.allow_private,
        },
        floodgate_capacity: 16,
        tx_store_items: 8,
        tx_store_bytes: 4096,
        tx_set_store_items: 2,
        tx_set_store_bytes: 4096,
        quorum_set_store_items: 2,
        scp_state_slots: 3,
        scp_state_envelopes: 8,
        scp_state_reply_slots: 4,
        survey: overlay_core::survey::SurveyConfig {
            surveyor_keys: if input.surveyors {
                (0..REMOTES).map(|i| remote(i).node.node_id()).collect()
            } else {
                Vec::new()
            },
            ..overlay_core::survey::SurveyConfig::default()
        },
        ..OverlayConfig::default()
    };
    let overlay = Overlay::new(
        std::sync::Arc::clone(local()),
        config.clone(),
        clock(),
        [9; 32],
        Instant::ZERO,
    );
    let mut host = Host {
        overlay,
        now: Instant::ZERO,
        links: BTreeMap::new(),
        order: Vec::new(),
        dials: BTreeSet::new(),
        relay: input.relay,
        config,
        out: Vec::new(),
    };
    host.drain();
    for op in input.ops.iter().take(MAX_OPS) {
        host.step(op);
    }
    // Everything closes cleanly.
    let ids: Vec<ConnId> = host.links.keys().copied().collect();
    for id in ids {
        host.close(id);
    }
    assert_eq!(host.overlay.connection_count(), 0);
});
