//! The web demo's simulation: a [`scenarios::Demo`] (a topology with a steady workload)
//! plus what a visualiser needs — frames on links and first sightings as packed arrays
//! for animation, totals, per-node details and per-link flow-control state.
//!
//! The same parameters run natively with `stellar-overlay simulate`; the trace hashes match.

use js_sys::{Array, Float64Array, Reflect, Uint32Array};
use overlay_core::Instant;
use overlay_core::flow::Priority;
use overlay_core::scenarios::{self, DemoParams, Topology};
use wasm_bindgen::prelude::*;

use crate::js::{hex, n, obj, s, u};

#[wasm_bindgen(typescript_custom_section)]
const TS_DEMO: &'static str = r#"
/** Parameters of a `Demo` (every field optional; defaults in parentheses). */
export interface DemoParams {
  /** (1) */ seed?: number;
  /** ("tiered") */ topology?: "tiered" | "random" | "ring";
  /** (200) */ nodes?: number;
  /** Nodes that originate SCP: the tiered core, else the first ones. (10) */ validators?: number;
  /** Tiered: validators each other node connects to. (3) */ perWatcher?: number;
  /** Random: peers per node. (8) */ degree?: number;
  /** (50) */ latencyMs?: number;
  /** (10) */ jitterMs?: number;
  /** Bytes/s per link direction, 0 = unlimited. (0) */ bandwidth?: number;
  /** Parts per million of writes delayed by a retransmission. (0) */ lossPpm?: number;
  /** Transactions per second. (20) */ txPerSec?: number;
  /** Milliseconds per SCP slot, 0 = no SCP. (5000) */ slotMs?: number;
}

/** What `Demo.take()` hands over since the last call. */
export interface DemoRecords {
  /** Per frame: sentMs, arriveMs, from, to, messageType, bytes. */
  frames: Float64Array;
  /** Per first sighting: atMs, node, isScp (0/1), latencyMs since injection (-1 unknown). */
  seen: Float64Array;
  /** Records not kept because the buffers were full. */
  lost: number;
}

/** One node of a `Demo` (`Demo.nodeInfo`). */
export interface DemoNodeInfo {
  node: string; address: string; validator: boolean; alive: boolean; authenticated: number;
  scpSeen: number; txSeen: number; floodUnique: number; floodDuplicate: number; advertised: number;
  demanded: number; fetched: number; dropped: number; lastDrop: string | null;
}

/** Network-wide counters of a `Demo`. */
export interface DemoTotals {
  nowMs: number; deliveries: number; events: number; txInjected: number; scpInjected: number;
  everywhere: number; floodUnique: number; floodDuplicate: number; floodUniqueBytes: number;
  floodDuplicateBytes: number; advertised: number; demanded: number; dropped: number;
  connections: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "DemoParams")]
    pub type DemoParamsJs;
    #[wasm_bindgen(typescript_type = "DemoRecords")]
    pub type DemoRecordsJs;
    #[wasm_bindgen(typescript_type = "DemoTotals")]
    pub type DemoTotalsJs;
}

fn get(o: &JsValue, k: &str) -> Option<f64> {
    Reflect::get(o, &JsValue::from_str(k))
        .ok()
        .and_then(|v| v.as_f64())
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// Reads `DemoParams` from a JS object (missing or bad fields take their defaults).
pub fn params_from_js(o: &JsValue) -> Result<DemoParams, JsValue> {
    let d = DemoParams::default();
    let topo = Reflect::get(o, &JsValue::from_str("topology"))
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| "tiered".into());
    let num = |k: &str, def: f64| get(o, k).unwrap_or(def);
    let topology = match topo.as_str() {
        "tiered" => Topology::Tiered {
            per_watcher: num("perWatcher", 3.0) as usize,
        },
        "random" => Topology::Random {
            degree: num("degree", 8.0) as usize,
        },
        "ring" => Topology::Ring,
        other => return Err(JsValue::from_str(&format!("unknown topology {other:?}"))),
    };
    let nodes = num("nodes", d.nodes as f64) as usize;
    if !(2..=2000).contains(&nodes) {
        return Err(JsValue::from_str("nodes must be 2..=2000"));
    }
    Ok(DemoParams {
        seed: num("seed", d.seed as f64) as u64,
        topology,
        nodes,
        validators: num("validators", d.validators as f64) as usize,
        latency_ms: num("latencyMs", d.latency_ms.into()) as u32,
        jitter_ms: num("jitterMs", d.jitter_ms.into()) as u32,
        bandwidth: num("bandwidth", d.bandwidth as f64) as u64,
        loss_ppm: num("lossPpm", d.loss_ppm.into()).min(1e6) as u32,
        tx_per_sec: num("txPerSec", d.tx_per_sec.into()) as u32,
        slot_ms: num("slotMs", d.slot_ms.into()) as u32,
    })
}

