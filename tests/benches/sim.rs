//! Simulation throughput: network events per second for 100- and 1,000-node networks
//! flooding transactions (pull mode) and SCP, and the wall time of the 1,000-node,
//! 1,000-transaction flood (target: under 20 s on 2 cores).
//!
//! The baseline, measured in the same run, is the cost of the crypto every delivered
//! frame needs anyway (one HMAC-SHA256 to verify, one to send): events/s are reported
//! beside "MAC-only frames/s" so the simulator's own overhead is visible as a ratio.

use std::hint::black_box;
use std::time::{Duration, Instant as StdInstant};

use overlay_core::auth::MacKey;
use overlay_core::rng::Rng;
use overlay_core::sim::{LinkParams, Network, SimConfig};

fn flood(nodes: usize, txs: u64, scp: u64) -> (Duration, u64, u64) {
    let mut c = SimConfig {
        seed: 42,
        link: LinkParams {
            latency: Duration::from_millis(20),
            ..LinkParams::default()
        },
        ..SimConfig::default()
    };
    c.overlay.auto_connect = false;
    let mut net = Network::new(c);
    net.random_regular(nodes, 8);
    net.run_for(Duration::from_secs(2));
    let start = StdInstant::now();
    let events0 = net.events;
    let mut pick = Rng::from_u64(7);
    let mut hashes = Vec::new();
    let mut keys = Vec::new();
    for i in 0..txs {
        hashes.push(net.inject_tx(pick.index(nodes), i));
        if i % 10 == 9 {
            net.run_for(Duration::from_millis(10));
        }
        if scp > 0 && i % (txs / scp).max(1) == 0 {
            keys.push(net.inject_scp(pick.index(nodes), i));
        }
    }
    let total = hashes.len() + keys.len();
    let ok = net.run_while_not(Duration::from_secs(120), |n| n.everywhere() == total);
    assert!(ok, "flood incomplete");
    (start.elapsed(), net.events - events0, net.deliveries)
}

fn mac_baseline(frames: u64) -> Duration {
    let key = MacKey::new(&[7; 32]);
    let data = [0x5au8; 300];
    let start = StdInstant::now();
    for _ in 0..frames {
        black_box(key.mac(black_box(&data)));
        black_box(key.verify(black_box(&data), &[0; 32]));
    }
    start.elapsed()
}

fn main() {
    // `cargo test --benches` runs each bench once as a smoke test: keep that quick.
    let quick = std::env::args().any(|a| a == "--test");
    // SIM_CASE=nodes,txs,scp runs one case (profiling).
    let custom: Option<Vec<(usize, u64, u64)>> = std::env::var("SIM_CASE").ok().and_then(|v| {
        let p: Vec<u64> = v.split(',').filter_map(|x| x.parse().ok()).collect();
        (p.len() == 3).then(|| vec![(p[0] as usize, p[1], p[2])])
    });
    let default: &[(usize, u64, u64)] = if quick {
        &[(30, 50, 5)]
    } else {
        &[(100, 1000, 20), (1000, 1000, 20)]
    };
    let cases = custom.as_deref().unwrap_or(default);
    println!(
        "| nodes | txs | SCP | wall time | sim events | events/s | deliveries/s | MAC-only frames/s (same run) | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &(nodes, txs, scp) in cases {
        let (wall, events, deliveries) = flood(nodes, txs, scp);
        let base = mac_baseline(deliveries.min(2_000_000));
        let base_rate = deliveries.min(2_000_000) as f64 / base.as_secs_f64();
        let ev_rate = events as f64 / wall.as_secs_f64();
        let del_rate = deliveries as f64 / wall.as_secs_f64();
        println!(
            "| {nodes} | {txs} | {scp} | {:.2} s | {events} | {ev_rate:.0} | {del_rate:.0} | {base_rate:.0} | {:.1}× |",
            wall.as_secs_f64(),
            base_rate / del_rate
        );
    }
}
