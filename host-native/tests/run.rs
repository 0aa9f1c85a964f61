//! `stellar-overlay run --conf FILE`: a stellar-core-style config, the admin API, SQLite
//! persistence across restarts, and a clean SIGTERM.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    host_native::localnet::free_port().unwrap()
}

/// GET over plain HTTP/1.1; returns the body.
fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

fn json(port: u16, path: &str) -> serde_json::Value {
    serde_json::from_str(&get(port, path)).unwrap()
}

struct Node {
    child: Child,
    http: u16,
    stderr: std::sync::mpsc::Receiver<String>,
}

fn start(conf: &Path, http: u16) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
        .args(["run", "--conf", conf.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, stderr) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(Instant::now() < deadline, "the admin API did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    Node {
        child,
        http,
        stderr,
    }
}

impl Node {
    fn terminate(mut self) -> Vec<String> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "SIGTERM ends the node cleanly: {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the node did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stderr.try_iter().collect()
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "stellar-overlay-run-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_node_from_a_core_style_config_persists_its_peer_book_and_bans() {
    let dir = temp_dir("persist");
    let (peer_port, http_port, other_port) = (free_port(), free_port(), free_port());
    let db = dir.join("node.db");
    let conf = dir.join("stellar-core.cfg");
    let seed = overlay_core::NodeKey::from_seed([42; 32]);
    std::fs::write(
        &conf,
        format!(
            r#"# A stellar-core config; keys we do not use are warned about, not fatal.
NETWORK_PASSPHRASE = "Standalone Network ; February 2017"
NODE_SEED = "{} self"
NODE_IS_VALIDATOR = false
PEER_PORT = {peer_port}
HTTP_PORT = {http_port}
DATABASE = "sqlite3://{}"
KNOWN_PEERS = ["127.0.0.1:{other_port}"]
ALLOW_LOCALHOST_FOR_TESTING = true
TARGET_PEER_CONNECTIONS = 4
CATCHUP_COMPLETE = false
LOG_FILE_PATH = "{}/node-{{datetime:%Y-%m-%d}}.log"

[QUORUM_SET]
THRESHOLD_PERCENT = 100
VALIDATORS = ["GDKXE2OZMJIPOSLNA6N6F2BVCI3O777I2OOC4BV7VOYUEHYX7RTRYA7Y"]
"#,
            seed.seed_strkey(),
            db.display(),
            dir.display()
        ),
    )
    .unwrap();

    let node = start(&conf, http_port);
    let info = json(node.http, "/info");
    assert_eq!(info["info"]["node_id"], seed.node_id().to_string());
    assert_eq!(
        info["info"]["network"],
        "Standalone Network ; February 2017"
    );
    // stellar-core's ISO 8601 form, e.g. "2026-12-08T00:12:11Z", within a minute of now.
    let started = info["info"]["startedOn"].as_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let parsed = host_native::db::timestamp_from_text(
        started
            .strip_suffix('Z')
            .unwrap_or_else(|| panic!("{started}")),
    )
    .unwrap();
    assert!(
        started.as_bytes()[10] == b'T' && now.abs_diff(parsed) < 60,
        "{started}"
    );
    // A peer connects; /peers shows it with flow-control and traffic fields.
    let mut peer = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
        .args([
            "peer",
            "connect",
            &format!("127.0.0.1:{peer_port}"),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let peers = loop {
        let p = json(node.http, "/peers");
        if p["authenticated_peers"]["inbound"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break p;
        }
        assert!(Instant::now() < deadline, "no peer in /peers: {p}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let entry = &peers["authenticated_peers"]["inbound"][0];
    assert!(
        entry["flow_control"]["peer_capacity_bytes"]
            .as_u64()
            .unwrap()
            > 0,
        "{entry}"
    );
    assert!(entry["byte_read"].as_u64().unwrap() > 0);
    let peer_id = entry["id"].as_str().unwrap().to_string();
    assert_eq!(
        get(node.http, &format!("/droppeer?node={peer_id}&ban=1")),
        format!("Drop and ban peer: {peer_id}")
    );
    let banned = "GDKXE2OZMJIPOSLNA6N6F2BVCI3O777I2OOC4BV7VOYUEHYX7RTRYA7Y";
    assert_eq!(
        get(node.http, &format!("/ban?node={banned}")),
        format!("Ban peer: {banned}")
    );
    let bans = json(node.http, "/bans");
    assert_eq!(bans["bans"].as_array().unwrap().len(), 2, "{bans}");
    let metrics = get(node.http, "/metrics");
    assert!(
        metrics.contains("stellar_overlay_inbound_establish 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stellar_overlay_drop{reason=\"dropped-by-user\"} 1"),
        "{metrics}"
    );
    let _ = peer.wait();
    // The tick (2 s after start, then every 3 s) dials the KNOWN_PEER; nobody listens there.
    let deadline = Instant::now() + Duration::from_secs(15);
    let cancels = |m: String| {
        m.lines()
            .find_map(|l| l.strip_prefix("stellar_overlay_outbound_cancel "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    while cancels(get(node.http, "/metrics")) == 0 {
        assert!(
            Instant::now() < deadline,
            "the KNOWN_PEER was never dialled"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = node.terminate();
    assert!(
        logs.iter().any(|l| l.contains("CATCHUP_COMPLETE")),
        "unused keys are warned about: {logs:?}"
    );
    // LOG_FILE_PATH got the same lines from the config onwards, without colour codes.
    let log_file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("node-20") && n.ends_with(".log"))
        })
        .expect("the log file, its date filled in");
    let text = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        text.contains("node started") && text.contains("shutting down"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no ANSI codes in the file");

    // The database remembers the bans and the peer book (the KNOWN_PEER was dialled, and
    // failed: its back-off is recorded).
    let store = host_native::db::Database::open(&db).unwrap();
    store.integrity_check().unwrap();
    assert_eq!(store.bans().len(), 2);
    let records = store.peer_store().records();
    let known = records
        .iter()
        .find(|r| r.address.port() == other_port)
        .expect("KNOWN_PEERS row");
    assert!(known.num_failures >= 1, "{known:?}");
    drop(store);

    // Restarted with the same DATABASE: the bans are back.
    let node = start(&conf, http_port);
    let bans = json(node.http, "/bans");
    assert_eq!(bans["bans"].as_array().unwrap().len(), 2, "{bans}");
    assert_eq!(
        get(node.http, &format!("/unban?node={banned}")),
        format!("Unban peer: {banned}")
    );
    node.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_value_is_an_error_naming_the_key() {
    let dir = temp_dir("bad");
    let conf = dir.join("bad.cfg");
    std::fs::write(
        &conf,
        "NETWORK_PASSPHRASE = \"x\"\nTARGET_PEER_CONNECTIONS = 0\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
        .args(["run", "--conf", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TARGET_PEER_CONNECTIONS = 0"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
