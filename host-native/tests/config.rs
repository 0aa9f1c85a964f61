//! The node configuration: stellar-core files as-is, core's defaults and rules, presets and
//! the mapping onto overlay-core's settings.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use host_native::config::{
    ConfigError, Database, NodeConfig, PUBNET_PASSPHRASE, PeerAddr, TESTNET_PASSPHRASE, Warning,
};
use overlay_core::auth::{NodeId, NodeKey};

const SDF1: &str = "GCGB2S2KGYARPVIA37HYZXVRM2YZUEXA6S33ZU5BUDC6THSB62LZSTYH";
const SDF2: &str = "GCM6QMP3DLRPTAZW2UZPCPX2LF3SXWXKPMP3GKFZBDSF3QZGV2G5QSTK";

fn key(n: u8) -> NodeKey {
    NodeKey::from_seed([n; 32])
}

fn seed(n: u8) -> String {
    key(n).seed_strkey().to_string()
}

fn gkey(n: u8) -> String {
    key(n).node_id().to_string()
}

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn parse(text: &str) -> (NodeConfig, Vec<Warning>) {
    match NodeConfig::from_toml_str(text) {
        Ok(r) => r,
        Err(e) => panic!("config refused: {e}"),
    }
}

fn refuse(text: &str) -> ConfigError {
    match NodeConfig::from_toml_str(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// Warnings by key, counted.
fn warned(w: &[Warning]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for x in w {
        *m.entry(x.key.clone()).or_insert(0) += 1;
    }
    m
}

const PASS: &str = "NETWORK_PASSPHRASE = \"Test SDF Network ; September 2015\"\n";

fn pubnet_watcher() -> String {
    format!(
        r#"# A stellar-core watcher on the public network.
HTTP_PORT=11626
PUBLIC_HTTP_PORT=false
LOG_FILE_PATH=""
LOG_COLOR=true

NETWORK_PASSPHRASE="Public Global Stellar Network ; September 2015"
DATABASE="sqlite3:///var/lib/stellar/stellar.db"
NODE_SEED="{seed} self"
NODE_IS_VALIDATOR=false
NODE_HOME_DOMAIN="example.org"

PEER_PORT=11725
TARGET_PEER_CONNECTIONS=10
MAX_ADDITIONAL_PEER_CONNECTIONS=40
MAX_PENDING_CONNECTIONS=100
PEER_TIMEOUT=60
FLOOD_OP_RATE_PER_LEDGER=2   # an integer where core reads a float
FLOOD_DEMAND_BACKOFF_DELAY_MS=1_000

CATCHUP_COMPLETE=false
CATCHUP_RECENT=8640
BUCKET_DIR_PATH="/var/lib/stellar/buckets"
UNSAFE_QUORUM=false
FAILURE_SAFETY=1
COMMANDS=["ll?level=info&partition=Overlay"]
INVARIANT_CHECKS=[]

KNOWN_PEERS=[
  "core-live-a.stellar.org:11625",
  "1.2.3.4",
  "stellar.example.net:11700",
]
PREFERRED_PEERS=["10.0.0.5:11625"]
PREFERRED_PEER_KEYS=["$sdf_1", "{friend} friend", "$self"]
SURVEYOR_KEYS=["$friend", "{sdf2}"]
PREFERRED_PEERS_ONLY=false

[[HOME_DOMAINS]]
HOME_DOMAIN="www.stellar.org"
QUALITY="HIGH"

[[HOME_DOMAINS]]
HOME_DOMAIN="example.org"
QUALITY="MEDIUM"

[[VALIDATORS]]
NAME="sdf_1"
HOME_DOMAIN="www.stellar.org"
PUBLIC_KEY="{sdf1}"
ADDRESS="core-live-a.stellar.org:11625"
HISTORY="curl -sf https://history.stellar.org/prd/core-live/core_live_001/{{0}} -o {{1}}"

[[VALIDATORS]]
NAME="sdf_2"
HOME_DOMAIN="www.stellar.org"
PUBLIC_KEY="{sdf2}"
ADDRESS="core-live-b.stellar.org"
HISTORY="curl -sf https://history.stellar.org/prd/core-live/core_live_002/{{0}} -o {{1}}"

[[VALIDATORS]]
NAME="ours"
HOME_DOMAIN="example.org"
PUBLIC_KEY="{ours}"
ADDRESS="validator.example.org"

[QUORUM_SET]
THRESHOLD_PERCENT=67
VALIDATORS=["$sdf_1", "$sdf_2"]

[HISTORY.sdf1]
get="curl -sf https://history.stellar.org/prd/core-live/core_live_001/{{0}} -o {{1}}"

[HISTORY.sdf2]
get="curl -sf https://history.stellar.org/prd/core-live/core_live_002/{{0}} -o {{1}}"
"#,
        seed = seed(1),
        friend = gkey(2),
        ours = gkey(3),
        sdf1 = SDF1,
        sdf2 = SDF2,
    )
}

#[test]
fn a_pubnet_stellar_core_file_is_read_as_is() {
    let (c, w) = parse(&pubnet_watcher());

    // One warning per key or section this node does not use, nothing else.
    let expected: BTreeMap<String, usize> = [
        "CATCHUP_COMPLETE",
        "CATCHUP_RECENT",
        "BUCKET_DIR_PATH",
        "LOG_COLOR",
        "UNSAFE_QUORUM",
        "FAILURE_SAFETY",
        "COMMANDS",
        "INVARIANT_CHECKS",
        "HOME_DOMAINS",
        "VALIDATORS",
        "QUORUM_SET",
        "HISTORY",
    ]
    .into_iter()
    .map(|k| (k.to_string(), 1))
    .collect();
    assert_eq!(warned(&w), expected, "{w:#?}");
    // Warnings come in file order with their lines.
    let lines: Vec<usize> = w.iter().map(|x| x.line.unwrap()).collect();
    assert!(lines.windows(2).all(|p| p[0] <= p[1]), "{lines:?}");
    let quorum = w.iter().find(|x| x.key == "QUORUM_SET").unwrap();
    assert!(quorum.to_string().contains("consensus"), "{quorum}");

    assert_eq!(c.network_passphrase(), PUBNET_PASSPHRASE);
    assert_eq!(c.node_id(), Some(key(1).node_id()));
    assert_eq!(c.node_seed_name.as_deref(), Some("self"));
    assert!(!c.node_is_validator);
    assert_eq!(c.node_home_domain, "example.org");
    assert_eq!(c.peer_port, 11725);
    assert_eq!(
        c.http_listen_addr(),
        Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 11626)))
    );
    assert_eq!(
        c.peer_listen_addr(),
        Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 11725)))
    );
    assert_eq!(c.target_peer_connections, 10);
    assert_eq!(c.max_additional_peer_connections, 40);
    assert_eq!(c.max_pending_connections, 100);
    assert_eq!(c.peer_timeout, 60);
    assert_eq!(c.flood_op_rate_per_ledger, 2.0);
    assert_eq!(c.flood_demand_backoff_delay_ms, 1000);
    assert_eq!(c.log_file_path, "");
    assert!(c.log_color);
    assert_eq!(
        c.database_path(),
        Some(Path::new("/var/lib/stellar/stellar.db"))
    );

    // KNOWN_PEERS, then [[VALIDATORS]] addresses of other domains (duplicates dropped);
    // addresses of our own home domain are preferred.
    assert_eq!(
        c.known_peer_strings(),
        [
            "core-live-a.stellar.org:11625",
            "1.2.3.4:11625",
            "stellar.example.net:11700",
            "core-live-b.stellar.org:11625",
        ]
    );
    assert_eq!(
        c.preferred_peer_strings(),
        ["10.0.0.5:11625", "validator.example.org:11625"]
    );
    // $aliases from [[VALIDATORS]], named entries and NODE_SEED's name, in file order.
    assert_eq!(
        c.preferred_peer_keys,
        [id(SDF1), key(2).node_id(), key(1).node_id()]
    );
    assert_eq!(c.surveyor_keys, [key(2).node_id(), id(SDF2)]);
    assert!(!c.preferred_peers_only);
    assert_eq!(c.resolve_node_id("$ours"), Some(key(3).node_id()));
    assert_eq!(c.resolve_node_id("@GCGB2S"), Some(id(SDF1)));
    assert_eq!(c.resolve_node_id(SDF2), Some(id(SDF2)));
    assert_eq!(c.resolve_node_id("$nobody"), None);

    // The same file starting from the pubnet preset adds the preset's peers behind its own.
    let (p, _) = NodeConfig::pubnet().merge_toml(&pubnet_watcher()).unwrap();
    assert_eq!(
        p.known_peer_strings(),
        [
            "core-live-a.stellar.org:11625",
            "1.2.3.4:11625",
            "stellar.example.net:11700",
            "core-live-b.stellar.org:11625",
            "core-live-c.stellar.org:11625",
        ]
    );
}

