//! Named simulation scenarios, shared by the native tests, the benchmarks and the wasm
//! build, so that "the same scenario" is one piece of code and its trace hash can be
//! compared across targets.

use core::time::Duration;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use crate::rng::Rng;
use crate::sim::{LinkParams, Network, SimConfig};
use crate::time::Instant;
use crate::wire::Hash;

/// What a scenario run produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// [`Network::trace_hash`] at the end.
    pub trace: Hash,
    /// Whether everything injected reached every node.
    pub complete: bool,
    /// Simulation events processed.
    pub events: u64,
    /// Virtual time at the end, in microseconds.
    pub virtual_micros: u64,
}

/// A fixed-topology network: 20 ms links, nodes keep only the connections made.
pub fn network(seed: u64) -> Network {
    let mut c = SimConfig {
        seed,
        link: LinkParams {
            latency: Duration::from_millis(20),
            ..LinkParams::default()
        },
        ..SimConfig::default()
    };
    c.overlay.auto_connect = false;
    Network::new(c)
}

fn outcome(net: &Network, complete: bool) -> Outcome {
    Outcome {
        trace: net.trace_hash(),
        complete,
        events: net.events,
        virtual_micros: net.now().as_micros(),
    }
}

/// `nodes` nodes in a random 8-regular graph; one SCP envelope from node 0 floods to all.
pub fn scp_flood(seed: u64, nodes: usize) -> Outcome {
    let mut net = network(seed);
    net.random_regular(nodes, 8);
    net.run_for(Duration::from_secs(2));
    let k = net.inject_scp(0, 1);
    let complete = net.run_while_not(Duration::from_secs(10), |n| n.scp_reach(&k) == nodes);
    outcome(&net, complete)
}

/// `nodes` nodes in a random 8-regular graph; `txs` transactions injected at random nodes
/// (ten every 10 ms) flood in pull mode until every node has every one.
pub fn tx_flood(seed: u64, nodes: usize, txs: u64) -> Outcome {
    let mut net = network(seed);
    net.random_regular(nodes, 8);
    net.run_for(Duration::from_secs(2));
    let mut pick = Rng::from_u64(seed ^ 0x5eed);
    for i in 0..txs {
        net.inject_tx(pick.index(nodes), i);
        if i % 10 == 9 {
            net.run_for(Duration::from_millis(10));
        }
    }
    let total = txs as usize;
    let complete = net.run_while_not(Duration::from_secs(120), |n| n.everywhere() >= total);
    outcome(&net, complete)
}

/// The shape of a [`Demo`] network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// `validators` fully meshed; every other node connects to `per_watcher` of them.
    Tiered {
        per_watcher: usize,
    },
    /// Every node has `degree` peers (lowered by one if `nodes · degree` is odd).
    Random {
        degree: usize,
    },
    Ring,
}

/// Everything a [`Demo`] run depends on: the same parameters give the same run, natively
/// and in wasm (the web demo's Simulation view and `stellar-overlay simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoParams {
    pub seed: u64,
    pub topology: Topology,
    pub nodes: usize,
    /// Nodes that originate SCP messages: the tiered core, else the first ones.
    pub validators: usize,
    pub latency_ms: u32,
    pub jitter_ms: u32,
    /// Bytes per second per link direction; 0 = unlimited.
    pub bandwidth: u64,
    pub loss_ppm: u32,
    /// Transactions per second, each submitted to a random node (0: none).
    pub tx_per_sec: u32,
    /// Every `slot_ms` each validator floods a NOMINATE for the next slot, and an
    /// EXTERNALIZE half a slot later (0: no SCP traffic).
    pub slot_ms: u32,
}

impl Default for DemoParams {
    fn default() -> Self {
        DemoParams {
            seed: 1,
            topology: Topology::Tiered { per_watcher: 3 },
            nodes: 200,
            validators: 10,
            latency_ms: 50,
            jitter_ms: 10,
            bandwidth: 0,
            loss_ppm: 0,
            tx_per_sec: 20,
            slot_ms: 5000,
        }
    }
}

/// When the workload starts: connections are authenticated by then.
pub const DEMO_WARMUP: Duration = Duration::from_secs(1);
/// Injection times are kept this long (virtual) to turn sightings into latencies.
const DEMO_KEEP_INJECTED: Duration = Duration::from_secs(120);

