//! The node's configuration: a TOML file with stellar-core's key names, types and defaults.
//!
//! A stellar-core configuration file can be given as-is. Every overlay-related key is read
//! with the name, type, range and default stellar-core v25 gives it (`src/main/Config.cpp`;
//! each field below names its source). Everything else in such a file is reported as a
//! [`Warning`] — one per key or section — and otherwise ignored:
//!
//! - stellar-core's other keys (catch-up, buckets, invariants, threads, ...) and its sections
//!   `[QUORUM_SET]`, `[HISTORY.*]`, `[[HOME_DOMAINS]]`: this node takes no part in consensus
//!   and keeps no ledger.
//! - `[[VALIDATORS]]` is read in part, as stellar-core does for the overlay: each entry's
//!   `ADDRESS` joins `KNOWN_PEERS` (or `PREFERRED_PEERS` when its `HOME_DOMAIN` equals
//!   `NODE_HOME_DOMAIN`), and its `NAME` becomes a `$alias` for its `PUBLIC_KEY`. The quorum
//!   parts are ignored, with one warning.
//! - Keys that are not stellar-core keys at all also warn (with a "did you mean" when one of
//!   ours is close). stellar-core refuses any unknown key; here only a key this node reads
//!   with a bad value is an error ([`ConfigError`]), and its message names the key, shows the
//!   value and says what was expected.
//!
//! ## Presets and merging
//! [`NodeConfig::testnet`] and [`NodeConfig::pubnet`] set the network passphrase and public
//! `KNOWN_PEERS`. A file is laid over any starting point with [`NodeConfig::merge_toml`] /
//! [`NodeConfig::merge_file`]: every key in the file replaces the starting value, except
//! `KNOWN_PEERS` (and `[[VALIDATORS]]` addresses), which are put *in front of* the starting
//! peers — known peers only add dialling candidates, and stellar-core likewise inserts a
//! file's `KNOWN_PEERS` ahead of what it already has. A file whose `NETWORK_PASSPHRASE`
//! differs from the starting one is an error (pubnet peers on testnet help nobody).
//! [`NodeConfig::from_toml_str`] and [`NodeConfig::load`] start from stellar-core's defaults,
//! where `NETWORK_PASSPHRASE` is required.
//!
//! ## Deliberate differences from stellar-core
//! - Unknown keys warn instead of failing (see above).
//! - `NETWORK_PASSPHRASE` is required (core would hash an empty passphrase).
//! - `KNOWN_PEERS` / `PREFERRED_PEERS` entries are checked when the file is read; core only
//!   logs unparsable ones when it resolves them. DNS resolution is still the host's job:
//!   entries stay `(host, port)` pairs ([`PeerAddr`]).
//! - A `$alias` in `PREFERRED_PEER_KEYS` / `SURVEYOR_KEYS` that names no key is skipped with
//!   a warning (core refuses to start); a name given twice warns and keeps the first.
//! - `DATABASE` must be SQLite; `postgresql://` is an error.
//! - `HTTP_PORT` equal to `PEER_PORT` is an error (one of the two listeners would fail).
//! - Float keys reject NaN and infinities; integer keys reject values their type cannot
//!   hold (core would truncate them).
//! - `ALLOW_PRIVATE_ADDRESSES_FOR_TESTING` is read as on stellar-core master (v25 lacks it).
//!
//! The admin HTTP server binds 127.0.0.1, or 0.0.0.0 with `PUBLIC_HTTP_PORT = true`, as in
//! core; no extra key is needed for it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use overlay_core::auth::{NetworkId, NodeId, NodeKey};
use overlay_core::flow::MAX_CLASSIC_TX_SIZE_BYTES;
use overlay_core::overlay::OverlayConfig;
use overlay_core::peers::{AddressPolicy, ConnectionConfig, ConnectionLimits};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// `DEFAULT_PEER_PORT`: PEER_PORT's default and the port of a peer address without one.
pub const DEFAULT_PEER_PORT: u16 = 11625;
/// `HTTP_PORT`'s default (`DEFAULT_PEER_PORT + 1`).
pub const DEFAULT_HTTP_PORT: u16 = DEFAULT_PEER_PORT + 1;
/// The public network's passphrase.
pub const PUBNET_PASSPHRASE: &str = "Public Global Stellar Network ; September 2015";
/// The test network's passphrase.
pub const TESTNET_PASSPHRASE: &str = "Test SDF Network ; September 2015";
/// SDF's test network nodes (`docs/stellar-core_testnet*.cfg`).
pub const TESTNET_KNOWN_PEERS: [&str; 3] = [
    "core-testnet1.stellar.org",
    "core-testnet2.stellar.org",
    "core-testnet3.stellar.org",
];
/// SDF's public network nodes. stellar-core's `docs/` has no pubnet peer list; these are
/// the SDF validators every published pubnet example lists.
pub const PUBNET_KNOWN_PEERS: [&str; 3] = [
    "core-live-a.stellar.org:11625",
    "core-live-b.stellar.org:11625",
    "core-live-c.stellar.org:11625",
];
/// `DATABASE`'s default.
pub const DEFAULT_DATABASE: &str = "sqlite3://stellar.db";
/// `LOG_FILE_PATH`'s default: none, logs go to stderr only. (stellar-core's default,
/// `stellar-core-{datetime:%Y-%m-%d_%H-%M-%S}.log`, would put a file in whatever directory
/// the node was started from; set it to get that.)
pub const DEFAULT_LOG_FILE_PATH: &str = "";
/// The byte credit used when both byte keys are 0
/// (`INITIAL_PEER_FLOOD_READING_CAPACITY_BYTES`, `src/overlay/OverlayManagerImpl.cpp`).
pub const AUTO_FLOOD_READING_CAPACITY_BYTES: u32 = 300_000;
/// The byte batch used when both byte keys are 0
/// (`INITIAL_FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES`).
pub const AUTO_SEND_MORE_BATCH_SIZE_BYTES: u32 = 100_000;
/// The preset names [`NodeConfig::preset`] knows.
pub const PRESETS: [&str; 2] = ["testnet", "pubnet"];

// ---------------------------------------------------------------------------------------
// Values

/// A `KNOWN_PEERS` / `PREFERRED_PEERS` entry: `"host[:port]"`, unresolved.
///
/// Parsed as stellar-core's `PeerBareAddress::resolve` does: a dotted IPv4 address or a host
/// name of letters, digits, `.` and `-`, then an optional `:port` of 1–65535 (default
/// 11625). IPv6 literals are refused: the overlay is IPv4-only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    pub host: String,
    pub port: u16,
}

const PEER_ADDR_FORM: &str =
    "\"host[:port]\" with an IPv4 address or a host name and a port 1..=65535";

impl PeerAddr {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        PeerAddr {
            host: host.into(),
            port,
        }
    }

    /// The address when `host` is an IPv4 literal; host names need DNS.
    pub fn ipv4(&self) -> Option<SocketAddrV4> {
        self.host
            .parse::<Ipv4Addr>()
            .ok()
            .map(|ip| SocketAddrV4::new(ip, self.port))
    }

    /// What [`FromStr`] says is wrong, as the expected form.
    fn parse_reason(s: &str) -> Result<Self, String> {
        if s.starts_with('[') || s.matches(':').count() > 1 || s.parse::<Ipv6Addr>().is_ok() {
            return Err(format!(
                "{PEER_ADDR_FORM}; IPv6 addresses are not supported (the overlay is IPv4-only)"
            ));
        }
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let port = match port {
            None => DEFAULT_PEER_PORT,
            Some(p) => {
                let ok = (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
                match p.parse::<u32>() {
                    Ok(n) if ok && (1..=65535).contains(&n) => n as u16,
                    _ => return Err(format!("{PEER_ADDR_FORM}; bad port")),
                }
            }
        };
        let name_chars = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
        if host.is_empty() || !host.bytes().all(name_chars) {
            return Err(PEER_ADDR_FORM.to_string());
        }
        let parts: Vec<&str> = host.split('.').collect();
        let dotted_quad = parts.len() == 4
            && parts
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
        if dotted_quad && host.parse::<Ipv4Addr>().is_err() {
            return Err(format!("{PEER_ADDR_FORM}; not a valid IPv4 address"));
        }
        Ok(PeerAddr::new(host, port))
    }
}

impl FromStr for PeerAddr {
    type Err = String;
    /// The error is the expected form, for messages.
    fn from_str(s: &str) -> Result<Self, String> {
        PeerAddr::parse_reason(s)
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// `DATABASE`: where the peer and ban tables live. stellar-core's forms are
/// `"sqlite3://PATH"` (relative to the working directory), `"sqlite3://:memory:"` and
/// SOCI's `"sqlite3://db=PATH timeout=N ..."`; only SQLite is supported here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    SqliteInMemory,
}

const DATABASE_FORM: &str = "\"sqlite3://PATH\" or \"sqlite3://:memory:\"";

impl Database {
    /// Parses a `DATABASE` value; also returns the SOCI parameters that are ignored.
    pub fn parse(s: &str) -> Result<(Database, Vec<String>), String> {
        let Some(rest) = s.strip_prefix("sqlite3://") else {
            if s.starts_with("postgresql://") {
                return Err(format!(
                    "{DATABASE_FORM} (only SQLite is supported, not PostgreSQL)"
                ));
            }
            return Err(DATABASE_FORM.to_string());
        };
        if rest == ":memory:" {
            return Ok((Database::SqliteInMemory, Vec::new()));
        }
        if !rest.contains('=') {
            if rest.is_empty() {
                return Err(DATABASE_FORM.to_string());
            }
            return Ok((Database::Sqlite(PathBuf::from(rest)), Vec::new()));
        }
        // SOCI's "key=value key=\"value with spaces\"" form; `db` / `dbname` is the file.
        let mut path = None;
        let mut ignored = Vec::new();
        for (key, value) in soci_params(rest) {
            match key.as_str() {
                "db" | "dbname" => path = Some(value),
                _ => ignored.push(key),
            }
        }
        match path {
            Some(p) if p == ":memory:" => Ok((Database::SqliteInMemory, ignored)),
            Some(p) if !p.is_empty() => Ok((Database::Sqlite(PathBuf::from(p)), ignored)),
            _ => Err(format!("{DATABASE_FORM} (or \"sqlite3://db=PATH ...\")")),
        }
    }

