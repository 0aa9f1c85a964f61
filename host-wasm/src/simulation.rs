//! The core's deterministic simulator, exposed to JS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use js_sys::Array;
use overlay_core::scenarios;
use overlay_core::sim::{LinkParams, Network, SimConfig};
use overlay_core::wire::Hash;
use wasm_bindgen::prelude::*;

use crate::js::{hex, n, obj, s, u};

fn parse_hash(h: &str) -> Option<Hash> {
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .filter_map(|i| h.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    bytes.try_into().ok()
}

/// Many nodes in virtual time. Same seed, same run, same trace hash — natively and here.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Simulation {
    net: Network,
}

#[wasm_bindgen]
impl Simulation {
    /// A network whose links all have `latency_ms` ± `jitter_ms`, `bandwidth` bytes/s (0 =
    /// unlimited) and `loss_ppm` parts per million of writes delayed by a retransmission.
    /// Nodes keep the connections the topology builders make (no auto-dialling).
    #[wasm_bindgen(constructor)]
    pub fn new(
        seed: u32,
        latency_ms: u32,
        jitter_ms: u32,
        bandwidth: u32,
        loss_ppm: u32,
    ) -> Simulation {
        let mut c = SimConfig {
            seed: u64::from(seed),
            link: LinkParams {
                latency: Duration::from_millis(latency_ms.into()),
                jitter: Duration::from_millis(jitter_ms.into()),
                bandwidth: bandwidth.into(),
                loss_ppm,
                ..LinkParams::default()
            },
            ..SimConfig::default()
        };
        c.overlay.auto_connect = false;
        Simulation {
            net: Network::new(c),
        }
    }

    #[wasm_bindgen(js_name = fullMesh)]
    pub fn full_mesh(&mut self, n: u32) {
        self.net.full_mesh(n as usize);
    }

    pub fn ring(&mut self, n: u32) {
        self.net.ring(n as usize);
    }

    #[wasm_bindgen(js_name = randomRegular)]
    pub fn random_regular(&mut self, n: u32, k: u32) {
        self.net.random_regular(n as usize, k as usize);
    }

    /// `validators` fully meshed, each of `watchers` connected to `perWatcher` of them.
    pub fn tiered(&mut self, validators: u32, watchers: u32, per_watcher: u32) {
        self.net
            .tiered(validators as usize, watchers as usize, per_watcher as usize);
    }

    #[wasm_bindgen(js_name = nodeCount)]
    pub fn node_count(&self) -> u32 {
        self.net.len() as u32
    }

    /// Advances virtual time by `ms` milliseconds.
    #[wasm_bindgen(js_name = runFor)]
    pub fn run_for(&mut self, ms: f64) {
        self.net
            .run_for(Duration::from_micros((ms.max(0.0) * 1000.0) as u64));
    }

    /// Virtual time in milliseconds.
    #[wasm_bindgen(js_name = nowMs)]
    pub fn now_ms(&self) -> f64 {
        self.net.now().as_micros() as f64 / 1000.0
    }

    /// Node `node` signs a NOMINATE for `slot` and floods it; returns its key (hex).
    #[wasm_bindgen(js_name = injectScp)]
    pub fn inject_scp(&mut self, node: u32, slot: u32) -> String {
        hex(&self.net.inject_scp(node as usize, slot.into()))
    }

    /// Node `node` receives transaction `i` and floods it (pull mode); returns its hash.
    #[wasm_bindgen(js_name = injectTx)]
    pub fn inject_tx(&mut self, node: u32, i: u32) -> String {
        hex(&self.net.inject_tx(node as usize, i.into()))
    }

    /// Cuts every link between the two groups.
    pub fn partition(&mut self, a: Vec<u32>, b: Vec<u32>) {
        let a: Vec<usize> = a.into_iter().map(|x| x as usize).collect();
        let b: Vec<usize> = b.into_iter().map(|x| x as usize).collect();
        self.net.partition(&a, &b);
    }

    /// Restores links and re-dials what a partition cut.
    pub fn heal(&mut self) {
        self.net.heal();
    }

    pub fn kill(&mut self, node: u32) {
        self.net.kill(node as usize);
    }

    pub fn restart(&mut self, node: u32) {
        self.net.restart(node as usize);
    }

    /// Makes `from` dial `to`.
    pub fn connect(&mut self, from: u32, to: u32) {
        self.net.connect(from as usize, to as usize);
    }

