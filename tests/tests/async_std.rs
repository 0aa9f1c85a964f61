//! The sans-IO core on a second runtime: `overlay_core::Peer` driven by a small loop over
//! `async_std::net::TcpStream` (no Tokio on that side), against a Tokio localnet node.
//!
//! The loop is the one the crate docs prescribe, as `host_native::single` does it on Tokio:
//! after every input drain `poll` (answering what must be answered: GET_SCP_QUORUMSET /
//! GET_TX_SET with DONT_HAVE), write what `poll_transmit` gives, and read with a timeout
//! that ends at `poll_timeout`, calling `handle_timeout` when it passes.
//!
//! Two such connections reach one node (traffic generator off, three slots of signed SCP
//! statements injected first):
//! - the *watcher* answers every FLOOD_ADVERT with a FLOOD_DEMAND and collects the
//!   transaction bodies the node then sends;
//! - the *sender* pushes synthetic transactions 1..=N and asks GET_SCP_STATE(0).
//!
//! Checked: both handshakes name the node's key; the sender gets exactly the SCP state the
//! node keeps (each slot's NOMINATE and its latest ballot statement, EXTERNALIZE), byte for
//! byte and validly signed; the node accepted all N transactions; the watcher was
//! advertised exactly their hashes and received every one intact.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_std::channel::{Sender, bounded};
use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use host_native::localnet::{self, LOCALNET_PASSPHRASE, LocalnetOptions};
use host_native::node::Command;
use host_native::single::random32;
use host_native::{synthetic, traffic};
use overlay_core::flood::sha256;
use overlay_core::flow::Priority;
use overlay_core::wire::{DontHave, Hash, MessageType, StellarMessage, TxHashes};
use overlay_core::{
    AcceptAll, DropReason, Event, Instant, LocalNode, NetworkId, NodeId, NodeKey, Peer, PeerConfig,
    PeerSetup, RemoteInfo, Role, WallClock,
};

/// Synthetic transactions the sender pushes.
const N: u64 = 50;
/// Slots of SCP statements the node holds before anyone connects.
const SLOTS: u64 = 3;
/// How long one connection may take, end to end.
const SESSION_LIMIT: Duration = Duration::from_secs(60);
/// How long a closed connection waits for the remote's FIN.
const LINGER: Duration = Duration::from_secs(5);

/// What one connection does beyond the handshake.
#[derive(Debug, Default)]
struct Plan {
    /// Push synthetic transactions 1..=`send_tx` once authenticated.
    send_tx: u64,
    /// Send GET_SCP_STATE(ledger) once authenticated, and wait for `expect_scp` answers.
    get_scp_state: Option<u32>,
    expect_scp: usize,
    /// Answer FLOOD_ADVERT with FLOOD_DEMAND, and wait for `expect_tx` distinct bodies.
    demand_adverts: bool,
    expect_tx: usize,
    /// Told once the handshake completed.
    on_authenticated: Option<Sender<()>>,
}

/// What one connection saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Our own node ID (the source account of our synthetic transactions).
    me: Option<NodeId>,
    hello: Option<RemoteInfo>,
    authenticated: Option<RemoteInfo>,
    sent_tx: u64,
    /// SCP_MESSAGEs received (StellarMessage XDR as received), in arrival order.
    scp: Vec<Vec<u8>>,
    scp_signatures_ok: bool,
    /// Hashes advertised to us, and how many of them we demanded.
    advertised: BTreeSet<Hash>,
    demanded: usize,
    /// Received transactions: hash → synthetic index (`None`: not an intact one).
    txs: BTreeMap<Hash, Option<u64>>,
    /// Received transactions whose hash we never demanded.
    undemanded_txs: usize,
    dont_have_sent: usize,
    closed: Option<DropReason>,
}