#[test]
fn defaults_are_stellar_cores() {
    let (c, w) = parse(PASS);
    assert!(w.is_empty(), "{w:?}");
    let d = NodeConfig::default();
    // Config::Config in src/main/Config.cpp (v25.2.0).
    for c in [&c, &d] {
        assert!(c.node_seed.is_none());
        assert!(!c.node_is_validator);
        assert_eq!(c.node_home_domain, "");
        assert_eq!(c.peer_port, 11625);
        assert_eq!(c.http_port, 11626);
        assert!(!c.public_http_port);
        assert_eq!(c.http_max_client, 128);
        assert!(c.known_peers.is_empty() && c.preferred_peers.is_empty());
        assert!(c.preferred_peer_keys.is_empty() && c.surveyor_keys.is_empty());
        assert!(!c.preferred_peers_only);
        assert_eq!(c.target_peer_connections, 8);
        assert_eq!(c.max_additional_peer_connections, -1);
        assert_eq!(c.max_pending_connections, 500);
        assert_eq!(c.peer_authentication_timeout, 2);
        assert_eq!(c.peer_timeout, 30);
        assert_eq!(c.peer_straggler_timeout, 120);
        assert_eq!(c.peer_reading_capacity, 201);
        assert_eq!(c.peer_flood_reading_capacity, 200);
        assert_eq!(c.flow_control_send_more_batch_size, 40);
        assert_eq!(c.peer_flood_reading_capacity_bytes, 0);
        assert_eq!(c.flow_control_send_more_batch_size_bytes, 0);
        assert_eq!(c.outbound_tx_queue_byte_limit, 3 * 1024 * 1024);
        assert_eq!(c.max_batch_write_count, 1024);
        assert_eq!(c.max_batch_write_bytes, 1024 * 1024);
        assert_eq!(c.flood_op_rate_per_ledger, 1.0);
        assert_eq!(c.flood_soroban_rate_per_ledger, 1.0);
        assert_eq!(c.flood_tx_period_ms, 200);
        assert_eq!(c.flood_soroban_tx_period_ms, 200);
        assert_eq!(c.flood_advert_period_ms, 100);
        assert_eq!(c.flood_demand_period_ms, 200);
        assert_eq!(c.flood_demand_backoff_delay_ms, 500);
        assert_eq!(c.flood_arb_tx_base_allowance, 5);
        assert_eq!(c.flood_arb_tx_damping_factor, 0.8);
        assert_eq!(c.max_slots_to_remember, 12);
        assert!(!c.allow_localhost_for_testing);
        assert!(!c.allow_private_addresses_for_testing);
        assert!(!c.run_standalone);
        assert_eq!(c.database, Database::Sqlite("stellar.db".into()));
        assert_eq!(c.log_file_path, "", "no log file unless asked for");
        assert!(!c.log_color);
    }
    assert_eq!(c.network_passphrase(), TESTNET_PASSPHRASE);
    assert_eq!(d.network_passphrase(), "");
}