fn ms(t: Instant) -> f64 {
    t.as_micros() as f64 / 1000.0
}

/// A simulated network with a steady workload, for visualisers.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Demo {
    demo: scenarios::Demo,
}

#[wasm_bindgen]
impl Demo {
    /// Builds the topology; nothing runs until `advanceTo`.
    // Owned, not borrowed: a borrowed JS argument makes wasm-bindgen emit `table.fill`,
    // which Debian's wasm-opt (binaryen 108) cannot parse.
    #[wasm_bindgen(constructor)]
    pub fn new(params: DemoParamsJs) -> Result<Demo, JsValue> {
        Ok(Demo {
            demo: scenarios::Demo::new(params_from_js(&params)?),
        })
    }

    #[wasm_bindgen(js_name = nodeCount)]
    pub fn node_count(&self) -> u32 {
        self.demo.net.len() as u32
    }

    /// The nodes that originate SCP messages.
    pub fn validators(&self) -> Uint32Array {
        let v: Vec<u32> = self.demo.validators.iter().map(|x| *x as u32).collect();
        Uint32Array::from(&v[..])
    }

    /// The topology's undirected edges as flat pairs `[a0, b0, a1, b1, …]`.
    pub fn edges(&self) -> Uint32Array {
        let v: Vec<u32> = self
            .demo
            .edges
            .iter()
            .flat_map(|&(a, b)| [a as u32, b as u32])
            .collect();
        Uint32Array::from(&v[..])
    }

    /// Node `i`'s ID (`G…`).
    #[wasm_bindgen(js_name = nodeId)]
    pub fn node_id(&self, i: u32) -> String {
        self.demo
            .net
            .nodes
            .get(i as usize)
            .map(|n| n.overlay.node_id().to_string())
            .unwrap_or_default()
    }

    /// Records frames and sightings, at most `capacity` of each between `take` calls
    /// (0 stops). Recording does not change the run or its trace hash.
    pub fn record(&mut self, capacity: u32) {
        self.demo.net.record(capacity as usize);
    }

    /// Runs to virtual time `micros` (whole microseconds), injecting the workload on the way.
    #[wasm_bindgen(js_name = advanceTo)]
    pub fn advance_to(&mut self, micros: f64) {
        let t = Instant::from_micros(micros.max(0.0) as u64);
        if t > self.demo.net.now() {
            self.demo.advance_to(t);
        }
    }

    /// Virtual time in microseconds.
    #[wasm_bindgen(js_name = nowUs)]
    pub fn now_us(&self) -> f64 {
        self.demo.net.now().as_micros() as f64
    }

    /// SHA-256 over every delivery and application event so far (hex).
    #[wasm_bindgen(js_name = traceHash)]
    pub fn trace_hash(&self) -> String {
        hex(&self.demo.net.trace_hash())
    }

    /// Frames and sightings recorded since the last call.
    pub fn take(&mut self) -> DemoRecordsJs {
        let r = self.demo.net.take_records();
        let mut frames = Vec::with_capacity(r.frames.len() * 6);
        for f in &r.frames {
            frames.extend_from_slice(&[
                ms(f.sent),
                ms(f.arrive),
                f.from.into(),
                f.to.into(),
                f.message_type.into(),
                f.bytes.into(),
            ]);
        }
        let mut seen = Vec::with_capacity(r.seen.len() * 4);
        for x in &r.seen {
            let latency = self
                .demo
                .injected(&x.item)
                .map_or(-1.0, |(at, _)| ms(x.at) - ms(at));
            seen.extend_from_slice(&[ms(x.at), x.node.into(), f64::from(u8::from(x.scp)), latency]);
        }
        obj(&[
            ("frames", Float64Array::from(&frames[..]).into()),
            ("seen", Float64Array::from(&seen[..]).into()),
            ("lost", u(r.lost)),
        ])
        .unchecked_into()
    }