/// What must be sent in answer to an event, once the event (a borrow of the peer) is gone.
enum Reply {
    DontHave(MessageType, Hash),
    Demand(Vec<Hash>),
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The events of one connection, handled as `host_native::single` handles them.
struct Session {
    plan: Plan,
    out: Outcome,
    network: NetworkId,
    /// Whether the post-handshake sends went out.
    started: bool,
}

impl Session {
    fn handle(&mut self, ev: Event<'_>) -> Option<Reply> {
        match ev {
            Event::Hello(r) => self.out.hello = Some(r),
            Event::Authenticated(r) => {
                self.out.authenticated = Some(r);
                if let Some(tx) = &self.plan.on_authenticated {
                    let _ = tx.try_send(());
                }
            }
            Event::CreditGranted(_) => {}
            Event::Message(m) => match m.message {
                StellarMessage::Transaction(env) => {
                    let hash = sha256(env);
                    if !self.out.advertised.contains(&hash) {
                        self.out.undemanded_txs += 1;
                    }
                    self.out.txs.insert(hash, synthetic::check_transaction(env));
                }
                StellarMessage::ScpMessage(env) => {
                    if !synthetic::scp_signature_ok(&env, &self.network) {
                        self.out.scp_signatures_ok = false;
                    }
                    self.out.scp.push(m.raw.to_vec());
                }
                StellarMessage::FloodAdvert(hashes) if self.plan.demand_adverts => {
                    let new: Vec<Hash> = hashes
                        .iter()
                        .filter(|h| self.out.advertised.insert(**h))
                        .copied()
                        .collect();
                    if !new.is_empty() {
                        return Some(Reply::Demand(new));
                    }
                }
                // Latency pings and fetches we cannot serve: say so at once, as
                // stellar-core does (and as `single.rs` does).
                StellarMessage::GetScpQuorumSet(h) => {
                    return Some(Reply::DontHave(MessageType::ScpQuorumSet, *h));
                }
                StellarMessage::GetTxSet(h) => {
                    return Some(Reply::DontHave(MessageType::GeneralizedTxSet, *h));
                }
                // GET_SCP_STATE: we keep no SCP state, so the answer is empty.
                _ => {}
            },
            Event::Closed(reason) => self.out.closed = Some(reason),
        }
        None
    }

    fn reply(&mut self, peer: &mut Peer, now: Instant, reply: Reply) {
        let sent = match reply {
            Reply::DontHave(message_type, h) => {
                self.out.dont_have_sent += 1;
                peer.send(
                    now,
                    &StellarMessage::DontHave(DontHave {
                        message_type,
                        req_hash: &h,
                    }),
                )
            }
            Reply::Demand(hashes) => {
                self.out.demanded += hashes.len();
                peer.send(now, &StellarMessage::FloodDemand(TxHashes::new(&hashes)))
            }
        };
        // A peer that is closing drops what we queue; nothing else may fail here.
        if let Err(e) = sent {
            assert!(peer.is_closed(), "send failed: {e:?}");
        }
    }

    /// Handles every pending event, replying once each is released.
    fn drain(&mut self, peer: &mut Peer, now: Instant) {
        while let Some(ev) = peer.poll(now, &mut AcceptAll) {
            if let Some(reply) = self.handle(ev) {
                self.reply(peer, now, reply);
            }
        }
    }

    /// Once authenticated: GET_SCP_STATE and our transactions (the peer queues them until
    /// the node grants credit).
    fn start(&mut self, peer: &mut Peer, now: Instant, me: &NodeId) {
        if self.started || !peer.is_authenticated() {
            return;
        }
        self.started = true;
        if let Some(ledger) = self.plan.get_scp_state {
            peer.send(now, &StellarMessage::GetScpState(ledger))
                .unwrap();
        }
        for i in 1..=self.plan.send_tx {
            peer.send_shared(now, synthetic::transaction(me, i, 0).into())
                .unwrap();
            self.out.sent_tx += 1;
        }
    }

