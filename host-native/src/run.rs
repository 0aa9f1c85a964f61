//! `stellar-overlay run --conf FILE`: the production node from a stellar-core-style config.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use overlay_core::{LocalNode, NodeId, NodeKey};

use crate::config::NodeConfig;
use crate::db::Database;
use crate::node::{self, BanStorage, NodeHandle, NodeSettings};
use crate::single::random32;

impl BanStorage for Database {
    fn load(&self) -> Vec<NodeId> {
        self.bans()
    }
    fn add(&mut self, node: &NodeId) {
        if !self.ban(node) {
            tracing::warn!(%node, "could not store the ban");
        }
    }
    fn remove(&mut self, node: &NodeId) {
        self.unban(node);
    }
}

/// Which configuration to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub conf: Option<PathBuf>,
    /// `testnet` or `pubnet`: start from that network's passphrase and known peers.
    pub preset: Option<String>,
}

/// Loads the configuration: a preset, then the file on top. Warnings (keys we do not use)
/// are logged once each.
pub fn load_config(opts: &RunOptions) -> anyhow::Result<NodeConfig> {
    let (config, warnings) = match (&opts.preset, &opts.conf) {
        (Some(p), conf) => {
            let base = NodeConfig::preset(p)
                .with_context(|| format!("unknown network preset {p:?}: use testnet or pubnet"))?;
            match conf {
                Some(path) => base.merge_file(path)?,
                None => {
                    let warnings = base.validate()?;
                    (base, warnings)
                }
            }
        }
        (None, Some(path)) => NodeConfig::load(path)?,
        (None, None) => anyhow::bail!("nothing to run: give --conf FILE, or --testnet / --pubnet"),
    };
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(config)
}

/// A started node with its admin server.
#[derive(Debug)]
pub struct RunningNode {
    pub handle: NodeHandle,
    pub http: Option<SocketAddr>,
}

/// Starts the node a configuration describes.
pub async fn start(config: &NodeConfig) -> anyhow::Result<RunningNode> {
    let key = match config.node_key() {
        Some(k) => k,
        None => {
            let k = NodeKey::from_seed(random32()?);
            tracing::warn!(node = %k.node_id(), "NODE_SEED is not set: running with a random identity");
            k
        }
    };
    let mut local = LocalNode::new(key, config.network_id(), random32()?);
    local.listening_port = config.peer_port;
    let db = match config.database_path() {
        Some(path) => Database::open(path)
            .with_context(|| format!("cannot open DATABASE {}", path.display()))?,
        None => Database::open_in_memory()?,
    };
    let peer_listen = config
        .peer_listen_addr()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let handle = node::start(NodeSettings {
        local,
        overlay: config.overlay_config()?,
        passphrase: config.network_passphrase().to_string(),
        peer_listen,
        known_peers: config.known_peer_strings(),
        preferred_peers: config.preferred_peer_strings(),
        max_tx_size: overlay_core::flow::MAX_CLASSIC_TX_SIZE_BYTES,
        peer_store: Box::new(db.peer_store()),
        bans: Box::new(db),
        is_validator: config.node_is_validator,
        quorum: config.validator_keys.clone(),
    })
    .await?;
    // Who may survey this node: SURVEYOR_KEYS, or else the quorum it knows of.
    if config.surveyor_keys.is_empty() {
        handle
            .send(node::Command::SetSurveyQuorum(
                config.validator_keys.clone(),
            ))
            .await?;
        if config.validator_keys.is_empty() {
            tracing::info!(
                "surveys: neither SURVEYOR_KEYS nor [[VALIDATORS]] is set, so no other node \
                 may survey this one"
            );
        }
    }
    let http = match config.http_listen_addr() {
        Some(addr) => Some(
            crate::admin::serve_with_limit(
                addr,
                handle.commands(),
                usize::from(config.http_max_client),
            )
            .await?,
        ),
        None => None,
    };
    Ok(RunningNode { handle, http })
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully (peers told, writes drained;
/// every database write is already committed).
pub async fn run(opts: &RunOptions) -> anyhow::Result<()> {
    let config = load_config(opts)?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Some(path) = crate::logging::log_to_file(&config.log_file_path, started)? {
        tracing::info!(path = %path.display(), "logging to file (LOG_FILE_PATH)");
    }
    let node = start(&config).await?;
    tracing::info!(
        node = %node.handle.node_id,
        peers = %node.handle.peer_addr,
        admin = ?node.http.map(|a| format!("http://{a}")),
        network = config.network_passphrase(),
        "running"
    );
    println!(
        "node {} listening for peers on {}; admin API {}",
        node.handle.node_id,
        node.handle.peer_addr,
        node.http
            .map_or("off".to_string(), |a| format!("http://{a}/info"))
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    node.handle.shutdown().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
