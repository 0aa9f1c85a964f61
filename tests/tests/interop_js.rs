//! Interoperability over loopback TCP with an implementation nobody here wrote:
//! `@stellarbeat/js-stellar-node-connector` 7.0.1, driven by `tests/interop-js/harness.mjs`.
//! Both directions: our listener and its connect, its listener and our connect (traffic
//! within each side's flow-control credit, and a corrupted MAC answered with ERR_AUTH and a
//! drop); and its connect to a node of a running localnet (pull-mode transaction flooding,
//! SCP state).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use host_native::localnet::{self, LocalnetOptions};
use host_native::node::{Command as NodeCommand, NodeHandle};
use host_native::single::{self, Options, Summary};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const N: u64 = 10_000;

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop-js")
}

struct Js {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    events: Vec<Value>,
}

impl Js {
    fn spawn(args: &[&str]) -> Js {
        let dir = harness_dir();
        assert!(
            dir.join("node_modules/@stellarbeat/js-stellar-node-connector")
                .exists(),
            "the JS harness is not installed: run `npm ci` in {}",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("harness.mjs")
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed to run the interop tests");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Js {
            child,
            lines,
            events: Vec::new(),
        }
    }

    /// Reads events until one named `name` arrives.
    async fn until(&mut self, name: &str) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(120), self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    panic!("no {name} event from the JS peer; saw {:?}", self.events)
                })
                .unwrap()
                .unwrap_or_else(|| panic!("JS peer exited before {name}; saw {:?}", self.events));
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            self.events.push(v.clone());
            if v["event"] == name {
                return v;
            }
        }
    }

    async fn finish(mut self) -> (Value, bool) {
        let done = self.until("done").await;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        (done, status.success())
    }
}

fn ours(expect_scp: u64) -> Options {
    Options {
        send_tx: N,
        expect_tx: N,
        scp_state: 3,
        expect_scp,
        exit_when_done: true,
        print_messages: false,
        ..Options::default()
    }
}

fn check_ours(s: &Summary) {
    assert!(s.authenticated, "{s:?}");
    assert_eq!((s.sent_tx, s.received_tx), (N, N), "{s:?}");
    assert!(s.in_order && s.intact, "{s:?}");
    assert!(
        s.received_scp >= 3 && s.scp_signatures_ok,
        "GET_SCP_STATE answered with valid SCP: {s:?}"
    );
}

/// The JS peer's view of a run where both sides send `N` transactions and answer
/// GET_SCP_STATE with 3 SCP messages.
fn check_js(done: &Value, ok: bool) {
    // Our sender kept within the credit the JS peer granted: every flood message it got
    // from us (N transactions, the SCP state answer) was counted against its grants.
    assert_eq!(
        done["creditViolations"], 0,
        "we exceeded the JS peer's credit: {done}"
    );
    assert!(
        done["floodReceived"].as_u64().unwrap() >= N + 3,
        "the JS peer counted our flood messages against its credit: {done}"
    );
    assert!(ok, "JS harness failed: {done}");
    assert_eq!(done["received"], N, "{done}");
    assert_eq!(done["sent"], N, "{done}");
    assert_eq!(done["inOrder"], true, "{done}");
    assert_eq!(done["intact"], true, "{done}");
    assert!(
        done["scpReceived"].as_u64().unwrap() >= 1,
        "our GET_SCP_STATE answer: {done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_connect_to_their_listener() {
    let n = N.to_string();
    let mut js = Js::spawn(&[
        "listen",
        "--port",
        "0",
        "--send",
        &n,
        "--expect",
        &n,
        "--scp-state",
        "3",
        "--get-scp-state",
        "0",
    ]);
    let port = js.until("listening").await["port"].as_u64().unwrap();
    let mut out = Vec::new();
    let s = single::connect(
        &format!("127.0.0.1:{port}"),
        ours(3),
        &mut out,
        std::future::pending(),
    )
    .await
    .unwrap();
    check_ours(&s);
    let connected = js.until("connected").await;
    assert_eq!(connected["remoteOverlayVersion"], 39);
    let (done, ok) = js.finish().await;
    check_js(&done, ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn their_connect_to_our_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let n = N.to_string();
    let js = Js::spawn(&[
        "connect",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--send",
        &n,
        "--expect",
        &n,
        "--scp-state",
        "3",
        "--get-scp-state",
        "0",
    ]);
    let (stream, _) = listener.accept().await.unwrap();
    let mut out = Vec::new();
    let opts = Options {
        listening_port: port,
        ..ours(3)
    };
    let s = single::run(
        stream,
        overlay_core::Role::Acceptor,
        opts,
        &mut out,
        std::future::pending(),
    )
    .await
    .unwrap();
    check_ours(&s);
    let (done, ok) = js.finish().await;
    check_js(&done, ok);
}

/// What both sides saw when the JS peer sent 100 good transactions and then one with a
/// corrupted MAC: we took the 100, refused the 101st and closed after an ERROR_MSG
/// ERR_AUTH "unexpected MAC", which the JS peer received before the close.
fn check_corrupt_mac(s: &Summary, done: &Value, ok: bool) {
    assert!(s.authenticated, "{s:?}");
    assert_eq!(
        s.received_tx, 100,
        "the 100 good transactions arrived first: {s:?}"
    );
    assert_eq!(s.closed.as_deref(), Some("unexpected MAC"), "{s:?}");
    assert!(ok, "{done}");
    assert_eq!(done["corruptMacRejected"], true, "{done}");
    assert_eq!(done["sent"], 100, "{done}");
    assert_eq!(
        done["remoteErrors"],
        serde_json::json!([{ "code": "errAuth", "msg": "unexpected MAC" }]),
        "our ERROR_MSG before the drop: {done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_corrupts_a_mac_is_dropped() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let js = Js::spawn(&[
        "connect",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--corrupt-mac-after",
        "100",
    ]);
    let (stream, _) = listener.accept().await.unwrap();
    let mut out = Vec::new();
    let opts = Options {
        print_messages: false,
        ..Options::default()
    };
    let s = single::run(
        stream,
        overlay_core::Role::Acceptor,
        opts,
        &mut out,
        std::future::pending(),
    )
    .await
    .unwrap();
    let (done, ok) = js.finish().await;
    check_corrupt_mac(&s, &done, ok);
}

/// The same with roles swapped: we connect to the JS listener, which corrupts a MAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_corrupts_a_mac_is_dropped() {
    let mut js = Js::spawn(&["listen", "--port", "0", "--corrupt-mac-after", "100"]);
    let port = js.until("listening").await["port"].as_u64().unwrap();
    let mut out = Vec::new();
    let opts = Options {
        print_messages: false,
        ..Options::default()
    };
    let s = single::connect(
        &format!("127.0.0.1:{port}"),
        opts,
        &mut out,
        std::future::pending(),
    )
    .await
    .unwrap();
    let (done, ok) = js.finish().await;
    check_corrupt_mac(&s, &done, ok);
}