#[test]
fn the_defaults_map_onto_overlay_cores_defaults() {
    let (c, _) = parse(PASS);
    let o = c.overlay_config().unwrap();
    let d = overlay_core::overlay::OverlayConfig::default();
    assert_eq!(o.peer, d.peer);
    assert_eq!(o.limits, d.limits);
    assert_eq!(o.address_policy, d.address_policy);
    assert_eq!(o.pull, d.pull);
    assert_eq!(o.queries, d.queries);
    assert_eq!(o.scp_state_slots, d.scp_state_slots);
    assert_eq!(o.tick_interval, d.tick_interval);
    assert_eq!(o.auto_connect, d.auto_connect);
    assert!(o.known_peers.is_empty() && o.preferred_keys.is_empty());
}

/// `(file line, key, a piece of the message)`: every refusal names its key, shows the value
/// and says what was expected.
const BAD_VALUES: &[(&str, &str, &str)] = &[
    (
        "TARGET_PEER_CONNECTIONS = 0",
        "TARGET_PEER_CONNECTIONS",
        "TARGET_PEER_CONNECTIONS = 0: expected an integer from 1 to 65535",
    ),
    (
        "TARGET_PEER_CONNECTIONS = 65536",
        "TARGET_PEER_CONNECTIONS",
        "65536",
    ),
    (
        "PEER_PORT = 0",
        "PEER_PORT",
        "PEER_PORT = 0: expected an integer from 1 to 65535",
    ),
    ("PEER_PORT = 65536", "PEER_PORT", "65536"),
    ("PEER_PORT = \"11625\"", "PEER_PORT", "\"11625\""),
    ("PEER_PORT = 11625.0", "PEER_PORT", "11625.0"),
    ("HTTP_PORT = -1", "HTTP_PORT", "an integer from 0 to 65535"),
    ("HTTP_MAX_CLIENT = 70000", "HTTP_MAX_CLIENT", "70000"),
    (
        "MAX_ADDITIONAL_PEER_CONNECTIONS = -2",
        "MAX_ADDITIONAL_PEER_CONNECTIONS",
        "an integer from -1 to 65535",
    ),
    (
        "MAX_ADDITIONAL_PEER_CONNECTIONS = 65536",
        "MAX_ADDITIONAL_PEER_CONNECTIONS",
        "65536",
    ),
    (
        "MAX_PENDING_CONNECTIONS = 0",
        "MAX_PENDING_CONNECTIONS",
        "from 1 to 65535",
    ),
    (
        "PEER_AUTHENTICATION_TIMEOUT = 0",
        "PEER_AUTHENTICATION_TIMEOUT",
        "seconds",
    ),
    ("PEER_TIMEOUT = 0", "PEER_TIMEOUT", "= 0"),
    (
        "PEER_STRAGGLER_TIMEOUT = 70000",
        "PEER_STRAGGLER_TIMEOUT",
        "70000",
    ),
    (
        "PEER_READING_CAPACITY = 0",
        "PEER_READING_CAPACITY",
        "an integer ≥ 1",
    ),
    (
        "PEER_FLOOD_READING_CAPACITY = -5",
        "PEER_FLOOD_READING_CAPACITY",
        "-5",
    ),
    (
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE = 0",
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE",
        "≥ 1",
    ),
    (
        "PEER_FLOOD_READING_CAPACITY_BYTES = -1",
        "PEER_FLOOD_READING_CAPACITY_BYTES",
        "≥ 0",
    ),
    (
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = 4294967296",
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES",
        "4294967296",
    ),
    (
        "OUTBOUND_TX_QUEUE_BYTE_LIMIT = 0",
        "OUTBOUND_TX_QUEUE_BYTE_LIMIT",
        "≥ 1",
    ),
    ("MAX_BATCH_WRITE_COUNT = 0", "MAX_BATCH_WRITE_COUNT", "≥ 1"),
    (
        "MAX_BATCH_WRITE_BYTES = 2147483648",
        "MAX_BATCH_WRITE_BYTES",
        "2147483648",
    ),
    (
        "FLOOD_OP_RATE_PER_LEDGER = 0.0",
        "FLOOD_OP_RATE_PER_LEDGER",
        "a number > 0",
    ),
    (
        "FLOOD_OP_RATE_PER_LEDGER = nan",
        "FLOOD_OP_RATE_PER_LEDGER",
        "nan",
    ),
    (
        "FLOOD_SOROBAN_RATE_PER_LEDGER = -1",
        "FLOOD_SOROBAN_RATE_PER_LEDGER",
        "> 0",
    ),
    (
        "FLOOD_OP_RATE_PER_LEDGER = \"1.0\"",
        "FLOOD_OP_RATE_PER_LEDGER",
        "a number",
    ),
    ("FLOOD_TX_PERIOD_MS = 0", "FLOOD_TX_PERIOD_MS", "≥ 1"),
    (
        "FLOOD_SOROBAN_TX_PERIOD_MS = 0",
        "FLOOD_SOROBAN_TX_PERIOD_MS",
        "≥ 1",
    ),
    (
        "FLOOD_ADVERT_PERIOD_MS = 0",
        "FLOOD_ADVERT_PERIOD_MS",
        "≥ 1",
    ),
    (
        "FLOOD_DEMAND_PERIOD_MS = -100",
        "FLOOD_DEMAND_PERIOD_MS",
        "-100",
    ),
    (
        "FLOOD_DEMAND_BACKOFF_DELAY_MS = 0",
        "FLOOD_DEMAND_BACKOFF_DELAY_MS",
        "≥ 1",
    ),
    (
        "FLOOD_ARB_TX_BASE_ALLOWANCE = -2",
        "FLOOD_ARB_TX_BASE_ALLOWANCE",
        "≥ -1",
    ),
    (
        "FLOOD_ARB_TX_DAMPING_FACTOR = 0",
        "FLOOD_ARB_TX_DAMPING_FACTOR",
        "(0, 1]",
    ),
    (
        "FLOOD_ARB_TX_DAMPING_FACTOR = 1.5",
        "FLOOD_ARB_TX_DAMPING_FACTOR",
        "1.5",
    ),
    ("MAX_SLOTS_TO_REMEMBER = -1", "MAX_SLOTS_TO_REMEMBER", "≥ 0"),
    (
        "NODE_IS_VALIDATOR = \"yes\"",
        "NODE_IS_VALIDATOR",
        "true or false",
    ),
    ("PUBLIC_HTTP_PORT = 1", "PUBLIC_HTTP_PORT", "true or false"),
    (
        "PREFERRED_PEERS_ONLY = \"true\"",
        "PREFERRED_PEERS_ONLY",
        "true or false",
    ),
    (
        "ALLOW_LOCALHOST_FOR_TESTING = 0",
        "ALLOW_LOCALHOST_FOR_TESTING",
        "true or false",
    ),
    (
        "ALLOW_PRIVATE_ADDRESSES_FOR_TESTING = 1",
        "ALLOW_PRIVATE_ADDRESSES_FOR_TESTING",
        "true",
    ),
    ("RUN_STANDALONE = \"no\"", "RUN_STANDALONE", "true or false"),
    ("LOG_COLOR = 1", "LOG_COLOR", "true or false"),
    ("NODE_HOME_DOMAIN = 5", "NODE_HOME_DOMAIN", "a string"),
    ("LOG_FILE_PATH = []", "LOG_FILE_PATH", "a string"),
    ("NODE_SEED = \"GABC\"", "NODE_SEED", "secret seed strkey"),
    ("NODE_SEED = \"$self\"", "NODE_SEED", "alias"),
    ("NODE_SEED = 12", "NODE_SEED", "a string"),
    (
        "KNOWN_PEERS = \"a.example.org\"",
        "KNOWN_PEERS",
        "an array of strings",
    ),
    ("KNOWN_PEERS = [1]", "KNOWN_PEERS", "a string"),
    ("KNOWN_PEERS = [\"[::1]:11625\"]", "KNOWN_PEERS", "IPv6"),
    (
        "PREFERRED_PEERS = [\"2001:db8::1\"]",
        "PREFERRED_PEERS",
        "IPv6",
    ),
    ("KNOWN_PEERS = [\"a.example.org:0\"]", "KNOWN_PEERS", "port"),
    (
        "KNOWN_PEERS = [\"a.example.org:99999\"]",
        "KNOWN_PEERS",
        "\"a.example.org:99999\"",
    ),
    ("KNOWN_PEERS = [\"1.2.3.256\"]", "KNOWN_PEERS", "IPv4"),
    ("KNOWN_PEERS = [\"bad host\"]", "KNOWN_PEERS", "host[:port]"),
    ("PREFERRED_PEERS = [\"\"]", "PREFERRED_PEERS", "host[:port]"),
    (
        "PREFERRED_PEER_KEYS = [\"GBAD\"]",
        "PREFERRED_PEER_KEYS",
        "\"GBAD\"",
    ),
    (
        "PREFERRED_PEER_KEYS = [\"@GCGB\"]",
        "PREFERRED_PEER_KEYS",
        "$alias",
    ),
    ("SURVEYOR_KEYS = [1]", "SURVEYOR_KEYS", "a string"),
    (
        "NODE_NAMES = [\"nope name\"]",
        "NODE_NAMES",
        "public key strkey",
    ),
    ("DATABASE = \"mysql://x\"", "DATABASE", "sqlite3://PATH"),
    (
        "DATABASE = \"sqlite3://\"",
        "DATABASE",
        "sqlite3://:memory:",
    ),
    ("DATABASE = \"sqlite3://timeout=5\"", "DATABASE", "db=PATH"),
    (
        "DATABASE = \"postgresql://dbname=core host=db\"",
        "DATABASE",
        "only SQLite is supported",
    ),
    ("VALIDATORS = 3", "VALIDATORS", "[[VALIDATORS]] tables"),
    (
        "[[VALIDATORS]]\nNAME = \"v\"\nADDRESS = \"[::1]\"",
        "VALIDATORS.ADDRESS",
        "IPv6",
    ),
    (
        "[[VALIDATORS]]\nNAME = \"v\"\nPUBLIC_KEY = \"GNOPE\"",
        "VALIDATORS.PUBLIC_KEY",
        "\"GNOPE\"",
    ),
];

