//! `stellar-overlay simulate`: the web demo's Simulation view, natively. The same
//! parameters give the same run as the page (`overlay_core::scenarios::Demo`), so the
//! trace hash printed here equals the one the page shows at the same virtual time.

use std::time::Instant as WallInstant;

use clap::{Args, ValueEnum};
use overlay_core::Instant;
use overlay_core::scenarios::{Demo, DemoParams, Topology};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TopologyArg {
    Tiered,
    Random,
    Ring,
}

/// Parameters, named as in the page's share link.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    #[arg(long, value_enum, default_value = "tiered")]
    pub topology: TopologyArg,
    #[arg(long, default_value_t = 200)]
    pub nodes: usize,
    /// Nodes that originate SCP: the tiered core, else the first ones.
    #[arg(long, default_value_t = 10)]
    pub validators: usize,
    /// Tiered: validators each other node connects to.
    #[arg(long, default_value_t = 3)]
    pub per_watcher: usize,
    /// Random: peers per node.
    #[arg(long, default_value_t = 8)]
    pub degree: usize,
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u32,
    #[arg(long, default_value_t = 10)]
    pub jitter_ms: u32,
    /// Bytes per second per link direction (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub bandwidth: u64,
    /// Parts per million of writes delayed by a retransmission.
    #[arg(long, default_value_t = 0)]
    pub loss_ppm: u32,
    /// Transactions per second, each to a random node.
    #[arg(long, default_value_t = 20)]
    pub tx_per_sec: u32,
    /// Milliseconds per SCP slot (0: no SCP traffic).
    #[arg(long, default_value_t = 5000)]
    pub slot_ms: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Virtual time to run to, in microseconds (the page shows it under the trace hash).
    #[arg(long, conflicts_with = "until_ms")]
    pub until_us: Option<u64>,
    /// Virtual time to run to, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub until_ms: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SimulateArgs {
    pub fn params(&self) -> DemoParams {
        DemoParams {
            seed: self.seed,
            topology: match self.topology {
                TopologyArg::Tiered => Topology::Tiered {
                    per_watcher: self.per_watcher,
                },
                TopologyArg::Random => Topology::Random {
                    degree: self.degree,
                },
                TopologyArg::Ring => Topology::Ring,
            },
            nodes: self.nodes,
            validators: self.validators,
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
            bandwidth: self.bandwidth,
            loss_ppm: self.loss_ppm,
            tx_per_sec: self.tx_per_sec,
            slot_ms: self.slot_ms,
        }
    }
}

/// Runs the simulation and prints its trace hash.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    if !(2..=2000).contains(&args.nodes) {
        anyhow::bail!("--nodes must be 2..=2000");
    }
    let until = args.until_us.unwrap_or(args.until_ms.saturating_mul(1000));
    let started = WallInstant::now();
    let mut demo = Demo::new(args.params());
    demo.advance_to(Instant::from_micros(until));
    let trace: String = demo
        .net
        .trace_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (txs, scp) = demo.counts();
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "trace": trace,
                "virtualUs": until,
                "nodes": demo.net.len(),
                "events": demo.net.events,
                "deliveries": demo.net.deliveries,
                "txInjected": txs,
                "scpInjected": scp,
                "everywhere": demo.net.everywhere(),
                "wallSeconds": secs,
            })
        );
    } else {
        println!("trace hash {trace}");
        println!(
            "{} nodes, {:.3} s virtual in {secs:.2} s: {} events, {} deliveries, {txs} transactions and {scp} SCP messages injected, {} everywhere",
            demo.net.len(),
            until as f64 / 1e6,
            demo.net.events,
            demo.net.deliveries,
            demo.net.everywhere()
        );
    }
    Ok(())
}