    /// `node` bans `target`.
    pub fn ban(&mut self, node: u32, target: u32) {
        self.net.ban(node as usize, target as usize);
    }

    /// How many nodes saw an SCP message / transaction (by the hex from `inject*`).
    pub fn reach(&self, key_hex: &str) -> u32 {
        parse_hash(key_hex).map_or(0, |h| {
            self.net.scp_reach(&h).max(self.net.tx_reach(&h)) as u32
        })
    }

    /// How many injected items every node has.
    pub fn everywhere(&self) -> u32 {
        self.net.everywhere() as u32
    }

    /// A node's counters (`null` if there is no node `node`).
    #[wasm_bindgen(js_name = nodeMetrics, unchecked_return_type = "SimNodeMetrics | null")]
    pub fn node_metrics(&self, node: u32) -> JsValue {
        let Some(nd) = self.net.nodes.get(node as usize) else {
            return JsValue::NULL;
        };
        let m = &nd.overlay.metrics;
        let pull = nd.overlay.pull_metrics();
        obj(&[
            ("node", s(nd.overlay.node_id().to_string())),
            ("alive", JsValue::from_bool(nd.alive)),
            (
                "authenticated",
                n(nd.overlay.authenticated().count() as u32),
            ),
            ("scpSeen", n(nd.stats.scp_seen.len() as u32)),
            ("txSeen", n(nd.stats.tx_seen.len() as u32)),
            ("floodUniqueMessages", u(m.flood_unique_recv)),
            ("floodDuplicateMessages", u(m.flood_duplicate_recv)),
            ("floodUniqueBytes", u(m.flood_unique_recv_bytes)),
            ("floodDuplicateBytes", u(m.flood_duplicate_recv_bytes)),
            ("advertised", u(pull.advertised)),
            ("demanded", u(pull.demanded)),
            ("dropped", u(nd.stats.dropped)),
        ])
    }

    /// Every authenticated connection as directed links with the bytes written on them.
    #[wasm_bindgen(unchecked_return_type = "SimLink[]")]
    pub fn links(&self) -> Array {
        let index: BTreeMap<SocketAddr, usize> = (0..self.net.len())
            .map(|i| (SocketAddr::V4(Network::address(i)), i))
            .collect();
        let out = Array::new();
        for (i, nd) in self.net.nodes.iter().enumerate() {
            for (conn, _, _) in nd.overlay.authenticated() {
                let Some(peer) = nd.overlay.peer(conn) else {
                    continue;
                };
                let Some(j) = peer
                    .remote()
                    .and_then(|r| r.address)
                    .and_then(|a| index.get(&a))
                else {
                    continue;
                };
                out.push(&obj(&[
                    ("from", n(i as u32)),
                    ("to", n(*j as u32)),
                    ("bytes", u(peer.stats().bytes_written)),
                ]));
            }
        }
        out
    }

    /// SHA-256 over every delivery and application event so far (hex).
    #[wasm_bindgen(js_name = traceHash)]
    pub fn trace_hash(&self) -> String {
        hex(&self.net.trace_hash())
    }

    /// Socket writes delivered so far.
    pub fn deliveries(&self) -> f64 {
        self.net.deliveries as f64
    }
}

fn outcome(o: scenarios::Outcome) -> JsValue {
    obj(&[
        ("trace", s(hex(&o.trace))),
        ("complete", JsValue::from_bool(o.complete)),
        ("events", u(o.events)),
        ("virtualMs", n((o.virtual_micros / 1000) as u32)),
    ])
}

/// The shared SCP-flood scenario (`overlay_core::scenarios::scp_flood`).
#[wasm_bindgen(js_name = scenarioScpFlood, unchecked_return_type = "ScenarioOutcome")]
pub fn scenario_scp_flood(seed: u32, nodes: u32) -> JsValue {
    outcome(scenarios::scp_flood(seed.into(), nodes as usize))
}

/// The shared pull-mode transaction-flood scenario (`overlay_core::scenarios::tx_flood`).
#[wasm_bindgen(js_name = scenarioTxFlood, unchecked_return_type = "ScenarioOutcome")]
pub fn scenario_tx_flood(seed: u32, nodes: u32, txs: u32) -> JsValue {
    outcome(scenarios::tx_flood(seed.into(), nodes as usize, txs.into()))
}