/// A network with a steady workload: transactions at a fixed rate to random nodes, SCP
/// messages from the validators every slot. [`Demo::advance_to`] injects each item at its
/// exact virtual time, so a run does not depend on how it is sliced: advancing to `t` in
/// one call or in a thousand gives the same [`Network::trace_hash`].
#[derive(Debug)]
pub struct Demo {
    pub net: Network,
    pub params: DemoParams,
    /// The nodes that originate SCP messages.
    pub validators: Vec<usize>,
    /// The undirected edges the topology made.
    pub edges: Vec<(usize, usize)>,
    pick: Rng,
    txs: u64,
    /// SCP injections done: slot `k / (2·V) + 1`, validator `k % V`, phase by `k / V % 2`.
    scp: u64,
    injected: BTreeMap<Hash, (Instant, bool)>,
    injected_order: VecDeque<(Instant, Hash)>,
}

impl Demo {
    pub fn new(p: DemoParams) -> Demo {
        let nodes = p.nodes.max(2);
        let mut c = SimConfig {
            seed: p.seed,
            link: LinkParams {
                latency: Duration::from_millis(p.latency_ms.into()),
                jitter: Duration::from_millis(p.jitter_ms.into()),
                bandwidth: p.bandwidth,
                loss_ppm: p.loss_ppm.min(1_000_000),
                ..LinkParams::default()
            },
            ..SimConfig::default()
        };
        c.overlay.auto_connect = false;
        let mut net = Network::new(c);
        let validators_n = p.validators.clamp(1, nodes);
        let (validators, edges) = match p.topology {
            Topology::Tiered { per_watcher } => {
                let core = net.tiered(validators_n, nodes - validators_n, per_watcher.max(1));
                (core, Vec::new())
            }
            Topology::Random { degree } => {
                let mut k = degree.clamp(2, nodes - 1);
                if nodes * k % 2 == 1 {
                    k -= 1;
                }
                let edges = if k >= 2 || nodes <= 2 {
                    net.random_regular(nodes, k.max(1))
                } else {
                    Vec::new()
                };
                ((0..validators_n).collect(), edges)
            }
            Topology::Ring => {
                net.ring(nodes);
                let edges = (0..nodes).map(|a| (a, (a + 1) % nodes)).collect();
                ((0..validators_n).collect(), edges)
            }
        };
        let edges = if edges.is_empty() {
            net.dialled_pairs()
        } else {
            edges
        };
        Demo {
            pick: Rng::from_u64(p.seed ^ 0xdead_beef),
            net,
            params: p,
            validators,
            edges,
            txs: 0,
            scp: 0,
            injected: BTreeMap::new(),
            injected_order: VecDeque::new(),
        }
    }

    fn tx_at(&self, i: u64) -> Option<Instant> {
        let rate = u64::from(self.params.tx_per_sec);
        (rate > 0)
            .then(|| Instant::ZERO + DEMO_WARMUP + Duration::from_micros(i * 1_000_000 / rate))
    }

    fn scp_at(&self, k: u64) -> Option<Instant> {
        let slot_us = u64::from(self.params.slot_ms) * 1000;
        if slot_us == 0 {
            return None;
        }
        let v = self.validators.len() as u64;
        let (slot, rest) = (k / (2 * v), k % (2 * v));
        let (phase, who) = (rest / v, rest % v);
        // Validators speak a little apart (a tenth of a slot spread over them).
        let spread = slot_us / 10 / v.max(1);
        Some(Instant::from_micros(
            DEMO_WARMUP.as_micros() as u64 + slot * slot_us + phase * slot_us / 2 + who * spread,
        ))
    }