/// A counter from the node's Prometheus text (0 if absent).
async fn metric(node: &NodeHandle, name: &str) -> u64 {
    let text = node.ask(NodeCommand::Metrics).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// The JS peer against a node of a 3-node localnet with generated traffic: the node floods
/// transactions in pull mode only, so the harness answers each FLOOD_ADVERT with a
/// FLOOD_DEMAND (`--demand-adverts`) and gets the bodies; its GET_SCP_STATE(0) is answered
/// from the node's SCP state. Transactions come from several sources (the localnet picks a
/// random node per transaction), so only integrity and counts are checked, not order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn their_connect_to_a_localnet_node() {
    const TXS: u64 = 40;
    /// The node's own NOMINATE and EXTERNALIZE for each of 3 slots are in its state.
    const SCP: u64 = 6;
    let net = localnet::start(&LocalnetOptions {
        nodes: 3,
        slot_secs: 1.0,
        tx_rate: 20,
        http: false,
        ..LocalnetOptions::default()
    })
    .await
    .unwrap();
    let node = &net.nodes[0].handle;
    // Wait until the node has SCP state for 3 slots (it tracks slot 3: ledger 4).
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let info = node.ask(NodeCommand::Info).await.unwrap();
            if info["info"]["ledger"]["num"].as_u64().unwrap_or(0) >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the localnet never reached slot 3");
    let state_sent_before = metric(node, "stellar_overlay_scp_state_sent").await;
    let fulfilled_before = metric(node, "stellar_overlay_flood_fulfilled").await;

    let port = node.peer_addr.port().to_string();
    let mut js = Js::spawn(&[
        "connect",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--get-scp-state",
        "0",
        "--expect-scp",
        &SCP.to_string(),
        "--demand-adverts",
        "--expect",
        &TXS.to_string(),
        "--timeout-secs",
        "60",
    ]);
    let connected = js.until("connected").await;
    assert_eq!(
        connected["remoteNodeId"],
        node.node_id.to_string(),
        "{connected}"
    );
    assert_eq!(connected["networkIdMatches"], true, "{connected}");
    assert_eq!(connected["versionsOverlap"], true, "{connected}");
    assert_eq!(
        connected["remoteListeningPort"],
        u64::from(node.peer_addr.port()),
        "{connected}"
    );
    let (done, ok) = js.finish().await;
    assert!(ok, "JS harness failed: {done}");

    // Transactions: every one demanded, every one intact (order is not defined here).
    let received = done["received"].as_u64().unwrap();
    assert!(received >= TXS, "{done}");
    assert_eq!(done["intact"], true, "{done}");
    assert!(done["advertsReceived"].as_u64().unwrap() >= 1, "{done}");
    assert!(
        done["hashesDemanded"].as_u64().unwrap() >= received,
        "{done}"
    );
    assert_eq!(
        done["txDemandedReceived"], received,
        "only demanded bodies: {done}"
    );
    assert_eq!(done["sent"], 0, "{done}");
    // SCP: the state answer (and live flooding), all signed by localnet keys for this
    // network.
    let scp = done["scpReceived"].as_u64().unwrap();
    assert!(scp >= SCP, "{done}");
    assert_eq!(done["scpValid"], scp, "{done}");
    assert_eq!(done["creditViolations"], 0, "{done}");

    // The node's side: it answered a GET_SCP_STATE and served demanded transactions.
    assert!(
        metric(node, "stellar_overlay_scp_state_sent").await >= state_sent_before + SCP,
        "the node sent no SCP state"
    );
    assert!(
        metric(node, "stellar_overlay_flood_fulfilled").await >= fulfilled_before + received,
        "the node served fewer demands than the JS peer received"
    );
    net.shutdown().await.unwrap();
}
