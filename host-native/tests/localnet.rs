//! 5-node local networks over real TCP: connectivity, SCP and transaction flooding, forged
//! SCP signatures that nobody relays, and the slot the nodes follow.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use host_native::localnet::{self, Localnet, LocalnetOptions, LocalnetTopology};
use host_native::node::Command;
use host_native::relay::LEDGER_VALIDITY_BRACKET;
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
        target_peer_connections: 2,
        ..LocalnetOptions::default()
    };
    let net = localnet::start(&opts).await.unwrap();
    // Every node reaches its outbound target (2), or is already connected to all four
    // others (a node every other one dialled first has no one left to dial). Only known
    // addresses and PEERS lead there: each node started knowing a few earlier ones.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut counts = Vec::new();
        for n in &net.nodes {
            let p = n.handle.ask(Command::Peers).await.unwrap();
            let len = |dir: &str| {
                p["authenticated_peers"][dir]
                    .as_array()
                    .map_or(0, |a| a.len())
            };
            counts.push((len("outbound"), len("inbound")));
        }
        if counts.iter().all(|&(out, inb)| out == 2 || out + inb == 4) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection targets not reached in 30 s: (outbound, inbound) {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An SCP envelope from node 0 and a transaction from node 1 reach all.
    scp_and_transaction_reach_all(&net, 0, 1).await;
    let ids = net.node_ids();
    let qset = traffic::quorum_set(&ids);
    let set = traffic::tx_set(7, &[]);

    // A forged signature: node 0 floods a statement signed by the wrong key. Its
    // neighbours reject it and nobody relays it, so nobody else ever sees it.
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
    let p = net.nodes[0].handle.ask(Command::Peers).await.unwrap();
    let neighbours: Vec<String> = ["inbound", "outbound"]
        .iter()
        .flat_map(|d| {
            p["authenticated_peers"][*d]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let next_to_0 = |i: usize| neighbours.contains(&ids[i].to_string());
    eventually(
        &net,
        10,
        "forgery rejected by node 0's neighbours",
        |i, v| i == 0 || relay(v, "scp_rejected") == u64::from(next_to_0(i)),
    )
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
            u64::from(next_to_0(i)),
            "node {i} got the forgery once if next to node 0, else never: {v:#?}"
        );
    }
    net.shutdown().await.unwrap();
}

/// Node `scp_from`'s NOMINATE for slot 7 (it serves the quorum set and tx set) is relayed
/// by every other node once each fetched the items; a transaction submitted at `tx_from`
/// is advertised by every node, each having demanded it.
async fn scp_and_transaction_reach_all(net: &Localnet, scp_from: usize, tx_from: usize) {
    let ids = net.node_ids();
    let qset = traffic::quorum_set(&ids);
    let set = traffic::tx_set(7, &[]);
    let t = traffic::slot_traffic(&net.nodes[scp_from].key, &net.network, 7, &set, true, &qset);
    inject(net, scp_from, t.messages[0].clone(), t.items).await;
    eventually(net, 10, "SCP relayed by every other node", |i, v| {
        i == scp_from || relay(v, "scp_relayed") == 1
    })
    .await;
    let tx = host_native::synthetic::transaction(&ids[tx_from], 1, 0)[4..].to_vec();
    net.nodes[tx_from]
        .handle
        .send(Command::InjectTx(tx))
        .await
        .unwrap();
    eventually(net, 10, "transaction advertised by every node", |_, v| {
        relay(v, "tx_advertised") == 1
    })
    .await;
}

/// Floods `message` from node `from` (serving `items`).
async fn inject(
    net: &Localnet,
    from: usize,
    message: Vec<u8>,
    items: Vec<(overlay_core::fetch::ItemKind, [u8; 32], Vec<u8>)>,
) {
    net.nodes[from]
        .handle
        .send(Command::InjectScp { message, items })
        .await
        .unwrap();
}

fn ledger(v: &Value) -> u64 {
    v["ledger"]["num"].as_u64().unwrap()
}