    /// The database file; `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::SqliteInMemory => None,
        }
    }
}

fn soci_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().to_string();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, n)) => (v, n),
                None => (quoted, ""),
            }
        } else {
            match after.split_once(' ') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        out.push((key, value.to_string()));
        rest = next.trim_start();
    }
    out
}

impl Default for Database {
    fn default() -> Self {
        Database::Sqlite(PathBuf::from("stellar.db"))
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "sqlite3://{}", p.display()),
            Database::SqliteInMemory => f.write_str("sqlite3://:memory:"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Warnings and errors

/// Something in the file that was ignored or adjusted; not fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The key or section, e.g. `CATCHUP_RECENT` or `QUORUM_SET`.
    pub key: String,
    /// 1-based line of the key in the file, when it came from one.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Why a configuration was refused. Every variant but `Io` and `Syntax` names its key.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The text is not TOML; the message has the line and column.
    Syntax { message: String },
    /// A key this node reads has a value of the wrong type or outside its range.
    BadValue {
        key: String,
        /// The value as written (secrets are masked).
        value: String,
        /// `value` is one entry of the key's list.
        entry: bool,
        expected: String,
        line: Option<usize>,
    },
    /// A required key is absent.
    Missing { key: &'static str, hint: String },
    /// Values that are fine alone break a rule together; `message` names every key involved.
    Inconsistent { key: &'static str, message: String },
}

impl ConfigError {
    /// The key at fault, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Io { .. } | ConfigError::Syntax { .. } => None,
            ConfigError::BadValue { key, .. } => Some(key),
            ConfigError::Missing { key, .. } | ConfigError::Inconsistent { key, .. } => Some(key),
        }
    }

    fn bad(key: &str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError::BadValue {
            key: key.to_string(),
            value: value.into(),
            entry: false,
            expected: expected.into(),
            line: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ConfigError::Syntax { message } => write!(f, "not valid TOML: {message}"),
            ConfigError::BadValue {
                key,
                value,
                entry,
                expected,
                line,
            } => {
                if *entry {
                    write!(f, "{key} entry {value}: expected {expected}")?;
                } else {
                    write!(f, "{key} = {value}: expected {expected}")?;
                }
                if let Some(line) = line {
                    write!(f, " (line {line})")?;
                }
                Ok(())
            }
            ConfigError::Missing { key, hint } => write!(f, "{key} is required: {hint}"),
            ConfigError::Inconsistent { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The configuration

/// The node's settings. Field names are stellar-core's keys in snake case; defaults are
/// core's (`Config::Config`, `src/main/Config.cpp` v25.2.0). Fields are public so a command
/// line can override them; [`NodeConfig::validate`] (called by [`NodeConfig::overlay_config`])
/// re-checks the rules.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `NETWORK_PASSPHRASE`: required (empty = unset).
    pub network_passphrase: String,
    /// `NODE_SEED` ("S… [name]"); `None` = the caller draws a random identity, as core does.
    pub node_seed: Option<NodeKey>,
    /// The name after `NODE_SEED`'s strkey (usable as `$name`), e.g. `self`.
    pub node_seed_name: Option<String>,
    /// `NODE_IS_VALIDATOR` (false): reported in surveys.
    pub node_is_validator: bool,
    /// `NODE_HOME_DOMAIN` (""): kept; selects which `[[VALIDATORS]]` addresses are preferred.
    pub node_home_domain: String,
    /// `PEER_PORT` (11625; 1..=65535): listening port, sent in HELLO.
    pub peer_port: u16,
    /// `HTTP_PORT` (11626; 0..=65535, 0 = no admin server).
    pub http_port: u16,
    /// `PUBLIC_HTTP_PORT` (false): bind the admin server on all interfaces, not 127.0.0.1.
    pub public_http_port: bool,
    /// `HTTP_MAX_CLIENT` (128; 0..=65535).
    pub http_max_client: u16,
    /// `KNOWN_PEERS` ([]), plus `[[VALIDATORS]]` addresses of other home domains.
    pub known_peers: Vec<PeerAddr>,
    /// `PREFERRED_PEERS` ([]), plus `[[VALIDATORS]]` addresses of our home domain.
    pub preferred_peers: Vec<PeerAddr>,
    /// `PREFERRED_PEER_KEYS` ([]), aliases resolved.
    pub preferred_peer_keys: Vec<NodeId>,
    /// `PREFERRED_PEERS_ONLY` (false).
    pub preferred_peers_only: bool,
    /// `TARGET_PEER_CONNECTIONS` (8; 1..=65535).
    pub target_peer_connections: u16,
    /// `MAX_ADDITIONAL_PEER_CONNECTIONS` (−1; −1..=65535, −1 = 8 × target).
    pub max_additional_peer_connections: i32,
    /// `MAX_PENDING_CONNECTIONS` (500; 1..=65535).
    pub max_pending_connections: u16,
    /// `PEER_AUTHENTICATION_TIMEOUT` (2 s; 1..=65535).
    pub peer_authentication_timeout: u16,
    /// `PEER_TIMEOUT` (30 s; 1..=65535).
    pub peer_timeout: u16,
    /// `PEER_STRAGGLER_TIMEOUT` (120 s; 1..=65535).
    pub peer_straggler_timeout: u16,
    /// `PEER_READING_CAPACITY` (201; ≥ 1, > flood capacity). Checked and kept; overlay-core
    /// processes each message as it is read, so it has no counterpart there.
    pub peer_reading_capacity: u32,
    /// `PEER_FLOOD_READING_CAPACITY` (200; ≥ 1).
    pub peer_flood_reading_capacity: u32,
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE` (40; ≥ 1, ≤ flood capacity).
    pub flow_control_send_more_batch_size: u32,
    /// `PEER_FLOOD_READING_CAPACITY_BYTES` (0 = automatic).
    pub peer_flood_reading_capacity_bytes: u32,
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES` (0 = automatic).
    pub flow_control_send_more_batch_size_bytes: u32,
    /// `OUTBOUND_TX_QUEUE_BYTE_LIMIT` (3 MiB; ≥ 1).
    pub outbound_tx_queue_byte_limit: u32,
    /// `MAX_BATCH_WRITE_COUNT` (1024; 1..=2^31−1): messages per socket write, for the host.
    pub max_batch_write_count: u32,
    /// `MAX_BATCH_WRITE_BYTES` (1 MiB; 1..=2^31−1): bytes per socket write, for the host.
    pub max_batch_write_bytes: u32,
    /// `FLOOD_OP_RATE_PER_LEDGER` (1.0; > 0).
    pub flood_op_rate_per_ledger: f64,
    /// `FLOOD_SOROBAN_RATE_PER_LEDGER` (1.0; > 0).
    pub flood_soroban_rate_per_ledger: f64,
    /// `FLOOD_TX_PERIOD_MS` (200; 1..=2^31−1): the transaction broadcast cadence.
    pub flood_tx_period_ms: u32,
    /// `FLOOD_SOROBAN_TX_PERIOD_MS` (200; 1..=2^31−1).
    pub flood_soroban_tx_period_ms: u32,
    /// `FLOOD_ADVERT_PERIOD_MS` (100; 1..=2^31−1).
    pub flood_advert_period_ms: u32,
    /// `FLOOD_DEMAND_PERIOD_MS` (200; 1..=2^31−1).
    pub flood_demand_period_ms: u32,
    /// `FLOOD_DEMAND_BACKOFF_DELAY_MS` (500; 1..=2^31−1).
    pub flood_demand_backoff_delay_ms: u32,
    /// `FLOOD_ARB_TX_BASE_ALLOWANCE` (5; ≥ −1).
    pub flood_arb_tx_base_allowance: i32,
    /// `FLOOD_ARB_TX_DAMPING_FACTOR` (0.8; in (0, 1]).
    pub flood_arb_tx_damping_factor: f64,
    /// `MAX_SLOTS_TO_REMEMBER` (12; 0..=2^32−1).
    pub max_slots_to_remember: u32,
    /// `SURVEYOR_KEYS` ([] = anyone in the transitive quorum), aliases resolved.
    pub surveyor_keys: Vec<NodeId>,
    /// The `PUBLIC_KEY`s of `[[VALIDATORS]]`: the quorum this node knows of. When
    /// `SURVEYOR_KEYS` is empty they (and this node) may survey it, standing in for
    /// stellar-core's transitive quorum, which a node outside consensus does not track.
    pub validator_keys: Vec<NodeId>,
    /// `ALLOW_LOCALHOST_FOR_TESTING` (false): learn 127.0.0.1 from PEERS.
    pub allow_localhost_for_testing: bool,
    /// `ALLOW_PRIVATE_ADDRESSES_FOR_TESTING` (false; stellar-core master): send and learn
    /// private addresses.
    pub allow_private_addresses_for_testing: bool,
    /// `RUN_STANDALONE` (false): no listener, no dialling, no overlay HTTP routes.
    pub run_standalone: bool,
    /// `DATABASE` ("sqlite3://stellar.db").
    pub database: Database,
    /// `LOG_FILE_PATH` (core's dated file name; "" = no file): kept for the host.
    pub log_file_path: String,
    /// `LOG_COLOR` (false): kept for the host.
    pub log_color: bool,
    /// `$alias` names: `NODE_SEED`'s, `NODE_NAMES`, `[[VALIDATORS]]`, named key entries.
    node_names: Vec<(String, NodeId)>,
}

impl Default for NodeConfig {
    /// stellar-core's defaults, with no passphrase and no seed.
    fn default() -> Self {
        NodeConfig {
            network_passphrase: String::new(),
            node_seed: None,
            node_seed_name: None,
            node_is_validator: false,
            node_home_domain: String::new(),
            peer_port: DEFAULT_PEER_PORT,
            http_port: DEFAULT_HTTP_PORT,
            public_http_port: false,
            http_max_client: 128,
            known_peers: Vec::new(),
            preferred_peers: Vec::new(),
            preferred_peer_keys: Vec::new(),
            preferred_peers_only: false,
            target_peer_connections: 8,
            max_additional_peer_connections: -1,
            max_pending_connections: 500,
            peer_authentication_timeout: 2,
            peer_timeout: 30,
            peer_straggler_timeout: 120,
            peer_reading_capacity: 201,
            peer_flood_reading_capacity: 200,
            flow_control_send_more_batch_size: 40,
            peer_flood_reading_capacity_bytes: 0,
            flow_control_send_more_batch_size_bytes: 0,
            outbound_tx_queue_byte_limit: 3 * 1024 * 1024,
            max_batch_write_count: 1024,
            max_batch_write_bytes: 1024 * 1024,
            flood_op_rate_per_ledger: 1.0,
            flood_soroban_rate_per_ledger: 1.0,
            flood_tx_period_ms: 200,
            flood_soroban_tx_period_ms: 200,
            flood_advert_period_ms: 100,
            flood_demand_period_ms: 200,
            flood_demand_backoff_delay_ms: 500,
            flood_arb_tx_base_allowance: 5,
            flood_arb_tx_damping_factor: 0.8,
            max_slots_to_remember: 12,
            surveyor_keys: Vec::new(),
            validator_keys: Vec::new(),
            allow_localhost_for_testing: false,
            allow_private_addresses_for_testing: false,
            run_standalone: false,
            database: Database::default(),
            log_file_path: DEFAULT_LOG_FILE_PATH.to_string(),
            log_color: false,
            node_names: Vec::new(),
        }
    }
}

fn preset_peers(list: &[&str]) -> Vec<PeerAddr> {
    list.iter().filter_map(|s| s.parse().ok()).collect()
}

impl NodeConfig {
    /// The test network: its passphrase and SDF's three testnet nodes as `KNOWN_PEERS`.
    pub fn testnet() -> Self {
        NodeConfig {
            network_passphrase: TESTNET_PASSPHRASE.to_string(),
            known_peers: preset_peers(&TESTNET_KNOWN_PEERS),
            ..NodeConfig::default()
        }
    }

    /// The public network: its passphrase and SDF's three pubnet nodes as `KNOWN_PEERS`.
    pub fn pubnet() -> Self {
        NodeConfig {
            network_passphrase: PUBNET_PASSPHRASE.to_string(),
            known_peers: preset_peers(&PUBNET_KNOWN_PEERS),
            ..NodeConfig::default()
        }
    }

    /// A preset by name: `testnet`, or `pubnet` (also `mainnet`, `public`).
    pub fn preset(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "testnet" | "test" => Some(NodeConfig::testnet()),
            "pubnet" | "mainnet" | "public" => Some(NodeConfig::pubnet()),
            _ => None,
        }
    }

    /// Parses a configuration from stellar-core's defaults; `NETWORK_PASSPHRASE` is required.
    pub fn from_toml_str(text: &str) -> Result<(NodeConfig, Vec<Warning>), ConfigError> {
        NodeConfig::default().merge_toml(text)
    }

    /// Reads and parses a file from stellar-core's defaults.
    pub fn load(path: impl AsRef<Path>) -> Result<(NodeConfig, Vec<Warning>), ConfigError> {
        NodeConfig::default().merge_file(path)
    }

    /// Lays `text` over `self` (see the module docs for the rules) and validates the result.
    pub fn merge_toml(mut self, text: &str) -> Result<(NodeConfig, Vec<Warning>), ConfigError> {
        let mut warnings = Vec::new();
        self.apply(text, &mut warnings)?;
        // File order; the checks of the whole configuration come last.
        warnings.sort_by_key(|w| w.line.unwrap_or(usize::MAX));
        warnings.extend(self.validate()?);
        Ok((self, warnings))
    }

    /// [`NodeConfig::merge_toml`] with a file's contents.
    pub fn merge_file(
        self,
        path: impl AsRef<Path>,
    ) -> Result<(NodeConfig, Vec<Warning>), ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.merge_toml(&text)
    }

    // ----- accessors --------------------------------------------------------------------

    /// The node identity from `NODE_SEED`; `None` when absent (draw a random one).
    pub fn node_key(&self) -> Option<NodeKey> {
        self.node_seed.clone()
    }

    pub fn node_id(&self) -> Option<NodeId> {
        self.node_seed.as_ref().map(NodeKey::node_id)
    }

    pub fn network_passphrase(&self) -> &str {
        &self.network_passphrase
    }

    /// SHA-256 of the passphrase.
    pub fn network_id(&self) -> NetworkId {
        NetworkId::from_passphrase(&self.network_passphrase)
    }

    /// Where to listen for peers (all interfaces, as core); `None` with `RUN_STANDALONE`.
    pub fn peer_listen_addr(&self) -> Option<SocketAddr> {
        (!self.run_standalone).then(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.peer_port)))
    }

