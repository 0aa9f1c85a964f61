//! Many-node scenarios in virtual time on `overlay_core::sim`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use overlay_core::sim::{LinkParams, Network, SimConfig};

/// A fixed topology: nodes keep only the connections the scenario makes.
fn config(seed: u64) -> SimConfig {
    let mut c = SimConfig {
        seed,
        link: LinkParams {
            latency: Duration::from_millis(20),
            ..LinkParams::default()
        },
        ..SimConfig::default()
    };
    c.overlay.auto_connect = false;
    c
}

#[test]
fn scp_floods_a_100_node_random_8_regular_graph() {
    let mut net = Network::new(config(7));
    net.random_regular(100, 8);
    net.run_for(Duration::from_secs(2));
    let authenticated: u64 = net.nodes.iter().map(|n| n.stats.authenticated).sum();
    assert_eq!(authenticated, 800, "every edge authenticated at both ends");
    let k = net.inject_scp(0, 42);
    let start = net.now();
    assert!(net.run_while_not(Duration::from_secs(10), |n| n.scp_reach(&k) == 100));
    let took = net.now() - start;
    println!(
        "reached 100 nodes in {took:?}, {} deliveries",
        net.deliveries
    );
}

#[test]
fn transactions_flood_by_pull_mode() {
    let mut net = Network::new(config(11));
    net.random_regular(30, 6);
    net.run_for(Duration::from_secs(2));
    let hashes: Vec<_> = (0..50).map(|i| net.inject_tx(i % 30, i as u64)).collect();
    assert!(net.run_while_not(Duration::from_secs(30), |n| {
        hashes.iter().all(|h| n.tx_reach(h) == 30)
    }));
    let adv = net
        .nodes
        .iter()
        .map(|n| n.overlay.pull_metrics().advertised)
        .sum::<u64>();
    println!("50 txs reached 30 nodes at {:?}; {adv} adverts", net.now());
}
