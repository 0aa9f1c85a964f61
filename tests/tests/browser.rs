//! End to end in a real browser: a page in headless Chromium (Debian's `/usr/bin/chromium`
//! through `playwright-core`, `tests/browser/run.mjs`) runs host-wasm's `BrowserPeer`, which
//! opens a WebSocket to a localnet's bridge, completes the handshake with a native node over
//! it and receives SCP messages. The node sees the browser as an authenticated inbound peer.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use host_native::localnet::{self, LOCALNET_PASSPHRASE, Localnet, LocalnetOptions};
use host_native::node::Command as NodeCommand;
use serde_json::Value;
use tests::{wasm_package, workspace};
use tokio::process::Command;

/// Runs the page against `target` through the localnet's bridge; returns the driver's report.
async fn run_page(net: &Localnet, target: &str, extra: &[&str]) -> Value {
    let dir = workspace().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci` in {}",
        dir.display()
    );
    let bridge = net.bridge.as_ref().unwrap();
    let out = Command::new("node")
        .arg("run.mjs")
        .args(["--pkg", wasm_package("web").to_str().unwrap()])
        .args(["--bridge", &bridge.url(target), "--target", target])
        .args(["--passphrase", LOCALNET_PASSPHRASE])
        .args(extra)
        .current_dir(&dir)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), out)
        .await
        .expect("the browser run took over 3 minutes")
        .expect("node (v20+) must be installed");
    assert!(out.status.success(), "the browser driver failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn localnet() -> Localnet {
    localnet::start(&LocalnetOptions {
        nodes: 2,
        slot_secs: 0.5,
        tx_rate: 10,
        bridge: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..LocalnetOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_peer_handshakes_with_a_native_node_through_the_bridge() {
    let net = localnet().await;
    let node = &net.nodes[0].handle;
    let screenshot = workspace().join("target/browser-peer.png");
    // Every inbound peer the node authenticates while the page runs.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let watcher = {
        let (commands, seen) = (node.commands(), seen.clone());
        tokio::spawn(async move {
            loop {
                let (tx, rx) = tokio::sync::oneshot::channel();
                if commands.send(NodeCommand::Peers(tx)).await.is_err() {
                    return;
                }
                let Ok(peers) = rx.await else { return };
                for p in peers["authenticated_peers"]["inbound"].as_array().unwrap() {
                    seen.lock()
                        .unwrap()
                        .insert(p["id"].as_str().unwrap().to_string());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let r = run_page(
        &net,
        &node.peer_addr.to_string(),
        &[
            "--want-scp",
            "3",
            "--bench",
            "200",
            "--screenshot",
            screenshot.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r["outcome"], "done", "{r:#}");
    assert_eq!(r["pageErrors"], Value::Array(vec![]), "{r:#}");
    // The page saw the node's own HELLO and authenticated it.
    let node_id = node.node_id.to_string();
    assert_eq!(r["hello"]["node"], node_id.as_str());
    assert_eq!(r["hello"]["listeningPort"], node.peer_addr.port());
    assert_eq!(r["authenticated"]["node"], node_id.as_str());
    assert_eq!(r["keys"]["sendKeyFingerprint"].as_str().unwrap().len(), 16);
    assert_ne!(
        r["keys"]["sendKeyFingerprint"],
        r["keys"]["recvKeyFingerprint"]
    );
    assert!(r["authenticated"]["grantMessages"].as_u64().unwrap() > 0);
    // The node's AUTH asked for flow control in bytes, as stellar-core v25 does.
    assert_eq!(r["authenticated"]["authFlags"], 200, "{r:#}");
    // SCP messages arrived, MAC-checked, decoded; the one HELLO is reported as not MACed.
    assert!(
        r["messageCounts"]["SCP_MESSAGE"].as_u64().unwrap() >= 3,
        "{r:#}"
    );
    assert_eq!(r["helloMacOk"], serde_json::json!([null]), "{r:#}");
    assert!(r["postAuthMessages"].as_u64().unwrap() >= 3, "{r:#}");
    assert_eq!(r["postAuthMacOk"], true, "{r:#}");
    let scp = &r["scp"][0]["summary"];
    assert!(scp["node"].as_str().unwrap().starts_with('G'));
    assert!(scp["slot"].as_u64().unwrap() >= 1);
    // Both ends agree: the node lists the browser's key as an authenticated inbound peer.
    watcher.abort();
    let browser_id = r["state"]["nodeId"].as_str().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(browser_id), "{browser_id} not among {seen:?}");
    // The receive path in the browser, beside raw HMAC-SHA256 + SHA-256 in the same run.
    let b = &r["state"]["bench"];
    assert_eq!(b["messages"], 30_000);
    let f = |k: &str| b[k].as_f64().unwrap();
    eprintln!(
        "browser receive path: {:.0} msg/s; raw HMAC-SHA256 {:.0} msg/s ({:.2}×); \
         HMAC-SHA256 + SHA-256 {:.0} msg/s ({:.2}×)",
        f("receiveMessagesPerSec"),
        f("hmacMessagesPerSec"),
        f("ratioToHmac"),
        f("hmacSha256MessagesPerSec"),
        f("ratioToHmacSha256"),
    );
    net.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bridge_refuses_a_target_off_its_allowlist_and_the_page_says_why() {
    let net = localnet().await;
    let r = run_page(&net, "127.0.0.1:1", &["--timeout", "20"]).await;
    assert_eq!(r["outcome"], "closed", "{r:#}");
    assert_eq!(r["closed"]["wsCode"], 1008);
    assert_eq!(r["closed"]["wsReason"], "target not allowed");
    assert_eq!(r["authenticated"], Value::Null);
    assert_eq!(r["pageErrors"], Value::Array(vec![]), "{r:#}");
    net.shutdown().await.unwrap();
}
