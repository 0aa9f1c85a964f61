//! Named simulation scenarios, shared by the native tests, the benchmarks and the wasm
//! build, so that "the same scenario" is one piece of code and its trace hash can be
//! compared across targets.

use core::time::Duration;

use crate::rng::Rng;
use crate::sim::{LinkParams, Network, SimConfig};
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
}