#[test]
fn every_bad_value_is_refused_with_its_key_value_and_form() {
    for (line, key, piece) in BAD_VALUES {
        // The key line first, so a [[VALIDATORS]] table does not swallow the passphrase.
        let text = format!("{PASS}{line}\n");
        let err = refuse(&text);
        let msg = err.to_string();
        assert_eq!(err.key(), Some(*key), "{line}: {msg}");
        assert!(msg.contains(key), "{line}: {msg}");
        assert!(msg.contains(piece), "{line}: `{msg}` lacks `{piece}`");
        assert!(msg.contains("expected"), "{line}: {msg}");
        let ConfigError::BadValue { line: at, .. } = err else {
            panic!("{line}: {err:?}");
        };
        assert!(at.is_some_and(|l| l >= 2), "{line}: line {at:?}");
    }
}

/// Rules across keys (`Config::processConfig`, `HerderImpl::start`) and our own.
const INCONSISTENT: &[(&str, &str, &[&str])] = &[
    (
        "PEER_READING_CAPACITY = 200",
        "PEER_READING_CAPACITY",
        &[
            "PEER_READING_CAPACITY = 200",
            "PEER_FLOOD_READING_CAPACITY = 200",
        ],
    ),
    (
        "PEER_READING_CAPACITY = 500\nFLOW_CONTROL_SEND_MORE_BATCH_SIZE = 201",
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE",
        &[
            "FLOW_CONTROL_SEND_MORE_BATCH_SIZE = 201",
            "PEER_FLOOD_READING_CAPACITY = 200",
        ],
    ),
    (
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = 100000",
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES",
        &[
            "= 100000",
            "PEER_FLOOD_READING_CAPACITY_BYTES = 0",
            "set both",
        ],
    ),
    (
        "PEER_FLOOD_READING_CAPACITY_BYTES = 100000\nFLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = 200000",
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES",
        &["can't be greater than PEER_FLOOD_READING_CAPACITY_BYTES = 100000"],
    ),
    (
        "PEER_FLOOD_READING_CAPACITY_BYTES = 150000\nFLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = 100000",
        "PEER_FLOOD_READING_CAPACITY_BYTES",
        &[
            "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = 100000",
            "50000",
            "102400",
        ],
    ),
    (
        "PEER_FLOOD_READING_CAPACITY_BYTES = 50000",
        "PEER_FLOOD_READING_CAPACITY_BYTES",
        &["= 50000", "102400"],
    ),
    (
        "HTTP_PORT = 11625",
        "HTTP_PORT",
        &["HTTP_PORT = 11625", "PEER_PORT = 11625"],
    ),
];

