//! A 5-node local network over real TCP: connectivity, SCP and transaction flooding, and
//! a forged SCP signature that nobody relays.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use host_native::localnet::{self, Localnet, LocalnetOptions};
use host_native::node::Command;
use host_native::traffic;
use serde_json::Value;

async fn info(net: &Localnet, i: usize) -> Value {
    net.nodes[i].handle.ask(Command::Info).await.unwrap()["info"].clone()
}

/// Polls `check` on every node until it holds for all, or fails after `secs`.
async fn eventually(net: &Localnet, secs: u64, what: &str, check: impl Fn(usize, &Value) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let mut all = true;
        let mut seen = Vec::new();
        for i in 0..net.nodes.len() {
            let v = info(net, i).await;
            all &= check(i, &v);
            seen.push(v);
        }
        if all {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what} did not happen within {secs} s: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn relay(v: &Value, field: &str) -> u64 {
    v["relay"][field].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_connect_flood_and_refuse_forgeries() {
    let opts = LocalnetOptions {
        nodes: 5,
        slot_secs: 0.0,
        tx_rate: 0,
        http: false,
        ..LocalnetOptions::default()
    };
    let net = localnet::start(&opts).await.unwrap();
    // Every node reaches every other one: in a 5-node network that is the whole target.
    eventually(&net, 30, "full connectivity", |_, v| {
        v["peers"]["authenticated_count"] == 4
    })
    .await;

    // An SCP envelope from node 0 (serving its quorum set and tx set) reaches all: each
    // other node fetches the items and relays.
    let ids = net.node_ids();
    let qset = traffic::quorum_set(&ids);
    let set = traffic::tx_set(7, &[]);
    let t = traffic::slot_traffic(&net.nodes[0].key, &net.network, 7, &set, true, &qset);
    let nominate = t.messages[0].clone();
    net.nodes[0]
        .handle
        .send(Command::InjectScp {
            message: nominate,
            items: t.items,
        })
        .await
        .unwrap();
    eventually(&net, 10, "SCP relayed by every other node", |i, v| {
        i == 0 || relay(v, "scp_relayed") == 1
    })
    .await;

    // A transaction submitted at node 1 reaches all through adverts and demands.
    let tx = host_native::synthetic::transaction(&ids[1], 1, 0)[4..].to_vec();
    net.nodes[1]
        .handle
        .send(Command::InjectTx(tx))
        .await
        .unwrap();
    eventually(&net, 10, "transaction advertised by every node", |_, v| {
        relay(v, "tx_advertised") == 1
    })
    .await;

    // A forged signature: node 0 floods a statement signed by the wrong key. Everyone
    // rejects it and nobody relays it.
    let mut forged = traffic::slot_traffic(&net.nodes[1].key, &net.network, 8, &set, false, &qset)
        .messages[0]
        .clone();
    // Node 1's statement, but claim node 0 made it: the signature no longer matches.
    let at = 4 + 4; // StellarMessage tag, then the PublicKey discriminant
    forged[at..at + 32].copy_from_slice(&ids[0].0);
    net.nodes[0]
        .handle
        .send(Command::InjectScp {
            message: forged,
            items: vec![],
        })
        .await
        .unwrap();
    eventually(&net, 10, "forgery rejected by every other node", |i, v| {
        i == 0 || relay(v, "scp_rejected") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 1..5 {
        let v = info(&net, i).await;
        assert_eq!(
            relay(&v, "scp_relayed"),
            1,
            "node {i} relayed only the genuine envelope: {v:#?}"
        );
        assert_eq!(
            relay(&v, "scp_rejected"),
            1,
            "node {i} got the forgery once, from node 0 only: {v:#?}"
        );
    }
    net.shutdown().await.unwrap();
}