/// A line 0 – 1 – 2 – 3 – 4: whatever reaches node 4 was relayed by nodes 1, 2 and 3, so
/// these checks fail if relaying breaks. Forgeries stop at node 1; EXTERNALIZE moves the
/// ledger only when a quorum member signed it and its slot is within the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_of_five_relays_hop_by_hop_and_stops_forgeries_at_the_first_hop() {
    let opts = LocalnetOptions {
        nodes: 5,
        slot_secs: 0.0,
        tx_rate: 0,
        http: false,
        topology: LocalnetTopology::Line,
        ..LocalnetOptions::default()
    };
    let net = localnet::start(&opts).await.unwrap();
    let line = |i: usize| if i == 0 || i == 4 { 1 } else { 2 };
    eventually(&net, 30, "the line connected", |i, v| {
        v["peers"]["authenticated_count"] == line(i)
    })
    .await;
    // PEERS tells every node of the others, but none may connect outside the line.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..5 {
        let v = info(&net, i).await;
        assert_eq!(
            v["peers"]["authenticated_count"],
            line(i),
            "node {i}: {v:#?}"
        );
    }
    let start_ledger: Vec<u64> = {
        let mut l = Vec::new();
        for i in 0..5 {
            l.push(ledger(&info(&net, i).await));
        }
        l
    };

    let ids = net.node_ids();
    let qset = traffic::quorum_set(&ids);
    let set = traffic::tx_set(7, &[]);
    let slot = |key: &overlay_core::NodeKey, slot: u64| {
        traffic::slot_traffic(key, &net.network, slot, &set, true, &qset)
    };
    // Both hop by hop: each node fetches the envelope's items, or demands the transaction,
    // from the one before.
    scp_and_transaction_reach_all(&net, 0, 0).await;

    // Node 1's statement claiming to be node 0's: node 1 rejects it and nobody else sees it.
    let mut forged = slot(&net.nodes[1].key, 8).messages[0].clone();
    let at = 4 + 4; // StellarMessage tag, then the PublicKey discriminant
    forged[at..at + 32].copy_from_slice(&ids[0].0);
    inject(&net, 0, forged, vec![]).await;
    eventually(&net, 10, "the forgery rejected at node 1", |i, v| {
        i != 1 || relay(v, "scp_rejected") == 1
    })
    .await;

    // EXTERNALIZE of a far slot, correctly signed by a node outside the quorum: relayed (the
    // node is not tracking yet, so any slot goes) but nobody follows it.
    let outsider = overlay_core::NodeKey::from_seed([0x5a; 32]);
    let t = slot(&outsider, 1_000_000);
    inject(&net, 0, t.messages[3].clone(), t.items).await;
    eventually(&net, 10, "the outsider's EXTERNALIZE relayed", |i, v| {
        i == 0 || relay(v, "scp_relayed") == 2
    })
    .await;
    // An unsigned EXTERNALIZE in a quorum member's name.
    let mut forged = slot(&net.nodes[1].key, 2_000_000).messages[3].clone();
    forged[at..at + 32].copy_from_slice(&ids[0].0);
    inject(&net, 0, forged, vec![]).await;
    eventually(
        &net,
        10,
        "the forged EXTERNALIZE rejected at node 1",
        |i, v| i != 1 || relay(v, "scp_rejected") == 2,
    )
    .await;
    for (i, start) in start_ledger.iter().enumerate() {
        let v = info(&net, i).await;
        assert_eq!(ledger(&v), *start, "node {i} did not move: {v:#?}");
        assert_eq!(v["state"], "Joining SCP", "node {i}: {v:#?}");
    }

    // Node 0's genuine EXTERNALIZE of slot 9: every node follows it.
    let t = slot(&net.nodes[0].key, 9);
    inject(&net, 0, t.messages[3].clone(), t.items).await;
    eventually(&net, 10, "every node tracking slot 9", |_, v| {
        ledger(v) == 10 && v["state"] == "Synced!"
    })
    .await;
    // Past the validity bracket (slot 9 + 1 + 100): node 1 drops it, nobody moves.
    let t = slot(&net.nodes[0].key, 9 + 1 + LEDGER_VALIDITY_BRACKET + 1);
    inject(&net, 0, t.messages[3].clone(), t.items).await;
    eventually(&net, 10, "the far slot dropped at node 1", |i, v| {
        i != 1 || v["relay"]["scp_out_of_range"] == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..5 {
        let v = info(&net, i).await;
        assert_eq!(ledger(&v), 10, "node {i} still at slot 9: {v:#?}");
        if i > 0 {
            assert_eq!(relay(&v, "scp_relayed"), 3, "node {i}: {v:#?}");
        }
        if i > 1 {
            assert_eq!(
                relay(&v, "scp_rejected"),
                0,
                "node {i} saw no forgery: {v:#?}"
            );
            assert_eq!(v["relay"]["scp_out_of_range"], 0, "node {i}: {v:#?}");
        }
    }
    net.shutdown().await.unwrap();
}