    /// Where the admin HTTP server listens: 127.0.0.1, or 0.0.0.0 with `PUBLIC_HTTP_PORT`;
    /// `None` when `HTTP_PORT` is 0.
    pub fn http_listen_addr(&self) -> Option<SocketAddr> {
        if self.http_port == 0 {
            return None;
        }
        let ip = if self.public_http_port {
            Ipv4Addr::UNSPECIFIED
        } else {
            Ipv4Addr::LOCALHOST
        };
        Some(SocketAddr::from((ip, self.http_port)))
    }

    /// The SQLite file; `None` for `sqlite3://:memory:`.
    pub fn database_path(&self) -> Option<&Path> {
        self.database.path()
    }

    /// `KNOWN_PEERS` as "host:port" strings, for the resolver.
    pub fn known_peer_strings(&self) -> Vec<String> {
        self.known_peers.iter().map(PeerAddr::to_string).collect()
    }

    /// `PREFERRED_PEERS` as "host:port" strings, for the resolver.
    pub fn preferred_peer_strings(&self) -> Vec<String> {
        self.preferred_peers
            .iter()
            .map(PeerAddr::to_string)
            .collect()
    }

    /// The `$alias` names defined by the file (name, key).
    pub fn node_names(&self) -> &[(String, NodeId)] {
        &self.node_names
    }