    fn done(&self, peer: &Peer) -> bool {
        self.started
            && self.out.scp.len() >= self.plan.expect_scp
            && self.out.txs.len() >= self.plan.expect_tx
            && peer.queued(Priority::Transaction) == 0
            && peer.queued(Priority::Scp) == 0
            && peer.queued(Priority::Demand) == 0
            && !peer.has_output()
    }
}

/// One connection to `addr`, initiated by a fresh key, on async-std.
async fn session(addr: SocketAddr, plan: Plan) -> Outcome {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let network = NetworkId::from_passphrase(LOCALNET_PASSPHRASE);
    let mut local = LocalNode::new(
        NodeKey::from_seed(random32().unwrap()),
        network,
        random32().unwrap(),
    );
    local.listening_port = overlay_core::auth::DEFAULT_PEER_PORT;
    let local = Arc::new(local);
    let me = local.node_id();
    let start = std::time::Instant::now();
    let now = || Instant::from_micros(start.elapsed().as_micros() as u64);
    let mut peer = Peer::new(
        PeerSetup {
            role: Role::Initiator,
            local: Arc::clone(&local),
            cert: local.issue_cert(unix_now()),
            nonce: random32().unwrap(),
            remote_address: stream.peer_addr().ok(),
            // GET_SCP_STATE goes out explicitly, where the plan says.
            config: PeerConfig {
                scp_state_request: None,
                ..PeerConfig::default()
            },
            clock: WallClock::new(now(), unix_now()),
        },
        now(),
    );
    let mut s = Session {
        plan,
        out: Outcome {
            me: Some(me),
            scp_signatures_ok: true,
            ..Outcome::default()
        },
        network,
        started: false,
    };
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut wbuf = Vec::new();
    let mut eof = false;
    loop {
        let t = now();
        s.drain(&mut peer, t);
        s.start(&mut peer, t, &me);
        while peer.has_output() {
            wbuf.clear();
            peer.poll_transmit(t, &mut wbuf);
            if stream.write_all(&wbuf).await.is_err() {
                peer.close(now(), DropReason::RemoteClosed);
                break;
            }
        }
        if peer.is_closed() && !peer.has_output() {
            s.drain(&mut peer, now());
            break;
        }
        if s.done(&peer) {
            peer.close(t, DropReason::Shutdown);
            continue;
        }
        assert!(
            start.elapsed() < SESSION_LIMIT,
            "connection still going after {SESSION_LIMIT:?}: {:?}",
            s.out
        );
        // Read until the core's timer is due; a timed-out read loses nothing (async-std
        // reads are readiness-based, so dropping the future drops no bytes).
        let due = peer.poll_timeout().unwrap_or(t);
        let wait = Duration::from_micros(due.as_micros().saturating_sub(now().as_micros()));
        match async_std::io::timeout(wait, stream.read(&mut rbuf)).await {
            Ok(0) => {
                eof = true;
                peer.close(now(), DropReason::RemoteClosed);
            }
            Ok(n) => {
                let mut data = &rbuf[..n];
                while !data.is_empty() {
                    let t = now();
                    let took = peer.handle_input(t, data);
                    data = &data[took..];
                    s.drain(&mut peer, t);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => peer.handle_timeout(now()),
            Err(_) => {
                eof = true;
                peer.close(now(), DropReason::RemoteClosed);
            }
        }
    }
    // Our last bytes (the ERROR_MSG) are written: send FIN and wait for the remote's, so
    // closing with unread input does not reset the connection under them.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if !eof {
        let _ = async_std::io::timeout(LINGER, async {
            while stream.read(&mut rbuf).await? > 0 {}
            Ok(())
        })
        .await;
    }
    s.out
}

#[test]
fn core_peer_on_async_std_talks_to_a_tokio_node() {
    // The node: a one-node localnet, no generated traffic, on a Tokio runtime whose worker
    // threads run it while this thread runs async-std.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let net = rt
        .block_on(localnet::start(&LocalnetOptions {
            nodes: 1,
            slot_secs: 0.0,
            tx_rate: 0,
            http: false,
            ..LocalnetOptions::default()
        }))
        .unwrap();
    let node = &net.nodes[0];
    let node_id = node.handle.node_id;
    let addr = node.handle.peer_addr;

    // Give the node SCP state: slots 1..=SLOTS, each NOMINATE → EXTERNALIZE.
    let qset = traffic::quorum_set(&[node_id]);
    let mut expected_scp = Vec::new();
    for slot in 1..=SLOTS {
        let txs = vec![synthetic::transaction(&node_id, slot, 0)[4..].to_vec()];
        let set = traffic::tx_set(slot, &txs);
        let t = traffic::slot_traffic(&node.key, &net.network, slot, &set, true, &qset);
        assert_eq!(t.messages.len(), 4);
        // Kept per (slot, node): the nomination and the latest ballot statement.
        expected_scp.push(t.messages[0].clone());
        expected_scp.push(t.messages[3].clone());
        let mut items = t.items;
        for message in t.messages {
            let cmd = Command::InjectScp {
                message,
                items: std::mem::take(&mut items),
            };
            rt.block_on(node.handle.send(cmd)).unwrap();
        }
    }
    // Commands are handled in order: once Info answers, the state is in place.
    let info = rt.block_on(node.handle.ask(Command::Info)).unwrap();
    assert_eq!(info["info"]["ledger"]["num"], SLOTS + 1, "{info}");

    let (watcher, sender) = async_std::task::block_on(async {
        let (ready_tx, ready_rx) = bounded(1);
        let watcher = async_std::task::spawn(session(
            addr,
            Plan {
                demand_adverts: true,
                expect_tx: N as usize,
                on_authenticated: Some(ready_tx),
                ..Plan::default()
            },
        ));
        // The node advertises a transaction only to peers authenticated when it arrives.
        async_std::future::timeout(SESSION_LIMIT, ready_rx.recv())
            .await
            .expect("the watcher never authenticated")
            .unwrap();
        let sender = session(
            addr,
            Plan {
                send_tx: N,
                get_scp_state: Some(0),
                expect_scp: expected_scp.len(),
                ..Plan::default()
            },
        )
        .await;
        (watcher.await, sender)
    });

    // Handshakes: both sides of both connections agree on who the node is.
    for (name, o) in [("sender", &sender), ("watcher", &watcher)] {
        let hello = o
            .hello
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no HELLO"));
        let auth = o
            .authenticated
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: not authenticated: {o:?}"));
        assert_eq!(auth.node_id, node_id, "{name}");
        assert_eq!(hello.node_id, node_id, "{name}");
        assert_eq!(auth.listening_port, i32::from(addr.port()), "{name}");
        assert_eq!(
            auth.overlay_version,
            overlay_core::auth::DEFAULT_OVERLAY_VERSION,
            "{name}"
        );
        assert_eq!(auth.address.map(|a| a.ip()), Some(addr.ip()), "{name}");
        // We ended it: DropReason::Shutdown, not a failure of either side.
        assert_eq!(o.closed, Some(DropReason::Shutdown), "{name}: {o:?}");
    }

    // The sender: exactly the node's SCP state, ascending, intact and validly signed.
    assert_eq!(sender.sent_tx, N);
    assert!(sender.scp_signatures_ok, "{sender:?}");
    assert_eq!(
        sender.scp.len(),
        expected_scp.len(),
        "GET_SCP_STATE(0) answer: {sender:?}"
    );
    assert_eq!(
        sender.scp, expected_scp,
        "SCP state differs from what was injected"
    );

    // The node took every transaction the sender pushed.
    let info = rt.block_on(node.handle.ask(Command::Info)).unwrap();
    assert_eq!(info["info"]["relay"]["tx_advertised"], N, "{info}");
    assert_eq!(info["info"]["relay"]["tx_rejected"], 0, "{info}");

    // The watcher: advertised exactly the sender's transactions, demanded each once, and
    // got every body back intact.
    let sender_id = sender.me.unwrap();
    let expected_hashes: BTreeSet<Hash> = (1..=N)
        .map(|i| sha256(&synthetic::transaction(&sender_id, i, 0)[4..]))
        .collect();
    assert_eq!(watcher.advertised, expected_hashes, "{watcher:?}");
    assert_eq!(watcher.demanded, N as usize, "{watcher:?}");
    assert_eq!(watcher.undemanded_txs, 0, "{watcher:?}");
    assert_eq!(
        watcher.txs.keys().copied().collect::<BTreeSet<_>>(),
        watcher.advertised,
        "every advertised hash was served"
    );
    let indices: BTreeSet<u64> = watcher
        .txs
        .values()
        .map(|i| i.unwrap_or_else(|| panic!("a transaction arrived damaged: {watcher:?}")))
        .collect();
    assert_eq!(indices, (1..=N).collect::<BTreeSet<_>>());
    assert!(watcher.scp.is_empty(), "the watcher asked for no SCP state");

    rt.block_on(net.shutdown()).unwrap();
}
