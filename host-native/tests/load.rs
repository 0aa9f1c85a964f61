//! Load: 200 concurrent inbound connections flooding transactions at a node process for
//! 30 s. The node's resident memory stays under a stated bound and no well-behaved
//! connection is lost.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use host_native::single::{self, Options};

const CLIENTS: usize = 200;
/// 200 × 10 = 2 000 transactions/s into the node, each advertised to the 199 others.
const TX_PER_CLIENT_PER_SEC: u32 = 10;
const SECONDS: u64 = 30;
/// The bound on the node's resident memory while serving the load: every connection's
/// buffers and queues are capped (receive buffer ≤ one frame + one read, outbound queues
/// trimmed at 1 000 transactions / 3 MiB, advert state ≤ L hashes), so memory depends on
/// the number of connections, not on the traffic.
const RSS_BOUND_MB: u64 = 256;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn two_hundred_flooding_peers_bounded_memory_no_lost_connection() {
    // A node configured for the load: room for 200 inbound peers.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf =
        std::env::temp_dir().join(format!("stellar-overlay-load-{}.cfg", std::process::id()));
    let text = [
        "NETWORK_PASSPHRASE = \"Standalone Network ; February 2017\"".to_string(),
        format!("PEER_PORT = {port}"),
        "HTTP_PORT = 0".to_string(),
        "DATABASE = \"sqlite3://:memory:\"".to_string(),
        "MAX_ADDITIONAL_PEER_CONNECTIONS = 250".to_string(),
        "MAX_PENDING_CONNECTIONS = 500".to_string(),
    ]
    .join("\n");
    std::fs::write(&conf, text).unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
        .args(["run", "--conf", conf.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = node.id();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    // "node G… listening for peers on …" once it is up.
    let _ = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lost = Arc::new(AtomicU64::new(0));
    let authenticated = Arc::new(AtomicU64::new(0));
    let peak_kb = rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let mut stop = stop_rx.clone();
            let lost = Arc::clone(&lost);
            let authenticated = Arc::clone(&authenticated);
            tasks.push(tokio::spawn(async move {
                // Stagger the connects a little, as real peers arrive.
                tokio::time::sleep(Duration::from_millis(i as u64 * 5)).await;
                let opts = Options {
                    send_tx: u64::MAX,
                    tx_rate: Some(TX_PER_CLIENT_PER_SEC),
                    tx_size: 300,
                    print_messages: false,
                    get_scp_state: None,
                    ..Options::default()
                };
                let mut out = std::io::sink();
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                let s = single::connect(&format!("127.0.0.1:{port}"), opts, &mut out, shutdown)
                    .await
                    .unwrap();
                if s.authenticated {
                    authenticated.fetch_add(1, Ordering::Relaxed);
                }
                // The only acceptable end is our own shutdown.
                if s.closed.as_deref() != Some("shutdown") {
                    lost.fetch_add(1, Ordering::Relaxed);
                    eprintln!("client {i} lost: {:?}", s.closed);
                }
                s.sent_tx
            }));
        }
        let mut peak = 0;
        for _ in 0..SECONDS {
            tokio::time::sleep(Duration::from_secs(1)).await;
            peak = peak.max(rss_kb(pid));
        }
        stop_tx.send(true).unwrap();
        let mut sent = 0;
        for t in tasks {
            sent += t.await.unwrap();
        }
        eprintln!(
            "{CLIENTS} clients sent {sent} transactions in {SECONDS} s; node peak RSS {} MB",
            peak / 1024
        );
        let expected = CLIENTS as u64 * u64::from(TX_PER_CLIENT_PER_SEC) * SECONDS;
        assert!(
            sent > expected / 2,
            "the clients kept flooding: {sent} of {expected}"
        );
        peak
    });
    let _ = node.kill();
    let _ = node.wait();
    let _ = std::fs::remove_file(&conf);
    assert_eq!(
        authenticated.load(Ordering::Relaxed),
        CLIENTS as u64,
        "every client authenticated"
    );
    assert_eq!(lost.load(Ordering::Relaxed), 0, "no connection was lost");
    assert!(
        peak_kb / 1024 < RSS_BOUND_MB,
        "node RSS peaked at {} MB (bound {RSS_BOUND_MB} MB)",
        peak_kb / 1024
    );
}