    /// Resolves a node reference as core's `resolveNodeID` does: a `G…` strkey, `$name`,
    /// or `@prefix` of a named node's strkey.
    pub fn resolve_node_id(&self, s: &str) -> Option<NodeId> {
        if let Some(name) = s.strip_prefix('$') {
            return self
                .node_names
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, id)| *id);
        }
        if let Some(prefix) = s.strip_prefix('@').filter(|p| !p.is_empty()) {
            return self
                .node_names
                .iter()
                .find(|(_, id)| id.to_string().starts_with(prefix))
                .map(|(_, id)| *id);
        }
        s.parse().ok()
    }

    /// `PEER_FLOOD_READING_CAPACITY_BYTES` with 0 resolved for `max_tx_size`
    /// (`OverlayManager::getFlowControlBytesTotal`).
    pub fn flood_reading_capacity_bytes(&self, max_tx_size: usize) -> u32 {
        if self.byte_flow_control_is_auto() {
            let auto = AUTO_FLOOD_READING_CAPACITY_BYTES;
            let batch = AUTO_SEND_MORE_BATCH_SIZE_BYTES;
            if ((auto - batch) as usize) < max_tx_size {
                let tx = u32::try_from(max_tx_size).unwrap_or(u32::MAX);
                return tx.saturating_add(batch);
            }
            return auto;
        }
        self.peer_flood_reading_capacity_bytes
    }

    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES` with 0 resolved
    /// (`OverlayManager::getFlowControlBytesBatch`).
    pub fn send_more_batch_size_bytes(&self) -> u32 {
        if self.byte_flow_control_is_auto() {
            AUTO_SEND_MORE_BATCH_SIZE_BYTES
        } else {
            self.flow_control_send_more_batch_size_bytes
        }
    }

    fn byte_flow_control_is_auto(&self) -> bool {
        self.peer_flood_reading_capacity_bytes == 0
            && self.flow_control_send_more_batch_size_bytes == 0
    }

    /// The connection settings for [`ConnectionLimits::adjust`]; `max_handles` is the
    /// file-handle budget ([`overlay_core::peers::handles_from_rlimit`], or `u64::MAX`).
    pub fn connection_config(&self, max_handles: u64) -> ConnectionConfig {
        ConnectionConfig {
            target_peer_connections: self.target_peer_connections,
            max_additional_peer_connections: self.max_additional_peer_connections,
            max_pending_connections: self.max_pending_connections,
            max_handles,
        }
    }

    /// [`NodeConfig::overlay_config_with_max_handles`] with no file-handle limit.
    pub fn overlay_config(&self) -> Result<OverlayConfig, ConfigError> {
        self.overlay_config_with_max_handles(u64::MAX)
    }

    /// The overlay's settings. `KNOWN_PEERS` / `PREFERRED_PEERS` entries that are IPv4
    /// literals are included; host names are for the host to resolve and hand over with
    /// `Overlay::add_config_peers`. Fields no key sets keep overlay-core's defaults.
    pub fn overlay_config_with_max_handles(
        &self,
        max_handles: u64,
    ) -> Result<OverlayConfig, ConfigError> {
        self.validate()?;
        let mut c = OverlayConfig::default();
        let flow = &mut c.peer.flow;
        flow.flood_reading_capacity = self.peer_flood_reading_capacity;
        flow.send_more_batch_size = self.flow_control_send_more_batch_size;
        flow.flood_reading_capacity_bytes = self.flood_reading_capacity_bytes(flow.max_tx_size);
        flow.send_more_batch_size_bytes = self.send_more_batch_size_bytes();
        flow.outbound_tx_queue_byte_limit = self.outbound_tx_queue_byte_limit as usize;
        c.peer.auth_timeout = Duration::from_secs(self.peer_authentication_timeout.into());
        c.peer.idle_timeout = Duration::from_secs(self.peer_timeout.into());
        c.peer.straggler_timeout = Duration::from_secs(self.peer_straggler_timeout.into());
        c.limits = ConnectionLimits::adjust(&self.connection_config(max_handles)).map_err(|e| {
            ConfigError::Inconsistent {
                key: "TARGET_PEER_CONNECTIONS",
                message: e.to_string(),
            }
        })?;
        c.known_peers = self.known_peers.iter().filter_map(PeerAddr::ipv4).collect();
        c.preferred_peers = self
            .preferred_peers
            .iter()
            .filter_map(PeerAddr::ipv4)
            .collect();
        c.preferred_keys = self.preferred_peer_keys.clone();
        c.preferred_only = self.preferred_peers_only;
        c.address_policy = AddressPolicy {
            allow_localhost: self.allow_localhost_for_testing,
            allow_private: self.allow_private_addresses_for_testing,
        };
        c.pull.flood_advert_period = Duration::from_millis(self.flood_advert_period_ms.into());
        c.pull.flood_demand_period = Duration::from_millis(self.flood_demand_period_ms.into());
        c.pull.flood_demand_backoff_delay =
            Duration::from_millis(self.flood_demand_backoff_delay_ms.into());
        c.pull.flood_op_rate_per_ledger = self.flood_op_rate_per_ledger;
        c.pull.flood_soroban_rate_per_ledger = self.flood_soroban_rate_per_ledger;
        c.queries.max_slots_to_remember = self.max_slots_to_remember;
        c.scp_state_slots = self.max_slots_to_remember as usize;
        // The overlay tick runs every PEER_AUTHENTICATION_TIMEOUT + 1 seconds.
        c.tick_interval = Duration::from_secs(u64::from(self.peer_authentication_timeout) + 1);
        c.auto_connect = !self.run_standalone;
        c.survey.surveyor_keys = self.surveyor_keys.clone();
        c.survey.is_validator = self.node_is_validator;
        Ok(c)
    }

    // ----- validation -------------------------------------------------------------------

    /// Checks every rule stellar-core enforces on these keys, plus our own; returns the
    /// warnings for settings core would adjust or that look unintended.
    pub fn validate(&self) -> Result<Vec<Warning>, ConfigError> {
        let mut warnings = Vec::new();
        if self.network_passphrase.is_empty() {
            return Err(ConfigError::Missing {
                key: "NETWORK_PASSPHRASE",
                hint: format!(
                    "set it (e.g. \"{PUBNET_PASSPHRASE}\"), or start from a preset ({})",
                    PRESETS.join(", ")
                ),
            });
        }
        // Minimums of the narrow integer fields (Config.cpp `readInt(item, 1)`), for values
        // set in code; the file reader has checked them already.
        let mins: [(&str, i64, i64); 12] = [
            ("PEER_PORT", self.peer_port.into(), 1),
            (
                "TARGET_PEER_CONNECTIONS",
                self.target_peer_connections.into(),
                1,
            ),
            (
                "MAX_PENDING_CONNECTIONS",
                self.max_pending_connections.into(),
                1,
            ),
            (
                "PEER_AUTHENTICATION_TIMEOUT",
                self.peer_authentication_timeout.into(),
                1,
            ),
            ("PEER_TIMEOUT", self.peer_timeout.into(), 1),
            (
                "PEER_STRAGGLER_TIMEOUT",
                self.peer_straggler_timeout.into(),
                1,
            ),
            (
                "PEER_READING_CAPACITY",
                self.peer_reading_capacity.into(),
                1,
            ),
            (
                "PEER_FLOOD_READING_CAPACITY",
                self.peer_flood_reading_capacity.into(),
                1,
            ),
            (
                "FLOW_CONTROL_SEND_MORE_BATCH_SIZE",
                self.flow_control_send_more_batch_size.into(),
                1,
            ),
            (
                "OUTBOUND_TX_QUEUE_BYTE_LIMIT",
                self.outbound_tx_queue_byte_limit.into(),
                1,
            ),
            (
                "MAX_ADDITIONAL_PEER_CONNECTIONS",
                self.max_additional_peer_connections.into(),
                -1,
            ),
            (
                "FLOOD_ARB_TX_BASE_ALLOWANCE",
                self.flood_arb_tx_base_allowance.into(),
                -1,
            ),
        ];
        for (key, value, min) in mins {
            if value < min {
                return Err(ConfigError::bad(
                    key,
                    value.to_string(),
                    int_form(min, None),
                ));
            }
        }
        let i32_max = i64::from(i32::MAX);
        let int32s: [(&str, u32); 7] = [
            ("MAX_BATCH_WRITE_COUNT", self.max_batch_write_count),
            ("MAX_BATCH_WRITE_BYTES", self.max_batch_write_bytes),
            ("FLOOD_TX_PERIOD_MS", self.flood_tx_period_ms),
            (
                "FLOOD_SOROBAN_TX_PERIOD_MS",
                self.flood_soroban_tx_period_ms,
            ),
            ("FLOOD_ADVERT_PERIOD_MS", self.flood_advert_period_ms),
            ("FLOOD_DEMAND_PERIOD_MS", self.flood_demand_period_ms),
            (
                "FLOOD_DEMAND_BACKOFF_DELAY_MS",
                self.flood_demand_backoff_delay_ms,
            ),
        ];
        for (key, value) in int32s {
            if value == 0 || i64::from(value) > i32_max {
                return Err(ConfigError::bad(
                    key,
                    value.to_string(),
                    int_form(1, Some(i32_max)),
                ));
            }
        }
        if i64::from(self.max_additional_peer_connections) > i64::from(u16::MAX) {
            return Err(ConfigError::bad(
                "MAX_ADDITIONAL_PEER_CONNECTIONS",
                self.max_additional_peer_connections.to_string(),
                MAX_ADDITIONAL_FORM,
            ));
        }
        for (key, value) in [
            ("FLOOD_OP_RATE_PER_LEDGER", self.flood_op_rate_per_ledger),
            (
                "FLOOD_SOROBAN_RATE_PER_LEDGER",
                self.flood_soroban_rate_per_ledger,
            ),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::bad(key, value.to_string(), RATE_FORM));
            }
        }
        let damping = self.flood_arb_tx_damping_factor;
        if !(damping.is_finite() && damping > 0.0 && damping <= 1.0) {
            return Err(ConfigError::bad(
                "FLOOD_ARB_TX_DAMPING_FACTOR",
                damping.to_string(),
                DAMPING_FORM,
            ));
        }

        // Config::processConfig, after reading every key.
        if self.flow_control_send_more_batch_size > self.peer_flood_reading_capacity {
            return Err(ConfigError::Inconsistent {
                key: "FLOW_CONTROL_SEND_MORE_BATCH_SIZE",
                message: format!(
                    "FLOW_CONTROL_SEND_MORE_BATCH_SIZE = {} can't be greater than \
                     PEER_FLOOD_READING_CAPACITY = {}",
                    self.flow_control_send_more_batch_size, self.peer_flood_reading_capacity
                ),
            });
        }
        if self.peer_reading_capacity <= self.peer_flood_reading_capacity {
            return Err(ConfigError::Inconsistent {
                key: "PEER_READING_CAPACITY",
                message: format!(
                    "PEER_READING_CAPACITY = {} must be greater than \
                     PEER_FLOOD_READING_CAPACITY = {}",
                    self.peer_reading_capacity, self.peer_flood_reading_capacity
                ),
            });
        }
        let cap = self.peer_flood_reading_capacity_bytes;
        let batch = self.flow_control_send_more_batch_size_bytes;
        if batch > cap {
            return Err(ConfigError::Inconsistent {
                key: "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES",
                message: format!(
                    "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = {batch} can't be greater than \
                     PEER_FLOOD_READING_CAPACITY_BYTES = {cap} (set both, or leave both 0 \
                     for the automatic {AUTO_FLOOD_READING_CAPACITY_BYTES} / \
                     {AUTO_SEND_MORE_BATCH_SIZE_BYTES})"
                ),
            });
        }
        // HerderImpl::start: with explicit byte values, a whole transaction must fit in the
        // credit left after one batch. The largest classic transaction is the floor; a
        // network's Soroban limit can raise it once the ledger is known.
        if !self.byte_flow_control_is_auto() && ((cap - batch) as usize) < MAX_CLASSIC_TX_SIZE_BYTES
        {
            return Err(ConfigError::Inconsistent {
                key: "PEER_FLOOD_READING_CAPACITY_BYTES",
                message: format!(
                    "PEER_FLOOD_READING_CAPACITY_BYTES = {cap} minus \
                     FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = {batch} is {}: must be at \
                     least {MAX_CLASSIC_TX_SIZE_BYTES} (the largest classic transaction)",
                    cap - batch
                ),
            });
        }
        if !self.byte_flow_control_is_auto() && batch == 0 {
            warnings.push(Warning {
                key: "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES".to_string(),
                line: None,
                message: "is 0 while PEER_FLOOD_READING_CAPACITY_BYTES is set: byte credit \
                          is re-granted after every flood message (stellar-core does the same)"
                    .to_string(),
            });
        }
        if !self.run_standalone && self.http_port != 0 && self.http_port == self.peer_port {
            return Err(ConfigError::Inconsistent {
                key: "HTTP_PORT",
                message: format!(
                    "HTTP_PORT = {} must differ from PEER_PORT = {}",
                    self.http_port, self.peer_port
                ),
            });
        }

        // Config::adjust lowers the outbound target when inbound room is scarce.
        let additional = match self.max_additional_peer_connections {
            -1 => (i64::from(self.target_peer_connections) * 8).min(i64::from(u16::MAX)),
            n => i64::from(n),
        };
        let cap_target = additional / 3 + 3;
        if i64::from(self.target_peer_connections) > cap_target {
            warnings.push(Warning {
                key: "TARGET_PEER_CONNECTIONS".to_string(),
                line: None,
                message: format!(
                    "{} is lowered to {cap_target} because MAX_ADDITIONAL_PEER_CONNECTIONS = \
                     {additional} (outbound is capped at MAX_ADDITIONAL / 3 + 3)",
                    self.target_peer_connections
                ),
            });
        }
        if self.preferred_peers_only
            && self.preferred_peers.is_empty()
            && self.preferred_peer_keys.is_empty()
        {
            warnings.push(Warning {
                key: "PREFERRED_PEERS_ONLY".to_string(),
                line: None,
                message: "is true but no PREFERRED_PEERS or PREFERRED_PEER_KEYS are set: \
                          every peer will be rejected"
                    .to_string(),
            });
        }
        Ok(warnings)
    }

    // ----- reading ----------------------------------------------------------------------

    fn apply(&mut self, text: &str, warnings: &mut Vec<Warning>) -> Result<(), ConfigError> {
        let root = DeTable::parse(text).map_err(|mut e| {
            e.set_input(Some(text));
            ConfigError::Syntax {
                message: e.to_string().trim_end().to_string(),
            }
        })?;
        let doc = Doc { text };
        let mut entries: Vec<_> = root.get_ref().iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);

        let mut file_known: Option<Vec<PeerAddr>> = None;
        let mut file_preferred: Option<Vec<PeerAddr>> = None;
        let mut key_lists: Vec<(&'static str, Vec<Item>)> = Vec::new();
        let mut validators = None;
        let mut names: Vec<(String, NodeId, &'static str, Option<usize>)> = Vec::new();

        for (k, v) in entries {
            let key: &str = k.get_ref();
            let line = doc.line(k.span());
            let r = Reader {
                doc: &doc,
                key,
                v,
                line,
            };
            match key {
                "NETWORK_PASSPHRASE" => {
                    let p = r.string()?;
                    if p.is_empty() {
                        return Err(r.bad("a non-empty passphrase"));
                    }
                    if !self.network_passphrase.is_empty() && self.network_passphrase != p {
                        return Err(ConfigError::Inconsistent {
                            key: "NETWORK_PASSPHRASE",
                            message: format!(
                                "NETWORK_PASSPHRASE = \"{p}\" (line {line}) conflicts with the \
                                 starting configuration's \"{}\"",
                                self.network_passphrase
                            ),
                        });
                    }
                    self.network_passphrase = p;
                }
                "NODE_SEED" => {
                    let s = r.string()?;
                    let (key, name) = parse_seed(&s).map_err(|expected| ConfigError::BadValue {
                        key: "NODE_SEED".to_string(),
                        value: mask_seed(&s),
                        entry: false,
                        expected,
                        line: Some(line),
                    })?;
                    if let Some(n) = &name {
                        names.push((n.clone(), key.node_id(), "NODE_SEED", Some(line)));
                    }
                    self.node_seed = Some(key);
                    self.node_seed_name = name;
                }
                "NODE_IS_VALIDATOR" => self.node_is_validator = r.bool()?,
                "NODE_HOME_DOMAIN" => self.node_home_domain = r.string()?,
                "NODE_NAMES" => {
                    for item in r.strings()? {
                        let (id, name) =
                            parse_public_key(&item.text).map_err(|e| r.bad_entry(&item, &e))?;
                        if let Some(n) = name {
                            names.push((n, id, "NODE_NAMES", Some(doc.line(item.span.clone()))));
                        }
                    }
                }
                "PEER_PORT" => self.peer_port = r.int(1, 65535, "")? as u16,
                "HTTP_PORT" => {
                    self.http_port = r.int(0, 65535, " (0 = no admin HTTP server)")? as u16
                }
                "PUBLIC_HTTP_PORT" => self.public_http_port = r.bool()?,
                "HTTP_MAX_CLIENT" => self.http_max_client = r.int(0, 65535, "")? as u16,
                "KNOWN_PEERS" => file_known = Some(r.peers()?),
                "PREFERRED_PEERS" => file_preferred = Some(r.peers()?),
                "PREFERRED_PEER_KEYS" => key_lists.push(("PREFERRED_PEER_KEYS", r.strings()?)),
                "SURVEYOR_KEYS" => key_lists.push(("SURVEYOR_KEYS", r.strings()?)),
                "PREFERRED_PEERS_ONLY" => self.preferred_peers_only = r.bool()?,
                "TARGET_PEER_CONNECTIONS" => {
                    self.target_peer_connections = r.int(1, 65535, "")? as u16
                }
                "MAX_ADDITIONAL_PEER_CONNECTIONS" => {
                    self.max_additional_peer_connections =
                        r.int_with(-1, 65535, MAX_ADDITIONAL_FORM)? as i32
                }
                "MAX_PENDING_CONNECTIONS" => {
                    self.max_pending_connections = r.int(1, 65535, "")? as u16
                }
                "PEER_AUTHENTICATION_TIMEOUT" => {
                    self.peer_authentication_timeout = r.int(1, 65535, " (seconds)")? as u16
                }
                "PEER_TIMEOUT" => self.peer_timeout = r.int(1, 65535, " (seconds)")? as u16,
                "PEER_STRAGGLER_TIMEOUT" => {
                    self.peer_straggler_timeout = r.int(1, 65535, " (seconds)")? as u16
                }
                "PEER_READING_CAPACITY" => self.peer_reading_capacity = r.u32(1)?,
                "PEER_FLOOD_READING_CAPACITY" => self.peer_flood_reading_capacity = r.u32(1)?,
                "FLOW_CONTROL_SEND_MORE_BATCH_SIZE" => {
                    self.flow_control_send_more_batch_size = r.u32(1)?
                }
                "PEER_FLOOD_READING_CAPACITY_BYTES" => {
                    self.peer_flood_reading_capacity_bytes = r.u32(0)?
                }
                "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES" => {
                    self.flow_control_send_more_batch_size_bytes = r.u32(0)?
                }
                "OUTBOUND_TX_QUEUE_BYTE_LIMIT" => self.outbound_tx_queue_byte_limit = r.u32(1)?,
                "MAX_BATCH_WRITE_COUNT" => self.max_batch_write_count = r.i32_positive()?,
                "MAX_BATCH_WRITE_BYTES" => self.max_batch_write_bytes = r.i32_positive()?,
                "FLOOD_OP_RATE_PER_LEDGER" => self.flood_op_rate_per_ledger = r.rate()?,
                "FLOOD_SOROBAN_RATE_PER_LEDGER" => self.flood_soroban_rate_per_ledger = r.rate()?,
                "FLOOD_TX_PERIOD_MS" => self.flood_tx_period_ms = r.i32_positive()?,
                "FLOOD_SOROBAN_TX_PERIOD_MS" => {
                    self.flood_soroban_tx_period_ms = r.i32_positive()?
                }
                "FLOOD_ADVERT_PERIOD_MS" => self.flood_advert_period_ms = r.i32_positive()?,
                "FLOOD_DEMAND_PERIOD_MS" => self.flood_demand_period_ms = r.i32_positive()?,
                "FLOOD_DEMAND_BACKOFF_DELAY_MS" => {
                    self.flood_demand_backoff_delay_ms = r.i32_positive()?
                }
                "FLOOD_ARB_TX_BASE_ALLOWANCE" => {
                    self.flood_arb_tx_base_allowance =
                        r.int(-1, i64::from(i32::MAX), " (-1 = no limit)")? as i32
                }
                "FLOOD_ARB_TX_DAMPING_FACTOR" => {
                    let f = r.float()?;
                    if !(f.is_finite() && f > 0.0 && f <= 1.0) {
                        return Err(r.bad(DAMPING_FORM));
                    }
                    self.flood_arb_tx_damping_factor = f;
                }
                "MAX_SLOTS_TO_REMEMBER" => self.max_slots_to_remember = r.u32(0)?,
                "ALLOW_LOCALHOST_FOR_TESTING" => {
                    self.allow_localhost_for_testing = r.bool()?;
                    if self.allow_localhost_for_testing {
                        warnings.push(r.warn(TESTING_SUGGESTED));
                    }
                }
                "ALLOW_PRIVATE_ADDRESSES_FOR_TESTING" => {
                    self.allow_private_addresses_for_testing = r.bool()?;
                    if self.allow_private_addresses_for_testing {
                        warnings.push(r.warn(TESTING_SUGGESTED));
                    }
                }
                "RUN_STANDALONE" => {
                    self.run_standalone = r.bool()?;
                    if self.run_standalone {
                        warnings.push(
                            r.warn("enabled: a testing option; the node neither listens nor dials"),
                        );
                    }
                }
                "DATABASE" => {
                    let s = r.string()?;
                    let (db, ignored) =
                        Database::parse(&s).map_err(|expected| ConfigError::BadValue {
                            key: "DATABASE".to_string(),
                            value: mask_database(&s),
                            entry: false,
                            expected,
                            line: Some(line),
                        })?;
                    for p in ignored {
                        warnings.push(r.warn(&format!("SQLite parameter `{p}` is ignored")));
                    }
                    self.database = db;
                }
                "LOG_FILE_PATH" => self.log_file_path = r.string()?,
                "LOG_COLOR" => {
                    self.log_color = r.bool()?;
                    warnings.push(r.warn(
                        "ignored: colour on stderr follows the tool's default (NO_COLOR=1 turns it \
                         off); the log file never has colour codes",
                    ));
                }
                "VALIDATORS" => validators = Some((v, line)),
                _ => warnings.push(r.warn(&unused_message(key))),
            }
        }

        // [[VALIDATORS]]: names, and addresses for the peer lists (Config::parseValidators).
        let mut validator_known = Vec::new();
        let mut validator_preferred = Vec::new();
        if let Some((v, line)) = validators {
            let tables = match v.get_ref() {
                DeValue::Array(a) => a
                    .iter()
                    .map(|t| t.get_ref().as_table().map(|tab| (tab, t.span())))
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            let Some(tables) = tables else {
                return Err(ConfigError::BadValue {
                    key: "VALIDATORS".to_string(),
                    value: doc.raw(v.span()),
                    entry: false,
                    expected: "[[VALIDATORS]] tables".to_string(),
                    line: Some(line),
                });
            };
            let mut validator_keys = Vec::new();
            for (table, _) in &tables {
                let (name, key, domain, address) = read_validator(&doc, table)?;
                if let Some((id, _)) = &key {
                    validator_keys.push(*id);
                }
                if let (Some(n), Some((id, l))) = (name, key) {
                    names.push((n, id, "VALIDATORS", Some(l)));
                }
                if let Some(addr) = address {
                    if domain.is_some_and(|d| d == self.node_home_domain) {
                        validator_preferred.push(addr);
                    } else {
                        validator_known.push(addr);
                    }
                }
            }
            dedup(&mut validator_keys);
            self.validator_keys = validator_keys;
            warnings.push(Warning {
                key: "VALIDATORS".to_string(),
                line: Some(line),
                message: format!(
                    "[[VALIDATORS]] ({} entries): quorum settings ignored; {} ADDRESS values \
                     added to KNOWN_PEERS, {} to PREFERRED_PEERS; NAMEs usable as $aliases",
                    tables.len(),
                    validator_known.len(),
                    validator_preferred.len()
                ),
            });
        }

        // Aliases: defined by NODE_SEED, NODE_NAMES, [[VALIDATORS]] and named key entries.
        for (name, id, key, line) in names {
            self.add_name(name, id, key, line, warnings);
        }
        // Strkey entries first (they may name keys), then every entry in file order.
        let mut parsed: Vec<Vec<Option<NodeId>>> = Vec::new();
        for (key, items) in &key_lists {
            let mut ids = Vec::new();
            for item in items {
                if item.text.starts_with('$') && item.text.len() >= 2 {
                    ids.push(None);
                    continue;
                }
                let (id, name) =
                    parse_public_key(&item.text).map_err(|e| ConfigError::BadValue {
                        key: key.to_string(),
                        value: format!("\"{}\"", item.text),
                        entry: true,
                        expected: format!("{e}, or a $alias"),
                        line: Some(doc.line(item.span.clone())),
                    })?;
                if let Some(n) = name {
                    self.add_name(n, id, key, Some(doc.line(item.span.clone())), warnings);
                }
                ids.push(Some(id));
            }
            parsed.push(ids);
        }
        let mut resolved: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
        for ((key, items), ids) in key_lists.iter().zip(parsed) {
            let mut out = Vec::new();
            for (item, id) in items.iter().zip(ids) {
                match id.or_else(|| self.resolve_node_id(&item.text)) {
                    Some(id) => out.push(id),
                    None => warnings.push(Warning {
                        key: key.to_string(),
                        line: Some(doc.line(item.span.clone())),
                        message: format!(
                            "alias \"{}\" names no key (NODE_SEED, NODE_NAMES, \
                             [[VALIDATORS]] or a named entry); skipped",
                            item.text
                        ),
                    }),
                }
            }
            dedup(&mut out);
            resolved.insert(key, out);
        }
        if let Some(ids) = resolved.remove("PREFERRED_PEER_KEYS") {
            self.preferred_peer_keys = ids;
        }
        if let Some(ids) = resolved.remove("SURVEYOR_KEYS") {
            self.surveyor_keys = ids;
        }

        // Peer lists: the file's first (core inserts KNOWN_PEERS at the front, appends
        // validator addresses), then what the starting configuration had.
        let mut known = file_known.unwrap_or_default();
        known.extend(validator_known);
        known.append(&mut self.known_peers);
        dedup(&mut known);
        self.known_peers = known;
        let mut preferred =
            file_preferred.unwrap_or_else(|| std::mem::take(&mut self.preferred_peers));
        preferred.extend(validator_preferred);
        dedup(&mut preferred);
        self.preferred_peers = preferred;
        Ok(())
    }

    fn add_name(
        &mut self,
        name: String,
        id: NodeId,
        key: &str,
        line: Option<usize>,
        w: &mut Vec<Warning>,
    ) {
        match self.node_names.iter().find(|(n, _)| *n == name) {
            Some((_, existing)) if *existing == id => {}
            Some((_, existing)) => w.push(Warning {
                key: key.to_string(),
                line,
                message: format!(
                    "name \"{name}\" given to {id} is already used for {existing}; keeping the \
                     first"
                ),
            }),
            None => self.node_names.push((name, id)),
        }
    }
}

fn dedup<T: PartialEq>(v: &mut Vec<T>) {
    let mut i = 0;
    while i < v.len() {
        if v[..i].contains(&v[i]) {
            v.remove(i);
        } else {
            i += 1;
        }
    }
}

/// One `[[VALIDATORS]]` entry: NAME, (PUBLIC_KEY, line), HOME_DOMAIN, ADDRESS.
type ValidatorEntry = (
    Option<String>,
    Option<(NodeId, usize)>,
    Option<String>,
    Option<PeerAddr>,
);

fn read_validator(doc: &Doc<'_>, table: &DeTable<'_>) -> Result<ValidatorEntry, ConfigError> {
    let mut out: ValidatorEntry = (None, None, None, None);
    for (k, v) in table.iter() {
        let field: &str = k.get_ref();
        let key = format!("VALIDATORS.{field}");
        let r = Reader {
            doc,
            key: &key,
            v,
            line: doc.line(k.span()),
        };
        match field {
            "NAME" => out.0 = Some(r.string()?),
            "PUBLIC_KEY" => {
                let s = r.string()?;
                let id = s
                    .parse::<NodeId>()
                    .map_err(|_| r.bad("a public key strkey \"G…\""))?;
                out.1 = Some((id, r.line));
            }
            "HOME_DOMAIN" => out.2 = Some(r.string()?),
            "ADDRESS" => {
                let s = r.string()?;
                out.3 = Some(s.parse().map_err(|e: String| r.bad(&e))?);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `NODE_SEED`: "S… [name]" (Config::parseNodeID with a seed): the first word is the seed,
/// the second, if any, a name; further words are ignored as core does.
fn parse_seed(s: &str) -> Result<(NodeKey, Option<String>), String> {
    const FORM: &str = "a secret seed strkey \"S…\", optionally followed by a name (\"S… self\")";
    if s.starts_with('$') {
        return Err(format!("{FORM}; an alias names only public keys"));
    }
    let mut words = s.split_whitespace();
    let seed = words.next().ok_or_else(|| FORM.to_string())?;
    let key = NodeKey::from_strkey(seed).map_err(|_| FORM.to_string())?;
    Ok((key, words.next().map(str::to_string)))
}

/// "G… [name]" (Config::parseNodeID for public keys).
fn parse_public_key(s: &str) -> Result<(NodeId, Option<String>), String> {
    const FORM: &str = "a public key strkey \"G…\", optionally followed by a name";
    let mut words = s.split_whitespace();
    let key = words.next().ok_or_else(|| FORM.to_string())?;
    let id = key.parse::<NodeId>().map_err(|_| FORM.to_string())?;
    Ok((id, words.next().map(str::to_string)))
}

fn mask_seed(s: &str) -> String {
    let t = s.trim_start();
    match t.chars().next() {
        Some(c) => format!("\"{c}…\" (hidden)"),
        None => "\"\"".to_string(),
    }
}

/// A PostgreSQL connection string may hold a password; SQLite paths are shown.
fn mask_database(s: &str) -> String {
    if s.starts_with("sqlite3://") {
        return format!("\"{s}\"");
    }
    match s.split_once("://") {
        Some((scheme, _)) => format!("\"{scheme}://…\""),
        None => format!("\"{s}\""),
    }
}

const MAX_ADDITIONAL_FORM: &str = "an integer from -1 to 65535 (-1 = 8 × TARGET_PEER_CONNECTIONS)";
const RATE_FORM: &str = "a number > 0";
const DAMPING_FORM: &str = "a number in (0, 1]";
const TESTING_SUGGESTED: &str = "enabled: a testing option; the node may not work on most networks";

fn int_form(min: i64, max: Option<i64>) -> String {
    match max {
        Some(max) => format!("an integer from {min} to {max}"),
        None => format!("an integer ≥ {min}"),
    }
}

/// A string entry of an array with its span.
struct Item {
    text: String,
    span: Range<usize>,
}

struct Doc<'a> {
    text: &'a str,
}

impl Doc<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The value as written, shortened.
    fn raw(&self, span: Range<usize>) -> String {
        let s = self.text.get(span).unwrap_or("?").trim();
        let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    }
}

/// Reads one key's value, producing errors that name the key, show the value and say what
/// was expected.
struct Reader<'a, 'd> {
    doc: &'a Doc<'d>,
    key: &'a str,
    v: &'a Spanned<DeValue<'d>>,
    line: usize,
}

impl Reader<'_, '_> {
    fn bad(&self, expected: &str) -> ConfigError {
        ConfigError::BadValue {
            key: self.key.to_string(),
            value: self.doc.raw(self.v.span()),
            entry: false,
            expected: expected.to_string(),
            line: Some(self.line),
        }
    }

    fn bad_entry(&self, item: &Item, expected: &str) -> ConfigError {
        ConfigError::BadValue {
            key: self.key.to_string(),
            value: format!("\"{}\"", item.text),
            entry: true,
            expected: expected.to_string(),
            line: Some(self.doc.line(item.span.clone())),
        }
    }

    fn warn(&self, message: &str) -> Warning {
        Warning {
            key: self.key.to_string(),
            line: Some(self.line),
            message: message.to_string(),
        }
    }

    fn bool(&self) -> Result<bool, ConfigError> {
        self.v
            .get_ref()
            .as_bool()
            .ok_or_else(|| self.bad("true or false"))
    }

    fn string(&self) -> Result<String, ConfigError> {
        self.v
            .get_ref()
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.bad("a string"))
    }

    fn strings(&self) -> Result<Vec<Item>, ConfigError> {
        let DeValue::Array(a) = self.v.get_ref() else {
            return Err(self.bad("an array of strings"));
        };
        a.iter()
            .map(|e| match e.get_ref().as_str() {
                Some(s) => Ok(Item {
                    text: s.to_string(),
                    span: e.span(),
                }),
                None => Err(ConfigError::BadValue {
                    key: self.key.to_string(),
                    value: self.doc.raw(e.span()),
                    entry: true,
                    expected: "a string".to_string(),
                    line: Some(self.doc.line(e.span())),
                }),
            })
            .collect()
    }

    fn peers(&self) -> Result<Vec<PeerAddr>, ConfigError> {
        self.strings()?
            .iter()
            .map(|item| {
                item.text
                    .parse::<PeerAddr>()
                    .map_err(|e| self.bad_entry(item, &e))
            })
            .collect()
    }

    /// An integer in `min..=max`; `note` follows the range in the message.
    fn int(&self, min: i64, max: i64, note: &str) -> Result<i64, ConfigError> {
        let unbounded = max == i64::from(i32::MAX) || max == i64::from(u32::MAX);
        let form = format!("{}{note}", int_form(min, (!unbounded).then_some(max)));
        self.int_with(min, max, &form)
    }

    fn int_with(&self, min: i64, max: i64, form: &str) -> Result<i64, ConfigError> {
        let DeValue::Integer(i) = self.v.get_ref() else {
            return Err(self.bad(form));
        };
        let digits = i.as_str().replace('_', "");
        match i64::from_str_radix(&digits, i.radix()) {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.bad(form)),
        }
    }

    fn u32(&self, min: i64) -> Result<u32, ConfigError> {
        Ok(self.int(min, i64::from(u32::MAX), "")? as u32)
    }

    fn i32_positive(&self) -> Result<u32, ConfigError> {
        Ok(self.int(1, i64::from(i32::MAX), "")? as u32)
    }

    /// A float; integers are accepted, as cpptoml converts them.
    fn float(&self) -> Result<f64, ConfigError> {
        match self.v.get_ref() {
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .map_err(|_| self.bad("a number")),
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .map(|n| n as f64)
                .map_err(|_| self.bad("a number")),
            _ => Err(self.bad("a number")),
        }
    }

    fn rate(&self) -> Result<f64, ConfigError> {
        let f = self.float()?;
        if !(f.is_finite() && f > 0.0) {
            return Err(self.bad(RATE_FORM));
        }
        Ok(f)
    }
}

// ---------------------------------------------------------------------------------------
// Keys this node does not use

/// Every key this node reads at the top level.
pub const USED_KEYS: &[&str] = &[
    "NETWORK_PASSPHRASE",
    "NODE_SEED",
    "NODE_IS_VALIDATOR",
    "NODE_HOME_DOMAIN",
    "NODE_NAMES",
    "PEER_PORT",
    "HTTP_PORT",
    "PUBLIC_HTTP_PORT",
    "HTTP_MAX_CLIENT",
    "KNOWN_PEERS",
    "PREFERRED_PEERS",
    "PREFERRED_PEER_KEYS",
    "PREFERRED_PEERS_ONLY",
    "SURVEYOR_KEYS",
    "TARGET_PEER_CONNECTIONS",
    "MAX_ADDITIONAL_PEER_CONNECTIONS",
    "MAX_PENDING_CONNECTIONS",
    "PEER_AUTHENTICATION_TIMEOUT",
    "PEER_TIMEOUT",
    "PEER_STRAGGLER_TIMEOUT",
    "PEER_READING_CAPACITY",
    "PEER_FLOOD_READING_CAPACITY",
    "FLOW_CONTROL_SEND_MORE_BATCH_SIZE",
    "PEER_FLOOD_READING_CAPACITY_BYTES",
    "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES",
    "OUTBOUND_TX_QUEUE_BYTE_LIMIT",
    "MAX_BATCH_WRITE_COUNT",
    "MAX_BATCH_WRITE_BYTES",
    "FLOOD_OP_RATE_PER_LEDGER",
    "FLOOD_SOROBAN_RATE_PER_LEDGER",
    "FLOOD_TX_PERIOD_MS",
    "FLOOD_SOROBAN_TX_PERIOD_MS",
    "FLOOD_ADVERT_PERIOD_MS",
    "FLOOD_DEMAND_PERIOD_MS",
    "FLOOD_DEMAND_BACKOFF_DELAY_MS",
    "FLOOD_ARB_TX_BASE_ALLOWANCE",
    "FLOOD_ARB_TX_DAMPING_FACTOR",
    "MAX_SLOTS_TO_REMEMBER",
    "ALLOW_LOCALHOST_FOR_TESTING",
    "ALLOW_PRIVATE_ADDRESSES_FOR_TESTING",
    "RUN_STANDALONE",
    "DATABASE",
    "LOG_FILE_PATH",
    "LOG_COLOR",
    "VALIDATORS",
];

/// stellar-core's other top-level keys (v25.2.0 and master, `Config::processConfig`).
const OTHER_CORE_KEYS: &[&str] = &[
    "APPLY_LOAD_BATCH_SAC_COUNT",
    "APPLY_LOAD_BL_BATCH_SIZE",
    "APPLY_LOAD_BL_LAST_BATCH_LEDGERS",
    "APPLY_LOAD_BL_LAST_BATCH_SIZE",
    "APPLY_LOAD_BL_SIMULATED_LEDGERS",
    "APPLY_LOAD_BL_WRITE_FREQUENCY",
    "APPLY_LOAD_CLASSIC_TXS_PER_LEDGER",
    "APPLY_LOAD_DATA_ENTRY_SIZE",
    "APPLY_LOAD_EVENT_COUNT",
    "APPLY_LOAD_EVENT_COUNT_DISTRIBUTION",
    "APPLY_LOAD_INSTRUCTIONS",
    "APPLY_LOAD_INSTRUCTIONS_DISTRIBUTION",
    "APPLY_LOAD_LEDGER_MAX_DEPENDENT_TX_CLUSTERS",
    "APPLY_LOAD_LEDGER_MAX_DISK_READ_BYTES",
    "APPLY_LOAD_LEDGER_MAX_DISK_READ_LEDGER_ENTRIES",
    "APPLY_LOAD_LEDGER_MAX_INSTRUCTIONS",
    "APPLY_LOAD_LEDGER_MAX_WRITE_BYTES",
    "APPLY_LOAD_LEDGER_MAX_WRITE_LEDGER_ENTRIES",
    "APPLY_LOAD_MAX_CONTRACT_EVENT_SIZE_BYTES",
    "APPLY_LOAD_MAX_LEDGER_TX_SIZE_BYTES",
    "APPLY_LOAD_MAX_SAC_TPS_MAX_TPS",
    "APPLY_LOAD_MAX_SAC_TPS_MIN_TPS",
    "APPLY_LOAD_MAX_SOROBAN_TX_COUNT",
    "APPLY_LOAD_MAX_TX_SIZE_BYTES",
    "APPLY_LOAD_MODE",
    "APPLY_LOAD_MODEL_TX",
    "APPLY_LOAD_NUM_DISK_READ_ENTRIES",
    "APPLY_LOAD_NUM_DISK_READ_ENTRIES_DISTRIBUTION",
    "APPLY_LOAD_NUM_LEDGERS",
    "APPLY_LOAD_NUM_RW_ENTRIES",
    "APPLY_LOAD_NUM_RW_ENTRIES_DISTRIBUTION",
    "APPLY_LOAD_TARGET_CLOSE_TIME_MS",
    "APPLY_LOAD_TIME_WRITES",
    "APPLY_LOAD_TX_MAX_DISK_READ_BYTES",
    "APPLY_LOAD_TX_MAX_DISK_READ_LEDGER_ENTRIES",
    "APPLY_LOAD_TX_MAX_FOOTPRINT_SIZE",
    "APPLY_LOAD_TX_MAX_INSTRUCTIONS",
    "APPLY_LOAD_TX_MAX_WRITE_BYTES",
    "APPLY_LOAD_TX_MAX_WRITE_LEDGER_ENTRIES",
    "APPLY_LOAD_TX_SIZE_BYTES",
    "APPLY_LOAD_TX_SIZE_BYTES_DISTRIBUTION",
    "ARTIFICIALLY_ACCELERATE_TIME_FOR_TESTING",
    "ARTIFICIALLY_DELAY_BUCKET_APPLICATION_FOR_TESTING",
    "ARTIFICIALLY_DELAY_LEDGER_CLOSE_FOR_TESTING",
    "ARTIFICIALLY_DELAY_NOMINATION_EMIT_FOR_TESTING",
    "ARTIFICIALLY_GENERATE_LOAD_FOR_TESTING",
    "ARTIFICIALLY_REPLAY_WITH_NEWEST_BUCKET_LOGIC_FOR_TESTING",
    "ARTIFICIALLY_SET_CLOSE_TIME_FOR_TESTING",
    "ARTIFICIALLY_SET_SURVEY_PHASE_DURATION_FOR_TESTING",
    "ARTIFICIALLY_SET_SYSTEM_CLOCK_OFFSET_FOR_TESTING",
    "ARTIFICIALLY_SLEEP_MAIN_THREAD_FOR_TESTING",
    "AUTOMATIC_MAINTENANCE_COUNT",
    "AUTOMATIC_MAINTENANCE_PERIOD",
    "AUTOMATIC_SELF_CHECK_PERIOD",
    "BACKFILL_RESTORE_META",
    "BACKFILL_STELLAR_ASSET_EVENTS",
    "BACKGROUND_EVICTION_SCAN",
    "BACKGROUND_OVERLAY_PROCESSING",
    "BACKGROUND_TX_SIG_VERIFICATION",
    "BUCKETLIST_DB_INDEX_CUTOFF",
    "BUCKETLIST_DB_INDEX_PAGE_SIZE_EXPONENT",
    "BUCKETLIST_DB_MEMORY_FOR_CACHING",
    "BUCKETLIST_DB_PERSIST_INDEX",
    "BUCKET_DIR_PATH",
    "CATCHUP_COMPLETE",
    "CATCHUP_RECENT",
    "CATCHUP_SKIP_KNOWN_RESULTS_FOR_TESTING",
    "CATCHUP_WAIT_MERGES_TX_APPLY_FOR_TESTING",
    "COMMANDS",
    "COMPILATION_THREADS",
    "DISABLE_SOROBAN_METRICS_FOR_TESTING",
    "DISABLE_TX_META_FOR_TESTING",
    "DISABLE_XDR_FSYNC",
    "EMIT_CLASSIC_EVENTS",
    "EMIT_LEDGER_CLOSE_META_EXT_V1",
    "EMIT_SOROBAN_TRANSACTION_META_EXT_V1",
    "ENABLE_DIAGNOSTICS_FOR_TX_SUBMISSION",
    "ENABLE_SOROBAN_DIAGNOSTIC_EVENTS",
    "ENTRY_CACHE_SIZE",
    "EXCLUDE_TRANSACTIONS_CONTAINING_OPERATION_TYPE",
    "EXPERIMENTAL_BACKGROUND_TX_SIG_VERIFICATION",
    "EXPERIMENTAL_PARALLEL_LEDGER_APPLY",
    "EXPERIMENTAL_PARALLEL_TX_SET_DOWNLOAD",
    "EXPERIMENTAL_TX_BATCH_MAX_SIZE",
    "FAILURE_SAFETY",
    "FILTERED_G_ADDRESSES",
    "FILTERED_SOROBAN_KEYS_PATH",
    "FORCE_OLD_STYLE_LEADER_ELECTION",
    "FORCE_OLD_STYLE_PREPARE_START_TRIGGER_TIMER",
    "GENESIS_TEST_ACCOUNT_COUNT",
    "HALT_ON_INTERNAL_TRANSACTION_ERROR",
    "HISTOGRAM_WINDOW_SIZE",
    "HISTORY",
    "HOME_DOMAINS",
    "HTTP_QUERY_PORT",
    "IGNORE_MESSAGE_LIMITS_FOR_TESTING",
    "INVARIANT_CHECKS",
    "INVARIANT_EXTRA_CHECKS",
    "LOADGEN_BYTE_COUNT_DISTRIBUTION_FOR_TESTING",
    "LOADGEN_BYTE_COUNT_FOR_TESTING",
    "LOADGEN_INSTRUCTIONS_DISTRIBUTION_FOR_TESTING",
    "LOADGEN_INSTRUCTIONS_FOR_TESTING",
    "LOADGEN_IO_KILOBYTES_DISTRIBUTION_FOR_TESTING",
    "LOADGEN_IO_KILOBYTES_FOR_TESTING",
    "LOADGEN_MEASURE_TX_E2E_LATENCY_FOR_TESTING",
    "LOADGEN_NUM_DATA_ENTRIES_DISTRIBUTION_FOR_TESTING",
    "LOADGEN_NUM_DATA_ENTRIES_FOR_TESTING",
    "LOADGEN_PREGENERATED_TRANSACTIONS_FILE",
    "LOADGEN_TX_SIZE_BYTES_DISTRIBUTION_FOR_TESTING",
    "LOADGEN_TX_SIZE_BYTES_FOR_TESTING",
    "LOADGEN_WASM_BYTES_DISTRIBUTION_FOR_TESTING",
    "LOADGEN_WASM_BYTES_FOR_TESTING",
    "MANUAL_CLOSE",
    "MAXIMUM_LEDGER_CLOSETIME_DRIFT",
    "MAX_CONCURRENT_SUBPROCESSES",
    "MAX_DEX_TX_OPERATIONS_IN_TX_SET",
    "METADATA_DEBUG_LEDGERS",
    "METADATA_OUTPUT_STREAM",
    "NTP_DRIFT_CHECK_SERVER",
    "OP_APPLY_SLEEP_TIME_DURATION_FOR_TESTING",
    "OP_APPLY_SLEEP_TIME_WEIGHT_FOR_TESTING",
    "OVERRIDE_EVICTION_PARAMS_FOR_TESTING",
    "PARALLEL_LEDGER_APPLY",
    "PATH_TO_PROTOCOL_23_CORRUPTION_FILE",
    "PEER_TOTAL_READING_CAPACITY_BYTES",
    "PREFETCH_BATCH_SIZE",
    "PUBLISH_TO_ARCHIVE_DELAY",
    "QUERY_SNAPSHOT_LEDGERS",
    "QUERY_THREAD_POOL_SIZE",
    "QUORUM_INTERSECTION_CHECKER",
    "QUORUM_INTERSECTION_CHECKER_MEMORY_LIMIT_BYTES",
    "QUORUM_INTERSECTION_CHECKER_TIME_LIMIT_MS",
    "QUORUM_SET",
    "SKIP_HIGH_CRITICAL_VALIDATOR_CHECKS_FOR_TESTING",
    "SOROBAN_TRANSACTION_QUEUE_SIZE_MULTIPLIER_FOR_TESTING",
    "STATE_SNAPSHOT_INVARIANT_LEDGER_FREQUENCY",
    "TESTING_EVICTION_SCAN_SIZE",
    "TESTING_IGNORE_LEDGER_TIME_UPGRADE_BOUNDS",
    "TESTING_MAX_CLASSIC_BYTE_ALLOWANCE",
    "TESTING_MAX_ENTRIES_TO_ARCHIVE",
    "TESTING_MAX_SOROBAN_BYTE_ALLOWANCE",
    "TESTING_MINIMUM_PERSISTENT_ENTRY_LIFETIME",
    "TESTING_NOMINATE_RANDOM_VALUES",
    "TESTING_SOROBAN_HIGH_LIMIT_OVERRIDE",
    "TESTING_STARTING_EVICTION_SCAN_LEVEL",
    "TRANSACTION_QUEUE_SIZE_MULTIPLIER_FOR_TESTING",
    "TX_SET_DOWNLOAD_TIMEOUT",
    "UNSAFE_QUORUM",
    "UPDATE_SOROBAN_COSTS_DURING_PROTOCOL_UPGRADE_FOR_TESTING",
    "USE_QUORUM_INTERSECTION_CHECKER_V2",
    "WORKER_THREADS",
];

fn unused_message(key: &str) -> String {
    match key {
        "QUORUM_SET" => "[QUORUM_SET] ignored: this node takes no part in consensus".to_string(),
        "HISTORY" => "[HISTORY.*] ignored: this node keeps no ledger history".to_string(),
        "HOME_DOMAINS" => {
            "[[HOME_DOMAINS]] ignored: validator qualities only shape a quorum set".to_string()
        }
        "BACKGROUND_OVERLAY_PROCESSING" | "BACKGROUND_TX_SIG_VERIFICATION" => {
            "ignored: stellar-core threading switch with no counterpart here".to_string()
        }
        "PEER_TOTAL_READING_CAPACITY_BYTES" => {
            "ignored: overlay-core processes each message as it is read".to_string()
        }
        k if OTHER_CORE_KEYS.contains(&k) => {
            "ignored: a stellar-core setting this node does not use".to_string()
        }
        k => {
            let mut m =
                "ignored: not a stellar-core v25 key (stellar-core would refuse it)".to_string();
            if let Some(s) = suggestion(k) {
                m.push_str(&format!("; did you mean {s}?"));
            }
            m
        }
    }
}

/// The used key closest to `key`, if close enough to be a typo.
fn suggestion(key: &str) -> Option<&'static str> {
    let upper = key.to_ascii_uppercase();
    USED_KEYS
        .iter()
        .map(|k| (edit_distance(&upper, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
