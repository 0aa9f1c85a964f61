//! The `stellar-overlay peer` commands as processes: JSON lines out, a clean Ctrl-C.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::Value;

struct Proc {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("not a JSON line: {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn until(&mut self, event: &str) -> Value {
        loop {
            let v = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {event} line; saw {:?}", self.seen));
            self.seen.push(v.clone());
            if v["event"] == event {
                return v;
            }
        }
    }

    fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn exit_ok(mut self) {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("process did not exit");
    }
}

#[test]
fn listen_connect_exchange_and_ctrl_c() {
    let mut l = Proc::spawn(&["peer", "listen", "--port", "0", "--scp-state", "2"]);
    let port = l.until("listening")["port"].as_u64().unwrap();
    let mut c = Proc::spawn(&[
        "peer",
        "connect",
        &format!("127.0.0.1:{port}"),
        "--send-tx",
        "25",
        "--send-scp",
        "1",
    ]);
    let hello = c.until("hello");
    assert_eq!(hello["overlayVersion"], 39);
    assert_eq!(
        hello["listeningPort"], port,
        "the listener announces its real port"
    );
    c.until("authenticated");
    l.until("authenticated");
    // The listener sees our SCP message and transactions, with decoded summaries.
    let scp = loop {
        let m = l.until("message");
        if m["type"] == "SCP_MESSAGE" {
            break m;
        }
    };
    assert_eq!(scp["summary"]["statement"], "NOMINATE");
    let mut txs = 0;
    while txs < 25 {
        let m = l.until("message");
        if m["type"] == "TRANSACTION" {
            txs += 1;
            assert_eq!(m["summary"]["seqNum"], txs);
            assert_eq!(m["summary"]["operations"], 1);
        }
    }
    // The connector got the listener's SCP state (2 envelopes) for its GET_SCP_STATE.
    let mut scp_in = 0;
    while scp_in < 2 {
        if c.until("message")["type"] == "SCP_MESSAGE" {
            scp_in += 1;
        }
    }
    c.interrupt();
    let closed = c.until("closed");
    assert_eq!(closed["reason"], "shutdown");
    assert_eq!(closed["errorSent"], "ERR_MISC");
    assert_eq!(c.until("done")["sent"], 25);
    let closed = l.until("closed");
    assert_eq!(closed["reason"], "remote sent ERR_MISC: shutdown");
    assert_eq!(closed["byRemote"], true);
    assert_eq!(l.until("done")["received"], 25);
    c.exit_ok();
    l.exit_ok();
}

#[test]
fn incompatible_versions_are_refused_naming_both_ranges() {
    let mut l = Proc::spawn(&["peer", "listen", "--port", "0"]);
    let port = l.until("listening")["port"].as_u64().unwrap();
    let mut c = Proc::spawn(&[
        "peer",
        "connect",
        &format!("127.0.0.1:{port}"),
        "--overlay-min-version",
        "40",
        "--overlay-version",
        "41",
    ]);
    let closed = l.until("closed");
    assert_eq!(
        closed["reason"],
        "wrong protocol version (remote 40-41, local 38-39)"
    );
    assert_eq!(closed["errorSent"], "ERR_CONF");
    // The acceptor's HELLO comes first, so the connector refuses it on its own terms too.
    let closed = c.until("closed");
    assert_eq!(
        closed["reason"],
        "wrong protocol version (remote 38-39, local 40-41)"
    );
    l.exit_ok();
    c.exit_ok();
}

#[test]
fn connect_to_nothing_says_what_to_do() {
    let out = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
        .args(["peer", "connect", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to 127.0.0.1:1") && err.contains("is a peer listening there?"),
        "{err}"
    );
}

#[test]
fn watch_streams_a_localnet_nodes_scp_and_transactions() {
    // A localnet process prints "node 0: G… peer port N …" lines.
    let mut net = Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
        .args([
            "localnet",
            "--nodes",
            "2",
            "--slot-secs",
            "0.5",
            "--tx-rate",
            "20",
            "--duration",
            "20",
            "--bridge-port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(net.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("node 0: ") {
            let p = rest
                .split("peer port ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            break p.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let mut w = Proc::spawn(&["watch", &format!("127.0.0.1:{port}"), "--format", "json"]);
    w.until("authenticated");
    // SCP statements arrive decoded: node, slot, phase and the tx set each value names.
    let mut phases = std::collections::BTreeSet::new();
    let mut txs = 0;
    while phases.len() < 4 || txs < 5 {
        let m = w.until("message");
        match m["type"].as_str().unwrap() {
            "SCP_MESSAGE" => {
                let s = &m["summary"];
                assert!(s["node"].as_str().unwrap().starts_with('G'));
                assert!(s["slot"].as_u64().unwrap() >= 1);
                assert_eq!(s["values"][0]["txSet"].as_str().unwrap().len(), 64, "{s}");
                phases.insert(s["statement"].as_str().unwrap().to_string());
            }
            // Bodies come because the watcher demands what is advertised.
            "TRANSACTION" => {
                assert_eq!(m["summary"]["operations"], 1);
                assert_eq!(m["summary"]["hash"].as_str().unwrap().len(), 64);
                txs += 1;
            }
            _ => {}
        }
    }
    assert_eq!(phases.len(), 4, "{phases:?}");
    w.interrupt();
    w.until("done");
    w.exit_ok();
    let _ = net.kill();
    let _ = net.wait();
}
