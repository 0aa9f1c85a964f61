//! `stellar-overlay localnet`: N nodes on loopback in one process, with generated keys, a
//! connected topology (each node knows a few earlier ones; PEERS does the rest) and a
//! traffic generator producing signed SCP envelopes (whose tx sets and quorum sets peers
//! fetch) and well-formed transactions. Needs no outside network.
//!
//! Every node may survey every other (the localnet is each node's transitive quorum), and
//! surveys run at the localnet's pace: a surveyor sends its next batch of requests after
//! three slots, as stellar-core's `SURVEY_THROTTLE_TIMEOUT_MS` is three 5-second ledgers.

use std::net::SocketAddr;
use std::time::Duration;

use overlay_core::overlay::OverlayConfig;
use overlay_core::peers::{AddressPolicy, ConnectionConfig, ConnectionLimits, MemoryPeerStore};
use overlay_core::survey::{SURVEY_THROTTLE_TIMEOUT, SurveyConfig};
use overlay_core::{LocalNode, NetworkId, NodeId, NodeKey};
use tokio::task::JoinHandle;

use crate::bridge::{self, BridgeConfig, BridgeHandle};
use crate::node::{self, Command, MemoryBans, NodeHandle, NodeSettings};
use crate::single::random32;
use crate::traffic;

/// The passphrase of local networks.
pub const LOCALNET_PASSPHRASE: &str = "Standalone Network ; February 2017";

/// What to start.
#[derive(Debug, Clone)]
pub struct LocalnetOptions {
    pub nodes: usize,
    /// Seconds per slot of generated SCP traffic (0: no SCP traffic).
    pub slot_secs: f64,
    /// Transactions per second submitted across the network (0: none).
    pub tx_rate: u32,
    /// TARGET_PEER_CONNECTIONS of every node.
    pub target_peer_connections: u16,
    /// How the nodes are connected.
    pub topology: LocalnetTopology,
    /// Serve each node's admin API on loopback.
    pub http: bool,
    /// Start a WebSocket bridge here allowing every node (browser peers); port 0 picks one.
    pub bridge: Option<SocketAddr>,
    /// Origins of the web page served with the network: the admin APIs answer them with
    /// CORS and the bridge lets only them in (empty: no CORS, the bridge lets anyone in).
    pub web_origins: Vec<String>,
}

/// How a localnet's nodes find each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalnetTopology {
    /// Each node knows up to three earlier ones (and the first); PEERS does the rest.
    #[default]
    Discovered,
    /// A line 0 – 1 – … – N−1 and nothing else: each node connects only to its neighbours
    /// (PREFERRED_PEERS_ONLY, the neighbours' keys preferred), so everything that reaches
    /// the far end was relayed by every node between.
    Line,
}

impl Default for LocalnetOptions {
    fn default() -> Self {
        LocalnetOptions {
            nodes: 5,
            slot_secs: 2.0,
            tx_rate: 20,
            target_peer_connections: 8,
            topology: LocalnetTopology::Discovered,
            http: true,
            bridge: None,
            web_origins: Vec::new(),
        }
    }
}

/// A node of a local network.
#[derive(Debug)]
pub struct LocalnetNode {
    pub handle: NodeHandle,
    pub key: NodeKey,
    pub http: Option<SocketAddr>,
}

/// A running local network.
#[derive(Debug)]
pub struct Localnet {
    pub nodes: Vec<LocalnetNode>,
    pub network: NetworkId,
    /// The bridge to the nodes, if one was asked for.
    pub bridge: Option<BridgeHandle>,
    traffic: Option<JoinHandle<()>>,
}

impl Localnet {
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| n.handle.node_id).collect()
    }

    /// Stops the traffic generator, then every node gracefully.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(t) = self.traffic.take() {
            t.abort();
        }
        if let Some(b) = self.bridge.take() {
            b.shutdown().await?;
        }
        for n in self.nodes {
            n.handle.shutdown().await?;
        }
        Ok(())
    }
}