#[test]
fn rules_across_keys_name_every_key_involved() {
    for (lines, key, pieces) in INCONSISTENT {
        let err = refuse(&format!("{PASS}{lines}\n"));
        let msg = err.to_string();
        assert_eq!(err.key(), Some(*key), "{lines}: {msg}");
        for p in *pieces {
            assert!(msg.contains(p), "{lines}: `{msg}` lacks `{p}`");
        }
    }
    // Both byte keys set and far enough apart is fine; so is the capacity alone (core then
    // re-grants bytes after every message, and says nothing; we warn).
    let (c, w) = parse(&format!(
        "{PASS}PEER_FLOOD_READING_CAPACITY_BYTES = 400000\n\
         FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES = 150000\n"
    ));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.flood_reading_capacity_bytes(102_400), 400_000);
    assert_eq!(c.send_more_batch_size_bytes(), 150_000);
    let (c, w) = parse(&format!(
        "{PASS}PEER_FLOOD_READING_CAPACITY_BYTES = 400000\n"
    ));
    assert_eq!(
        warned(&w).get("FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES"),
        Some(&1)
    );
    assert_eq!(c.send_more_batch_size_bytes(), 0);
}

#[test]
fn the_passphrase_is_required_unless_a_preset_gives_it() {
    for text in ["", "PEER_PORT = 11625\n", "NETWORK_PASSPHRASE = \"\"\n"] {
        let err = refuse(text);
        assert_eq!(err.key(), Some("NETWORK_PASSPHRASE"), "{err}");
        assert!(err.to_string().contains("NETWORK_PASSPHRASE"), "{err}");
    }
    assert!(
        refuse("")
            .to_string()
            .contains("start from a preset (testnet, pubnet)")
    );
    let (c, w) = NodeConfig::testnet()
        .merge_toml("PEER_PORT = 11700\n")
        .unwrap();
    assert!(w.is_empty());
    assert_eq!(c.network_passphrase(), TESTNET_PASSPHRASE);
    assert_eq!(c.peer_port, 11700);
}