    /// Runs to virtual time `until`, injecting every item due on the way.
    pub fn advance_to(&mut self, until: Instant) {
        loop {
            let tx = self.tx_at(self.txs).filter(|t| *t <= until);
            let scp = self.scp_at(self.scp).filter(|t| *t <= until);
            let (at, is_tx) = match (tx, scp) {
                (Some(a), Some(b)) if a <= b => (a, true),
                (_, Some(b)) => (b, false),
                (Some(a), None) => (a, true),
                (None, None) => break,
            };
            self.net.run_until(at);
            let (h, scp) = if is_tx {
                let node = self.pick.index(self.net.len());
                let h = self.net.inject_tx(node, self.txs);
                self.txs += 1;
                (h, false)
            } else {
                let v = self.validators.len() as u64;
                let (slot, rest) = (self.scp / (2 * v) + 1, self.scp % (2 * v));
                let node = self.validators[(rest % v) as usize];
                let h = if rest / v == 0 {
                    self.net.inject_scp(node, slot)
                } else {
                    self.net.inject_externalize(node, slot)
                };
                self.scp += 1;
                (h, true)
            };
            self.injected.insert(h, (at, scp));
            self.injected_order.push_back((at, h));
            while let Some(&(t, old)) = self.injected_order.front() {
                if t + DEMO_KEEP_INJECTED >= at {
                    break;
                }
                self.injected.remove(&old);
                self.injected_order.pop_front();
            }
        }
        self.net.run_until(until);
    }

    /// When `item` was injected, and whether it is an SCP message (recent items only).
    pub fn injected(&self, item: &Hash) -> Option<(Instant, bool)> {
        self.injected.get(item).copied()
    }

    /// Transactions and SCP messages injected so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.txs, self.scp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_complete_and_repeat() {
        let a = scp_flood(3, 30);
        assert!(a.complete);
        assert_eq!(a, scp_flood(3, 30));
        let b = tx_flood(3, 20, 30);
        assert!(b.complete);
        assert_eq!(b, tx_flood(3, 20, 30));
        assert_ne!(b.trace, tx_flood(4, 20, 30).trace);
    }

    fn small(topology: Topology) -> DemoParams {
        DemoParams {
            seed: 9,
            topology,
            nodes: 24,
            validators: 4,
            latency_ms: 20,
            jitter_ms: 5,
            tx_per_sec: 50,
            slot_ms: 1000,
            ..DemoParams::default()
        }
    }

    #[test]
    fn demo_runs_do_not_depend_on_slicing_or_recording() {
        let end = Instant::from_micros(3_500_000);
        let mut whole = Demo::new(small(Topology::Tiered { per_watcher: 2 }));
        whole.advance_to(end);
        let mut sliced = Demo::new(small(Topology::Tiered { per_watcher: 2 }));
        sliced.net.record(64);
        let mut t = 0;
        let mut frames = 0;
        let mut lost = 0;
        let mut seen_scp = 0;
        while t < end.as_micros() {
            t = (t + 16_667).min(end.as_micros());
            sliced.advance_to(Instant::from_micros(t));
            let r = sliced.net.take_records();
            assert!(r.frames.len() <= 64 && r.seen.len() <= 64);
            frames += r.frames.len();
            lost += r.lost;
            seen_scp += r.seen.iter().filter(|s| s.scp).count();
            for f in &r.frames {
                assert!(f.arrive >= f.sent && f.bytes > 20);
                assert!(f.message_type >= 0 && f.message_type < 30);
            }
        }
        assert_eq!(whole.net.trace_hash(), sliced.net.trace_hash());
        assert_eq!(whole.counts(), sliced.counts());
        assert!(frames > 100 && lost > 0 && seen_scp > 0);
        // Transactions at 1.00, 1.02, … 3.50 s; slots 1 and 2 whole (NOMINATE at 1.0 and
        // 2.0 s, EXTERNALIZE at 1.5 and 2.5 s, validators 25 ms apart), slot 3's NOMINATEs,
        // and its first EXTERNALIZE exactly at the end.
        assert_eq!(whole.counts(), (126, 4 * 2 * 2 + 4 + 1));
        let mut other = Demo::new(DemoParams {
            seed: 10,
            ..small(Topology::Tiered { per_watcher: 2 })
        });
        other.advance_to(end);
        assert_ne!(other.net.trace_hash(), whole.net.trace_hash());
    }

    #[test]
    fn demo_topologies_connect_everyone() {
        for topo in [
            Topology::Tiered { per_watcher: 3 },
            Topology::Random { degree: 5 },
            Topology::Ring,
        ] {
            let mut d = Demo::new(DemoParams {
                nodes: 25,
                ..small(topo)
            });
            d.advance_to(Instant::from_micros(4_000_000));
            assert_eq!(d.net.len(), 25);
            assert!(d.net.everywhere() > 0, "{topo:?}");
            assert!(!d.edges.is_empty());
        }
    }
}