/// Starts the nodes (each knowing up to three earlier ones) and, unless disabled, the
/// traffic generator.
/// A loopback TCP port free right now (the OS picks it; free again once probed).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub async fn start(opts: &LocalnetOptions) -> anyhow::Result<Localnet> {
    let network = NetworkId::from_passphrase(LOCALNET_PASSPHRASE);
    let mut nodes: Vec<LocalnetNode> = Vec::new();
    let limits = ConnectionLimits::adjust(&ConnectionConfig {
        target_peer_connections: opts.target_peer_connections,
        ..ConnectionConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("bad connection limits: {e}"))?;
    // Keys first: a line's nodes name their neighbours, and every node's quorum is the
    // whole localnet. Ports are probed only as each node starts, so that the connections
    // already made cannot have taken them as their local ports.
    let keys: Vec<NodeKey> = (0..opts.nodes)
        .map(|_| random32().map(NodeKey::from_seed))
        .collect::<Result<_, _>>()?;
    let ids: Vec<NodeId> = keys.iter().map(NodeKey::node_id).collect();
    for (i, key) in keys.iter().enumerate() {
        let mut local = LocalNode::new(key.clone(), network, random32()?);
        let port = free_port()?;
        local.listening_port = port;
        let addr = |j: usize| nodes[j].handle.peer_addr.to_string();
        let (known, preferred, preferred_keys) = match opts.topology {
            LocalnetTopology::Discovered => {
                let known: Vec<String> = (0..i)
                    .rev()
                    .take(3)
                    .chain((i > 3).then_some(0))
                    .map(addr)
                    .collect();
                (known, Vec::new(), Vec::new())
            }
            LocalnetTopology::Line => {
                let neighbours = [i.checked_sub(1), Some(i + 1)]
                    .into_iter()
                    .flatten()
                    .filter(|&j| j < opts.nodes);
                // Each node dials the one before it; the one after dials it.
                let preferred = i.checked_sub(1).map(addr).into_iter().collect();
                (Vec::new(), preferred, neighbours.map(|j| ids[j]).collect())
            }
        };
        let overlay = OverlayConfig {
            limits,
            preferred_only: opts.topology == LocalnetTopology::Line,
            preferred_keys,
            // Loopback addresses must be allowed in PEERS for nodes to find each other.
            address_policy: AddressPolicy {
                allow_localhost: true,
                ..AddressPolicy::default()
            },
            survey: SurveyConfig {
                throttle_timeout: if opts.slot_secs > 0.0 {
                    Duration::from_secs_f64(3.0 * opts.slot_secs)
                } else {
                    SURVEY_THROTTLE_TIMEOUT
                },
                ..SurveyConfig::default()
            },
            ..OverlayConfig::default()
        };
        let handle = node::start(NodeSettings {
            local,
            overlay,
            passphrase: LOCALNET_PASSPHRASE.into(),
            peer_listen: SocketAddr::from(([127, 0, 0, 1], port)),
            known_peers: known,
            preferred_peers: preferred,
            max_tx_size: overlay_core::flow::MAX_CLASSIC_TX_SIZE_BYTES,
            peer_store: Box::new(MemoryPeerStore::new()),
            bans: Box::new(MemoryBans::default()),
            is_validator: true,
            quorum: ids.clone(),
        })
        .await?;
        let http = if opts.http {
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            Some(if opts.web_origins.is_empty() {
                crate::admin::serve(addr, handle.commands()).await?
            } else {
                crate::web::serve_admin(addr, handle.commands(), opts.web_origins.clone()).await?
            })
        } else {
            None
        };
        nodes.push(LocalnetNode {
            handle,
            key: key.clone(),
            http,
        });
    }
    for n in &nodes {
        n.handle.send(Command::SetSurveyQuorum(ids.clone())).await?;
    }
    let bridge = match opts.bridge {
        Some(listen) => Some(
            bridge::serve(BridgeConfig {
                origins: opts.web_origins.clone(),
                ..BridgeConfig::new(listen, nodes.iter().map(|n| n.handle.peer_addr))
            })
            .await?,
        ),
        None => None,
    };
    let mut net = Localnet {
        nodes,
        network,
        bridge,
        traffic: None,
    };
    if opts.slot_secs > 0.0 || opts.tx_rate > 0 {
        net.traffic = Some(spawn_traffic(&net, opts));
    }
    Ok(net)
}

/// Every slot, each node states NOMINATE → EXTERNALIZE for the slot's value (the slot's
/// leader serves the tx set; the others fetch it), and transactions go to random nodes.
fn spawn_traffic(net: &Localnet, opts: &LocalnetOptions) -> JoinHandle<()> {
    let senders: Vec<_> = net
        .nodes
        .iter()
        .map(|n| (n.handle.commands(), n.key.clone()))
        .collect();
    let ids = net.node_ids();
    let network = net.network;
    let slot_every = (opts.slot_secs > 0.0).then(|| Duration::from_secs_f64(opts.slot_secs));
    let tx_every =
        (opts.tx_rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(opts.tx_rate)));
    tokio::spawn(async move {
        let qset = traffic::quorum_set(&ids);
        let mut slot = 1u64;
        let mut tx_index = 0u64;
        let mut recent_txs: Vec<Vec<u8>> = Vec::new();
        let mut next_slot = tokio::time::Instant::now();
        let mut next_tx = tokio::time::Instant::now();
        let mut pick = overlay_core::rng::Rng::from_seed(random32().unwrap_or([7; 32]));
        loop {
            let wake = match (slot_every, tx_every) {
                (Some(_), Some(_)) => next_slot.min(next_tx),
                (Some(_), None) => next_slot,
                (None, Some(_)) => next_tx,
                (None, None) => return,
            };
            tokio::time::sleep_until(wake).await;
            let now = tokio::time::Instant::now();
            if let Some(every) = tx_every
                && now >= next_tx
            {
                next_tx += every;
                tx_index += 1;
                let (commands, key) = &senders[pick.index(senders.len())];
                let tx = crate::synthetic::transaction(&key.node_id(), tx_index, 0)[4..].to_vec();
                recent_txs.push(tx.clone());
                if recent_txs.len() > 50 {
                    recent_txs.remove(0);
                }
                if commands.send(Command::InjectTx(tx)).await.is_err() {
                    return;
                }
            }
            if let Some(every) = slot_every
                && now >= next_slot
            {
                next_slot += every;
                let set = traffic::tx_set(slot, &recent_txs);
                let leader = (slot as usize) % senders.len();
                for (i, (commands, key)) in senders.iter().enumerate() {
                    let t = traffic::slot_traffic(key, &network, slot, &set, i == leader, &qset);
                    let mut items = t.items;
                    for message in t.messages {
                        let cmd = Command::InjectScp {
                            message,
                            items: std::mem::take(&mut items),
                        };
                        if commands.send(cmd).await.is_err() {
                            return;
                        }
                    }
                }
                slot += 1;
            }
        }
    })
}