#[test]
fn presets() {
    let t = NodeConfig::testnet();
    assert_eq!(t.network_passphrase(), "Test SDF Network ; September 2015");
    assert_eq!(
        t.known_peer_strings(),
        [
            "core-testnet1.stellar.org:11625",
            "core-testnet2.stellar.org:11625",
            "core-testnet3.stellar.org:11625",
        ]
    );
    let p = NodeConfig::pubnet();
    assert_eq!(
        p.network_passphrase(),
        "Public Global Stellar Network ; September 2015"
    );
    assert_eq!(
        p.known_peer_strings(),
        [
            "core-live-a.stellar.org:11625",
            "core-live-b.stellar.org:11625",
            "core-live-c.stellar.org:11625",
        ]
    );
    // Everything else is core's default, and valid.
    for c in [&t, &p] {
        assert_eq!(c.peer_port, 11625);
        assert_eq!(c.target_peer_connections, 8);
        assert!(c.validate().unwrap().is_empty());
        assert!(c.node_key().is_none());
    }
    assert_eq!(
        hex(&p.network_id().0),
        "7ac33997544e3175d266bd022439b22cdb16508c01163f26e5cb2a3e1045a979"
    );
    assert_eq!(
        hex(&t.network_id().0),
        "cee0302d59844d32bdca915c8203dd44b33fbb7edc19051ea37abedf28ecd472"
    );
    assert_eq!(
        NodeConfig::preset("mainnet").unwrap().network_passphrase(),
        PUBNET_PASSPHRASE
    );
    assert_eq!(
        NodeConfig::preset("testnet").unwrap().network_passphrase(),
        TESTNET_PASSPHRASE
    );
    assert!(NodeConfig::preset("futurenet").is_none());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn merging_onto_a_preset() {
    let text = "NETWORK_PASSPHRASE = \"Public Global Stellar Network ; September 2015\"\n\
                KNOWN_PEERS = [\"core-live-b.stellar.org\", \"stellar.example.net\"]\n\
                PREFERRED_PEERS = [\"5.6.7.8\"]\n\
                TARGET_PEER_CONNECTIONS = 12\n";
    let (c, w) = NodeConfig::pubnet().merge_toml(text).unwrap();
    assert!(w.is_empty(), "{w:?}");
    // The file's peers first, the preset's behind them, once each.
    assert_eq!(
        c.known_peer_strings(),
        [
            "core-live-b.stellar.org:11625",
            "stellar.example.net:11625",
            "core-live-a.stellar.org:11625",
            "core-live-c.stellar.org:11625",
        ]
    );
    assert_eq!(c.preferred_peer_strings(), ["5.6.7.8:11625"]);
    assert_eq!(c.target_peer_connections, 12);

    // Another network's file does not mix with a preset.
    let err = NodeConfig::testnet().merge_toml(text).unwrap_err();
    assert_eq!(err.key(), Some("NETWORK_PASSPHRASE"));
    assert!(err.to_string().contains(TESTNET_PASSPHRASE), "{err}");

    // Keys replace; a second file over the first.
    let (c2, _) = c.merge_toml("TARGET_PEER_CONNECTIONS = 4\n").unwrap();
    assert_eq!(c2.target_peer_connections, 4);
    assert_eq!(c2.known_peers.len(), 4);
}

#[test]
fn overlay_config_mapping() {
    let text = format!(
        "{PASS}\
         PEER_AUTHENTICATION_TIMEOUT = 4\n\
         PEER_TIMEOUT = 45\n\
         PEER_STRAGGLER_TIMEOUT = 300\n\
         PEER_READING_CAPACITY = 401\n\
         PEER_FLOOD_READING_CAPACITY = 400\n\
         FLOW_CONTROL_SEND_MORE_BATCH_SIZE = 80\n\
         OUTBOUND_TX_QUEUE_BYTE_LIMIT = 1000000\n\
         TARGET_PEER_CONNECTIONS = 30\n\
         MAX_ADDITIONAL_PEER_CONNECTIONS = 30\n\
         MAX_PENDING_CONNECTIONS = 200\n\
         KNOWN_PEERS = [\"1.2.3.4:11700\", \"core-testnet1.stellar.org\"]\n\
         PREFERRED_PEERS = [\"5.6.7.8\", \"friend.example.org\"]\n\
         PREFERRED_PEER_KEYS = [\"{friend}\"]\n\
         PREFERRED_PEERS_ONLY = true\n\
         ALLOW_LOCALHOST_FOR_TESTING = true\n\
         FLOOD_ADVERT_PERIOD_MS = 50\n\
         FLOOD_DEMAND_PERIOD_MS = 300\n\
         FLOOD_DEMAND_BACKOFF_DELAY_MS = 700\n\
         FLOOD_OP_RATE_PER_LEDGER = 1.5\n\
         FLOOD_SOROBAN_RATE_PER_LEDGER = 0.5\n\
         MAX_SLOTS_TO_REMEMBER = 20\n",
        friend = gkey(2)
    );
    let (c, w) = parse(&text);
    let w = warned(&w);
    // Core's adjust lowers the target to 30 / 3 + 3 = 13, with a warning.
    assert_eq!(w.get("TARGET_PEER_CONNECTIONS"), Some(&1), "{w:?}");
    assert_eq!(w.get("ALLOW_LOCALHOST_FOR_TESTING"), Some(&1), "{w:?}");
    let o = c.overlay_config().unwrap();
    assert_eq!(o.peer.auth_timeout, Duration::from_secs(4));
    assert_eq!(o.peer.idle_timeout, Duration::from_secs(45));
    assert_eq!(o.peer.straggler_timeout, Duration::from_secs(300));
    assert_eq!(o.tick_interval, Duration::from_secs(5));
    assert_eq!(o.peer.flow.flood_reading_capacity, 400);
    assert_eq!(o.peer.flow.send_more_batch_size, 80);
    // Both byte keys 0: core's automatic values.
    assert_eq!(o.peer.flow.flood_reading_capacity_bytes, 300_000);
    assert_eq!(o.peer.flow.send_more_batch_size_bytes, 100_000);
    assert_eq!(o.peer.flow.outbound_tx_queue_byte_limit, 1_000_000);
    assert_eq!(o.limits.target_peer_connections, 13);
    assert_eq!(o.limits.max_additional_peer_connections, 30);
    assert_eq!(o.limits.max_pending_connections, 200);
    assert_eq!(
        o.limits.max_outbound_pending_connections + o.limits.max_inbound_pending_connections,
        200
    );
    // Only IPv4 literals; host names go through the host's resolver.
    assert_eq!(
        o.known_peers,
        [SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 11700)]
    );
    assert_eq!(
        o.preferred_peers,
        [SocketAddrV4::new(Ipv4Addr::new(5, 6, 7, 8), 11625)]
    );
    assert_eq!(o.preferred_keys, [key(2).node_id()]);
    assert!(o.preferred_only);
    assert!(o.address_policy.allow_localhost);
    assert!(!o.address_policy.allow_private);
    assert_eq!(o.pull.flood_advert_period, Duration::from_millis(50));
    assert_eq!(o.pull.flood_demand_period, Duration::from_millis(300));
    assert_eq!(
        o.pull.flood_demand_backoff_delay,
        Duration::from_millis(700)
    );
    assert_eq!(o.pull.flood_op_rate_per_ledger, 1.5);
    assert_eq!(o.pull.flood_soroban_rate_per_ledger, 0.5);
    assert_eq!(o.queries.max_slots_to_remember, 20);
    assert_eq!(o.scp_state_slots, 20);
    assert!(o.auto_connect);

    // MAX_ADDITIONAL -1 → 8 × target; pending split by the outbound share (PROTOCOL §6.3).
    let (c, _) = parse(PASS);
    let o = c.overlay_config().unwrap();
    assert_eq!(o.limits.target_peer_connections, 8);
    assert_eq!(o.limits.max_additional_peer_connections, 64);
    assert_eq!(o.limits.max_outbound_pending_connections, 56);
    assert_eq!(o.limits.max_inbound_pending_connections, 444);
    // A small file-handle budget scales everything down, as core's adjust does.
    let small = c.overlay_config_with_max_handles(100).unwrap();
    assert!(
        small.limits.target_peer_connections
            + small.limits.max_additional_peer_connections
            + small.limits.max_pending_connections
            <= 100
    );

    // RUN_STANDALONE: no dialling, no listener.
    let (c, w) = parse(&format!("{PASS}RUN_STANDALONE = true\nHTTP_PORT = 0\n"));
    assert_eq!(warned(&w).get("RUN_STANDALONE"), Some(&1));
    assert!(!c.overlay_config().unwrap().auto_connect);
    assert_eq!(c.peer_listen_addr(), None);
    assert_eq!(c.http_listen_addr(), None);

    // ALLOW_PRIVATE_ADDRESSES_FOR_TESTING (stellar-core master) and PUBLIC_HTTP_PORT.
    let (c, _) = parse(&format!(
        "{PASS}ALLOW_PRIVATE_ADDRESSES_FOR_TESTING = true\nPUBLIC_HTTP_PORT = true\n"
    ));
    assert!(c.overlay_config().unwrap().address_policy.allow_private);
    assert_eq!(
        c.http_listen_addr(),
        Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 11626)))
    );
}