    /// Network-wide counters.
    pub fn totals(&self) -> DemoTotalsJs {
        let net = &self.demo.net;
        let (mut uniq, mut dup, mut uniq_b, mut dup_b, mut adv, mut dem, mut dropped) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        for nd in &net.nodes {
            let m = &nd.overlay.metrics;
            uniq += m.flood_unique_recv;
            dup += m.flood_duplicate_recv;
            uniq_b += m.flood_unique_recv_bytes;
            dup_b += m.flood_duplicate_recv_bytes;
            let p = nd.overlay.pull_metrics();
            adv += p.advertised;
            dem += p.demanded;
            dropped += nd.stats.dropped;
        }
        let (txs, scp) = self.demo.counts();
        obj(&[
            ("nowMs", n(ms(net.now()))),
            ("deliveries", u(net.deliveries)),
            ("events", u(net.events)),
            ("txInjected", u(txs)),
            ("scpInjected", u(scp)),
            ("everywhere", u(net.everywhere() as u64)),
            ("floodUnique", u(uniq)),
            ("floodDuplicate", u(dup)),
            ("floodUniqueBytes", u(uniq_b)),
            ("floodDuplicateBytes", u(dup_b)),
            ("advertised", u(adv)),
            ("demanded", u(dem)),
            ("dropped", u(dropped)),
            ("connections", u(net.connection_ends().count() as u64 / 2)),
        ])
        .unchecked_into()
    }

    /// One node's details (for a tooltip): ID, role, peers, what it saw, flood counters.
    #[wasm_bindgen(js_name = nodeInfo, unchecked_return_type = "DemoNodeInfo | null")]
    pub fn node_info(&self, i: u32) -> JsValue {
        let Some(nd) = self.demo.net.nodes.get(i as usize) else {
            return JsValue::NULL;
        };
        let m = &nd.overlay.metrics;
        let pull = nd.overlay.pull_metrics();
        obj(&[
            ("node", s(nd.overlay.node_id().to_string())),
            ("address", s(nd.address.to_string())),
            (
                "validator",
                JsValue::from_bool(self.demo.validators.contains(&(i as usize))),
            ),
            ("alive", JsValue::from_bool(nd.alive)),
            (
                "authenticated",
                n(nd.overlay.authenticated().count() as u32),
            ),
            ("scpSeen", n(nd.stats.scp_seen.len() as u32)),
            ("txSeen", n(nd.stats.tx_seen.len() as u32)),
            ("floodUnique", u(m.flood_unique_recv)),
            ("floodDuplicate", u(m.flood_duplicate_recv)),
            ("advertised", u(pull.advertised)),
            ("demanded", u(pull.demanded)),
            ("fetched", n(nd.stats.items_fetched.len() as u32)),
            ("dropped", u(nd.stats.dropped)),
            (
                "lastDrop",
                nd.stats
                    .last_drop
                    .as_ref()
                    .map_or(JsValue::NULL, |r| s(r.to_string())),
            ),
        ])
    }

    /// Every connection end as 8 numbers: from, to, bytes written, outbound message
    /// credit, outbound byte credit, messages queued (all priorities), milliseconds
    /// without outbound credit, and 1 if authenticated.
    #[wasm_bindgen(js_name = linkStates)]
    pub fn link_states(&self) -> Float64Array {
        let net = &self.demo.net;
        let now = net.now();
        let mut out = Vec::new();
        for (node, conn, remote) in net.connection_ends() {
            let Some(p) = net.nodes[node].overlay.peer(conn) else {
                continue;
            };
            let (cm, cb) = p.outbound_credit();
            let queued: usize = [
                Priority::Scp,
                Priority::Transaction,
                Priority::Demand,
                Priority::Advert,
            ]
            .into_iter()
            .map(|q| p.queued(q))
            .sum();
            out.extend_from_slice(&[
                node as f64,
                remote as f64,
                p.stats().bytes_written as f64,
                cm as f64,
                cb as f64,
                queued as f64,
                p.time_without_credit(now).as_millis() as f64,
                f64::from(u8::from(p.is_authenticated())),
            ]);
        }
        Float64Array::from(&out[..])
    }

    /// Node IDs of every node, in order.
    #[wasm_bindgen(js_name = nodeIds, unchecked_return_type = "string[]")]
    pub fn node_ids(&self) -> Array {
        self.demo
            .net
            .nodes
            .iter()
            .map(|nd| s(nd.overlay.node_id().to_string()))
            .collect()
    }
}