#[test]
fn automatic_byte_credit_grows_with_the_largest_transaction() {
    let (c, _) = parse(PASS);
    assert_eq!(c.flood_reading_capacity_bytes(102_400), 300_000);
    assert_eq!(c.flood_reading_capacity_bytes(200_000), 300_000);
    assert_eq!(c.flood_reading_capacity_bytes(200_001), 300_001);
    assert_eq!(c.send_more_batch_size_bytes(), 100_000);
}

#[test]
fn settings_changed_in_code_are_checked_again() {
    let (mut c, _) = parse(PASS);
    c.target_peer_connections = 0;
    let err = c.overlay_config().unwrap_err();
    assert_eq!(err.key(), Some("TARGET_PEER_CONNECTIONS"), "{err}");
    let (mut c, _) = parse(PASS);
    c.peer_flood_reading_capacity = 201;
    let err = c.overlay_config().unwrap_err();
    assert_eq!(err.key(), Some("PEER_READING_CAPACITY"), "{err}");
    let (mut c, _) = parse(PASS);
    c.flood_arb_tx_damping_factor = f64::NAN;
    assert_eq!(
        c.validate().unwrap_err().key(),
        Some("FLOOD_ARB_TX_DAMPING_FACTOR")
    );
}

#[test]
fn node_seed_with_and_without_a_name() {
    let s = seed(7);
    let me = key(7).node_id();
    for (value, name) in [
        (s.clone(), None),
        (format!("{s} self"), Some("self")),
        (format!("  {s}   validator-a  "), Some("validator-a")),
        // Core reads one word after the seed and ignores the rest.
        (format!("{s} first second"), Some("first")),
    ] {
        let (c, _) = parse(&format!("{PASS}NODE_SEED = \"{value}\"\n"));
        assert_eq!(c.node_id(), Some(me), "{value}");
        assert_eq!(c.node_key().unwrap().seed(), [7; 32]);
        assert_eq!(c.node_seed_name.as_deref(), name, "{value}");
    }
    // The name is an alias other keys can use.
    let (c, w) = parse(&format!(
        "{PASS}NODE_SEED = \"{s} self\"\nPREFERRED_PEER_KEYS = [\"$self\"]\nSURVEYOR_KEYS = [\"$self\"]\n"
    ));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.preferred_peer_keys, [me]);
    assert_eq!(c.surveyor_keys, [me]);
    assert_eq!(c.resolve_node_id("$self"), Some(me));
}

#[test]
fn secrets_stay_out_of_messages() {
    let s = seed(9);
    // A damaged seed: the message must not echo it.
    let broken = format!("{}A", &s[..55]);
    let err = refuse(&format!("{PASS}NODE_SEED = \"{broken} self\"\n"));
    assert_eq!(err.key(), Some("NODE_SEED"));
    assert!(!err.to_string().contains(&broken[1..]), "{err}");
    // A PostgreSQL connection string with a password.
    let err = refuse(&format!(
        "{PASS}DATABASE = \"postgresql://dbname=core user=u password=hunter2\"\n"
    ));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("postgresql://"), "{err}");
    // Debug output shows the node ID, not the seed.
    let (c, _) = parse(&format!("{PASS}NODE_SEED = \"{s}\"\n"));
    let dbg = format!("{c:?}");
    assert!(!dbg.contains(&s), "{dbg}");
}

#[test]
fn database_forms() {
    let cases: [(&str, Database, Option<&str>); 5] = [
        (
            "sqlite3://stellar.db",
            Database::Sqlite("stellar.db".into()),
            Some("stellar.db"),
        ),
        (
            "sqlite3:///var/lib/stellar/core.db",
            Database::Sqlite("/var/lib/stellar/core.db".into()),
            Some("/var/lib/stellar/core.db"),
        ),
        ("sqlite3://:memory:", Database::SqliteInMemory, None),
        (
            "sqlite3://db=node.db timeout=10",
            Database::Sqlite("node.db".into()),
            Some("node.db"),
        ),
        (
            "sqlite3://dbname=\"my node.db\"",
            Database::Sqlite("my node.db".into()),
            Some("my node.db"),
        ),
    ];
    for (value, db, path) in cases {
        let (c, w) = parse(&format!("{PASS}DATABASE = '{value}'\n"));
        assert_eq!(c.database, db, "{value}");
        assert_eq!(c.database_path(), path.map(Path::new), "{value}");
        // SOCI's timeout is ours to ignore, with a word.
        assert_eq!(w.len(), usize::from(value.contains("timeout")), "{w:?}");
    }
    assert_eq!(Database::SqliteInMemory.to_string(), "sqlite3://:memory:");
    assert_eq!(
        Database::Sqlite("a/b.db".into()).to_string(),
        "sqlite3://a/b.db"
    );
    let err = refuse(&format!("{PASS}DATABASE = \"postgresql://dbname=core\"\n"));
    assert!(
        err.to_string().contains("only SQLite is supported"),
        "{err}"
    );
}

#[test]
fn peer_addresses() {
    let ok = [
        (
            "core-testnet1.stellar.org",
            "core-testnet1.stellar.org",
            11625,
        ),
        (
            "core-live-a.stellar.org:11625",
            "core-live-a.stellar.org",
            11625,
        ),
        ("1.2.3.4", "1.2.3.4", 11625),
        ("1.2.3.4:1", "1.2.3.4", 1),
        ("localhost:65535", "localhost", 65535),
        ("1.j:2000", "1.j", 2000),
    ];
    for (s, host, port) in ok {
        let a: PeerAddr = s.parse().unwrap();
        assert_eq!(a, PeerAddr::new(host, port), "{s}");
    }
    assert_eq!(
        "1.2.3.4".parse::<PeerAddr>().unwrap().ipv4(),
        Some(SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 11625))
    );
    assert_eq!("a.org".parse::<PeerAddr>().unwrap().ipv4(), None);
    for bad in [
        "",
        ":11625",
        "a.org:",
        "a.org:0",
        "a.org:65536",
        "a.org:123456",
        "a.org:+1",
        "::1",
        "[::1]:11625",
        "fe80::1",
        "999.1.1.1",
        "a_b.org",
        "a.org:1:2",
        "a org",
    ] {
        assert!(bad.parse::<PeerAddr>().is_err(), "{bad:?} accepted");
    }
}

#[test]
fn unused_and_unknown_keys_only_warn() {
    let (c, w) = parse(&format!(
        "{PASS}PEER_PROT = 11700\nCATCHUP_RECENT = 100\nENABLE_PULL_MODE = true\n\
         BACKGROUND_OVERLAY_PROCESSING = false\n"
    ));
    assert_eq!(c.peer_port, 11625);
    let by: BTreeMap<_, _> = w.iter().map(|x| (x.key.as_str(), x)).collect();
    assert_eq!(by.len(), 4, "{w:?}");
    let typo = by["PEER_PROT"].to_string();
    assert!(typo.contains("did you mean PEER_PORT?"), "{typo}");
    assert!(typo.contains("line 2"), "{typo}");
    assert!(
        by["ENABLE_PULL_MODE"]
            .message
            .contains("not a stellar-core")
    );
    assert!(by["CATCHUP_RECENT"].message.contains("does not use"));
    assert!(
        by["BACKGROUND_OVERLAY_PROCESSING"]
            .message
            .contains("threading")
    );
}

#[test]
fn aliases_that_name_nothing_are_skipped_with_a_warning() {
    let (c, w) = parse(&format!(
        "{PASS}NODE_NAMES = [\"{a} alice\"]\n\
         PREFERRED_PEER_KEYS = [\"$alice\", \"$bob\", \"{b}\"]\n",
        a = gkey(4),
        b = gkey(5)
    ));
    assert_eq!(c.preferred_peer_keys, [key(4).node_id(), key(5).node_id()]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].key, "PREFERRED_PEER_KEYS");
    assert!(w[0].message.contains("$bob"), "{}", w[0]);
    assert_eq!(w[0].line, Some(3));
}

#[test]
fn syntax_errors_and_files() {
    let err = refuse("NETWORK_PASSPHRASE = \"x\"\nPEER_PORT = = 3\n");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = refuse("PEER_PORT = 1\nPEER_PORT = 2\n");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");

    let dir = std::env::temp_dir().join(format!("stellar-overlay-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stellar-core.cfg");
    std::fs::write(&path, pubnet_watcher()).unwrap();
    let (c, w) = NodeConfig::load(&path).unwrap();
    assert_eq!(c.peer_port, 11725);
    assert_eq!(w.len(), 12);
    let (c, _) = NodeConfig::pubnet().merge_file(&path).unwrap();
    assert_eq!(c.known_peers.len(), 5);
    std::fs::remove_dir_all(&dir).unwrap();
    let err = NodeConfig::load(dir.join("missing.cfg")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.cfg"), "{err}");
}

#[test]
fn integers_in_every_toml_spelling() {
    let (c, _) = parse(&format!(
        "{PASS}PEER_PORT = 0x2d69\nMAX_PENDING_CONNECTIONS = 1_000\nHTTP_PORT = +11700\n\
         TARGET_PEER_CONNECTIONS = 0o12\nMAX_ADDITIONAL_PEER_CONNECTIONS = -1\n"
    ));
    assert_eq!(c.peer_port, 11625);
    assert_eq!(c.max_pending_connections, 1000);
    assert_eq!(c.http_port, 11700);
    assert_eq!(c.target_peer_connections, 10);
    assert_eq!(c.max_additional_peer_connections, -1);
}

#[test]
fn surveys_get_surveyor_keys_the_validators_and_node_is_validator() {
    let (c, _) = parse(&pubnet_watcher());
    // [[VALIDATORS]] PUBLIC_KEYs stand in for the transitive quorum (run.rs hands them to
    // the node when SURVEYOR_KEYS is empty).
    assert_eq!(c.validator_keys, [id(SDF1), id(SDF2), key(3).node_id()]);
    let o = c.overlay_config().unwrap();
    assert_eq!(o.survey.surveyor_keys, [key(2).node_id(), id(SDF2)]);
    assert!(!o.survey.is_validator);

    let (c, w) = parse(&format!("{PASS}NODE_IS_VALIDATOR = true\n"));
    assert!(w.is_empty(), "{w:?}");
    assert!(c.validator_keys.is_empty());
    let o = c.overlay_config().unwrap();
    assert!(o.survey.is_validator);
    assert!(o.survey.surveyor_keys.is_empty());
}
