//! `stellar-overlay`: command-line entry point.

use std::io::Write;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use host_native::single::{self, Options, STANDALONE_PASSPHRASE};

const TESTNET_PASSPHRASE: &str = "Test SDF Network ; September 2015";
const PUBNET_PASSPHRASE: &str = "Public Global Stellar Network ; September 2015";

#[derive(Parser, Debug)]
#[command(
    name = "stellar-overlay",
    version,
    about = "A Stellar overlay (peer-to-peer) node and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node from a stellar-core-style config (TOML, stellar-core key names).
    Run {
        /// The config file.
        #[arg(long)]
        conf: Option<std::path::PathBuf>,
        /// Start from the test network's passphrase and known peers.
        #[arg(long, conflicts_with = "pubnet")]
        testnet: bool,
        /// Start from the public network's passphrase and known peers.
        #[arg(long)]
        pubnet: bool,
    },
    /// Run one authenticated connection and print one JSON line per event.
    Peer {
        #[command(subcommand)]
        mode: PeerMode,
    },
    /// A local network of nodes on loopback with generated traffic; prints the admin URLs
    /// and live counters. Needs no outside network.
    Localnet {
        /// How many nodes.
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// Seconds between generated SCP slots (0 for none).
        #[arg(long, default_value_t = 2.0)]
        slot_secs: f64,
        /// Transactions per second submitted across the network (0 for none).
        #[arg(long, default_value_t = 20)]
        tx_rate: u32,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
        /// Port of the WebSocket bridge browsers reach the nodes through (0: any free port).
        #[arg(long, default_value_t = 11627)]
        bridge_port: u16,
        /// Start no bridge.
        #[arg(long)]
        no_bridge: bool,
        /// Serve the web visualizer here (the built web-demo/dist), with the localnet's
        /// nodes at /api/localnet.json (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        web: std::net::SocketAddr,
        /// The built web demo (default: WEB_DEMO_DIST, else web-demo/dist found from here).
        #[arg(long)]
        web_dir: Option<std::path::PathBuf>,
        /// Serve no web page.
        #[arg(long)]
        no_web: bool,
    },
    /// Serve the web visualizer (a built web-demo/dist) as static files.
    Serve {
        /// The built app (default: WEB_DEMO_DIST, else web-demo/dist found from here).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Run the web demo's simulation natively and print its trace hash (the page shows
    /// the same hash for the same parameters and virtual time).
    Simulate(host_native::simulate::SimulateArgs),
    /// Connect to one peer and stream what it says: SCP statements (node, slot, phase,
    /// values' tx sets), transactions (hash, source, operations) and control messages.
    Watch {
        /// The peer, e.g. core-testnet1.stellar.org:11625.
        address: String,
        /// Use the test network's passphrase.
        #[arg(long, conflicts_with_all = ["pubnet", "passphrase"])]
        testnet: bool,
        /// Use the public network's passphrase.
        #[arg(long, conflicts_with = "passphrase")]
        pubnet: bool,
        /// Network passphrase (default: the standalone network).
        #[arg(long)]
        passphrase: Option<String>,
        /// `json` (one object per line) or `table` (aligned text).
        #[arg(long, default_value = "json", value_parser = ["json", "table"])]
        format: String,
        /// Ledger to ask SCP state from (0: everything the peer remembers).
        #[arg(long, default_value_t = 0)]
        get_scp_state: u32,
    },
    /// A WebSocket-to-TCP bridge for browser peers: ws://LISTEN/connect?target=HOST:PORT
    /// relays bytes unchanged to an allowed target (the browser does the handshake);
    /// GET /targets lists the allowed targets.
    Bridge {
        /// Address to listen on (port 0 picks a free one, printed).
        #[arg(long, default_value_t = host_native::bridge::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// A target browsers may reach, HOST:PORT; repeat for more. Resolved at start;
        /// nothing else is ever dialled.
        #[arg(long = "allow", value_name = "HOST:PORT", required = true)]
        allow: Vec<String>,
        /// A page origin allowed to connect, e.g. http://127.0.0.1:8080; repeat for more
        /// (default: any origin).
        #[arg(long = "origin", value_name = "URL")]
        origins: Vec<String>,
        /// Relays one client IP may hold (IPv6: per /64); more are closed with 1013.
        #[arg(long, default_value_t = host_native::bridge::DEFAULT_MAX_PER_IP)]
        max_per_ip: usize,
        /// Relays in total; more are closed with 1013.
        #[arg(long, default_value_t = host_native::bridge::DEFAULT_MAX_TOTAL)]
        max_connections: usize,
        /// Seconds without a byte either way before a relay is closed.
        #[arg(long, default_value_t = host_native::bridge::DEFAULT_IDLE_TIMEOUT.as_secs())]
        idle_timeout: u64,
        /// The largest message a browser may send, in bytes.
        #[arg(long, default_value_t = host_native::bridge::DEFAULT_MAX_MESSAGE_SIZE)]
        max_message_size: usize,
    },
    /// Survey the network's topology through a node's admin API (stellar-core's or ours):
    /// start collecting, wait, stop, ask every reachable node for its inbound and outbound
    /// peers page by page (asking silent ones again), then write FILE (JSON) and FILE with
    /// the extension .graphml (OverlaySurvey.py's graph, for networkx or Gephi).
    Survey {
        /// The node's admin API, e.g. http://127.0.0.1:11626.
        #[arg(long)]
        node: String,
        /// Seconds of collecting (1..=1800).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=1800))]
        collect_secs: u64,
        /// Where to write the JSON result; the GraphML goes beside it as .graphml (or give
        /// x.graphml: the GraphML goes there and the JSON to x.json).
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        /// Where to begin: `start` a survey; `stop` one that is collecting; or `report`
        /// on one whose collecting phase is over.
        #[arg(long, default_value = "start", value_parser = ["start", "stop", "report"])]
        from: String,
        /// The survey's nonce (default: random).
        #[arg(long)]
        nonce: Option<u32>,
        /// Seconds to let STOP_COLLECTING reach the network before asking nodes.
        #[arg(long, default_value_t = 20.0)]
        stop_wait_secs: f64,
        /// Seconds a node may stay silent after its request left before it is asked
        /// again (the wait doubles each time).
        #[arg(long, default_value_t = 30.0)]
        response_timeout_secs: f64,
        /// Times a silent node is asked again before it is reported missing.
        #[arg(long, default_value_t = 2)]
        retries: u32,
        /// Nodes asked at most.
        #[arg(long, default_value_t = 10_000)]
        max_nodes: usize,
        /// A file of node ids (G…, one a line) to ask besides those found.
        #[arg(long, value_name = "FILE")]
        node_list: Option<std::path::PathBuf>,
        /// No progress on stderr.
        #[arg(long)]
        quiet: bool,
    },
    /// Raw HMAC-SHA256 speed over 300-byte messages (the baseline of scripts/bench-e2e).
    #[command(hide = true)]
    BenchHmac,
    /// Two peers on loopback in one process: the handshake and message flow, printed.
    Demo {
        /// Transactions each side sends.
        #[arg(long, default_value_t = 20)]
        transactions: u64,
    },
}

#[derive(Subcommand, Debug)]
enum PeerMode {
    /// Accept one inbound connection.
    Listen {
        /// TCP port to listen on (0 picks a free one, printed in the "listening" line).
        #[arg(long, default_value_t = 11625)]
        port: u16,
        #[command(flatten)]
        common: Common,
    },
    /// Dial HOST:PORT.
    Connect {
        /// The peer to dial, e.g. 127.0.0.1:11625.
        address: String,
        /// Open this many connections at once, each with its own identity (load and
        /// memory tests); prints one summary line per connection when it ends.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Network passphrase (default: the standalone network, so nothing real is reached).
    #[arg(long, default_value = STANDALONE_PASSPHRASE)]
    passphrase: String,
    /// Node secret seed (S…); a random identity otherwise.
    #[arg(long)]
    seed: Option<String>,
    /// Port announced in HELLO (default: the listening port, or 11625 when connecting).
    #[arg(long)]
    listening_port: Option<u16>,
    /// Send N synthetic TRANSACTION messages once authenticated, within flow control.
    #[arg(long, default_value_t = 0)]
    send_tx: u64,
    /// Send at most this many synthetic transactions per second.
    #[arg(long)]
    tx_rate: Option<u32>,
    /// Pad each synthetic transaction to at least this many bytes.
    #[arg(long, default_value_t = 0)]
    tx_size: usize,
    /// Send N synthetic signed SCP_MESSAGEs once authenticated.
    #[arg(long, default_value_t = 0)]
    send_scp: u64,
    /// Keep K synthetic SCP envelopes (slots 1..=K) to answer GET_SCP_STATE.
    #[arg(long, default_value_t = 5)]
    scp_state: u64,
    /// Ledger sequence to ask with GET_SCP_STATE after the handshake.
    #[arg(long, default_value_t = 0)]
    get_scp_state: u32,
    /// Do not send GET_SCP_STATE after the handshake.
    #[arg(long)]
    no_get_scp_state: bool,
    /// Transactions to wait for before finishing (with --exit-when-done).
    #[arg(long, default_value_t = 0)]
    expect_tx: u64,
    /// SCP messages to wait for before finishing (with --exit-when-done).
    #[arg(long, default_value_t = 0)]
    expect_scp: u64,
    /// Close the connection once our sends are written and expectations are met.
    #[arg(long)]
    exit_when_done: bool,
    /// Do not print a line per received message and credit grant.
    #[arg(long)]
    quiet: bool,
    /// Answer FLOOD_ADVERTs with FLOOD_DEMANDs, so advertised transactions arrive.
    #[arg(long)]
    demand_adverts: bool,
    /// Overlay protocol versions announced and accepted (stellar-core v25.2: 38..=39).
    #[arg(long, default_value_t = overlay_core::auth::DEFAULT_OVERLAY_MIN_VERSION)]
    overlay_min_version: u32,
    #[arg(long, default_value_t = overlay_core::auth::DEFAULT_OVERLAY_VERSION)]
    overlay_version: u32,
    /// Ledger protocol version announced in HELLO.
    #[arg(long, default_value_t = overlay_core::auth::DEFAULT_LEDGER_VERSION)]
    ledger_version: u32,
}

impl Common {
    fn options(&self, default_port: u16) -> Options {
        Options {
            passphrase: self.passphrase.clone(),
            seed: self.seed.clone(),
            listening_port: self.listening_port.unwrap_or(default_port),
            send_tx: self.send_tx,
            tx_size: self.tx_size,
            tx_rate: self.tx_rate,
            send_scp: self.send_scp,
            scp_state: self.scp_state,
            get_scp_state: (!self.no_get_scp_state).then_some(self.get_scp_state),
            expect_tx: self.expect_tx,
            expect_scp: self.expect_scp,
            exit_when_done: self.exit_when_done,
            print_messages: !self.quiet,
            table: false,
            demand_adverts: self.demand_adverts,
            versions: single::Versions {
                overlay_min: self.overlay_min_version,
                overlay: self.overlay_version,
                ledger: self.ledger_version,
            },
        }
    }
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Prefixes each line written (for the demo's two interleaved peers).
struct Prefixed {
    prefix: &'static str,
    line: Vec<u8>,
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' {
                let mut out = std::io::stdout().lock();
                out.write_all(self.prefix.as_bytes())?;
                out.write_all(&self.line)?;
                self.line.clear();
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

async fn demo(transactions: u64) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind loopback")?;
    let port = listener.local_addr()?.port();
    println!("# two stellar-overlay peers on 127.0.0.1:{port}, standalone network");
    println!(
        "# each line: the peer, then one JSON event (hello, authenticated, credit, message, closed, done)"
    );
    let opts = |expect_tx| Options {
        listening_port: port,
        send_tx: transactions,
        send_scp: 2,
        scp_state: 3,
        expect_tx,
        expect_scp: 2 + 3,
        exit_when_done: true,
        ..Options::default()
    };
    let accept = {
        let o = opts(transactions);
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let mut out = Prefixed {
                prefix: "[listener]  ",
                line: Vec::new(),
            };
            single::run(
                stream,
                overlay_core::Role::Acceptor,
                o,
                &mut out,
                std::future::pending(),
            )
            .await
        })
    };
    let mut out = Prefixed {
        prefix: "[connector] ",
        line: Vec::new(),
    };
    let mut o = opts(transactions);
    o.listening_port = 11625;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let a = single::run(stream, overlay_core::Role::Initiator, o, &mut out, ctrl_c()).await?;
    let b = accept.await??;
    println!(
        "# connector got {} transactions (in order: {}) and {} SCP messages; listener got {} and {}",
        a.received_tx, a.in_order, a.received_scp, b.received_tx, b.received_scp
    );
    Ok(())
}

/// `peer connect --connections N`: N connections from one process, until each ends or
/// Ctrl-C; one summary line per connection.
async fn many_connections(address: &str, opts: Options, n: usize) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (address, opts, mut stop) = (address.to_string(), opts.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = std::io::sink();
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            single::connect(&address, opts, &mut out, shutdown).await
        }));
    }
    println!("{{\"event\":\"connections\",\"count\":{n}}}");
    let all = futures_join(tasks);
    tokio::pin!(all);
    tokio::select! {
        results = &mut all => print_summaries(results),
        _ = ctrl_c() => {
            let _ = stop_tx.send(true);
            print_summaries(all.await);
        }
    }
    Ok(())
}

async fn futures_join(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<single::Summary>>>,
) -> Vec<anyhow::Result<single::Summary>> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("connection task failed: {e}"))),
        );
    }
    out
}

fn print_summaries(results: Vec<anyhow::Result<single::Summary>>) {
    for r in results {
        match r {
            Ok(s) => println!("{}", s.to_json()),
            Err(e) => println!(
                "{}",
                serde_json::json!({"event": "error", "message": e.to_string()})
            ),
        }
    }
}

async fn localnet(
    nodes: usize,
    slot_secs: f64,
    tx_rate: u32,
    duration: Option<u64>,
    bridge: Option<u16>,
    web: Option<(std::net::SocketAddr, Option<std::path::PathBuf>)>,
) -> anyhow::Result<()> {
    use host_native::localnet::{self, LocalnetOptions};
    use host_native::node::Command as NodeCommand;
    anyhow::ensure!(nodes >= 1, "--nodes must be at least 1");
    // The page first: its origin is what the admin APIs and the bridge let in.
    let page = match web {
        Some((listen, dir)) => match dir.or_else(host_native::web::find_dist) {
            Some(dir) => {
                let config = host_native::web::WebConfig {
                    listen,
                    pkg: host_native::web::find_pkg(&dir),
                    dir,
                    localnet: None,
                };
                // Not fatal: the nodes are the main thing (another localnet may hold the port).
                match host_native::web::serve(config).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        println!("{e}; serving no page (choose another with --web ADDR)");
                        None
                    }
                }
            }
            None => {
                println!("web visualizer not built (bash scripts/demo builds it): serving no page");
                None
            }
        },
        None => None,
    };
    let opts = LocalnetOptions {
        nodes,
        slot_secs,
        tx_rate,
        bridge: bridge.map(|port| std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        web_origins: page.as_ref().map(|p| p.origins()).unwrap_or_default(),
        ..LocalnetOptions::default()
    };
    println!(
        "starting {nodes} nodes on 127.0.0.1 (network \"{}\")...",
        localnet::LOCALNET_PASSPHRASE
    );
    let net = localnet::start(&opts).await?;
    for (i, n) in net.nodes.iter().enumerate() {
        let http = n.http.map(|a| format!("http://{a}")).unwrap_or_default();
        println!(
            "node {i}: {}  peer port {}  admin {http}/info  {http}/peers  {http}/metrics",
            n.handle.node_id,
            n.handle.peer_addr.port()
        );
    }
    if let Some(b) = &net.bridge {
        let first = net.nodes.first().map(|n| n.handle.peer_addr.to_string());
        println!(
            "bridge for browser peers: {}  (allowlist: {})",
            b.url(first.as_deref().unwrap_or("")),
            b.targets_url()
        );
    }
    if let Some(p) = &page {
        p.set_localnet(host_native::web::localnet_json(&net));
        println!("web visualizer: {}", p.url());
    }
    println!(
        "live counters every 2 s (peers in/out, SCP relayed, transactions advertised, flood duplicates); Ctrl-C stops"
    );
    let stop = async {
        match duration {
            Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
            None => ctrl_c().await,
        }
    };
    tokio::pin!(stop);
    let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = every.tick() => {
                let mut line = String::new();
                for (i, n) in net.nodes.iter().enumerate() {
                    let Ok(info) = n.handle.ask(NodeCommand::Info).await else { continue };
                    let peers = info["info"]["peers"]["authenticated_count"].as_u64().unwrap_or(0);
                    let relay = &info["info"]["relay"];
                    line.push_str(&format!(
                        "[{i}] peers {peers} scp {} tx {} | ",
                        relay["scp_relayed"], relay["tx_advertised"]
                    ));
                }
                println!("{}", line.trim_end_matches(" | "));
            }
        }
    }
    println!("stopping...");
    net.shutdown().await
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One connection (`peer listen`, `peer connect` without --connections) runs on one
    // thread: its task does the reads, writes and timers, and a second worker would only
    // add cross-thread wake-ups (a tenth of the loopback benchmark's time).
    let one_connection = matches!(
        &cli.command,
        Command::Peer {
            mode: PeerMode::Listen { .. }
        } | Command::Peer {
            mode: PeerMode::Connect {
                connections: 0 | 1,
                ..
            }
        }
    );
    let runtime = if one_connection {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()?;
    runtime.block_on(run_cli(cli))
}

async fn run_cli(cli: Cli) -> anyhow::Result<()> {
    // Logs go to stderr (RUST_LOG filters): a node and the bridge log at info, tools only
    // warnings.
    let default_level = if matches!(cli.command, Command::Run { .. } | Command::Bridge { .. }) {
        "info"
    } else {
        "warn"
    };
    host_native::logging::init(default_level);
    match cli.command {
        Command::Peer {
            mode: PeerMode::Listen { port, common },
        } => {
            let mut out = std::io::stdout();
            single::listen(port, common.options(0), &mut out, ctrl_c()).await?;
        }
        Command::Peer {
            mode:
                PeerMode::Connect {
                    address,
                    common,
                    connections,
                },
        } => {
            let opts = common.options(overlay_core::auth::DEFAULT_PEER_PORT);
            if connections <= 1 {
                let mut out = std::io::stdout();
                single::connect(&address, opts, &mut out, ctrl_c()).await?;
            } else {
                many_connections(&address, opts, connections).await?;
            }
        }
        Command::Demo { transactions } => demo(transactions).await?,
        Command::BenchHmac => {
            let key = overlay_core::auth::MacKey::new(&[7; 32]);
            let data = [0x5au8; 300];
            let n = 2_000_000u32;
            let start = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(key.mac(std::hint::black_box(&data)));
            }
            println!("{:.0}", f64::from(n) / start.elapsed().as_secs_f64());
        }
        Command::Run {
            conf,
            testnet,
            pubnet,
        } => {
            let preset = if testnet {
                Some("testnet".to_string())
            } else if pubnet {
                Some("pubnet".to_string())
            } else {
                None
            };
            host_native::run::run(&host_native::run::RunOptions { conf, preset }).await?
        }
        Command::Watch {
            address,
            testnet,
            pubnet,
            passphrase,
            format,
            get_scp_state,
        } => {
            let passphrase = if testnet {
                TESTNET_PASSPHRASE.to_string()
            } else if pubnet {
                PUBNET_PASSPHRASE.to_string()
            } else {
                passphrase.unwrap_or_else(|| STANDALONE_PASSPHRASE.to_string())
            };
            let opts = Options {
                passphrase,
                scp_state: 0,
                get_scp_state: Some(get_scp_state),
                table: format == "table",
                demand_adverts: true,
                ..Options::default()
            };
            let mut out = std::io::stdout();
            single::connect(&address, opts, &mut out, ctrl_c()).await?;
        }
        Command::Localnet {
            nodes,
            slot_secs,
            tx_rate,
            duration,
            bridge_port,
            no_bridge,
            web,
            web_dir,
            no_web,
        } => {
            let bridge = (!no_bridge).then_some(bridge_port);
            let web = (!no_web).then_some((web, web_dir));
            localnet(nodes, slot_secs, tx_rate, duration, bridge, web).await?
        }
        Command::Serve { dir, listen } => {
            let dir = dir.or_else(host_native::web::find_dist).ok_or_else(|| {
                anyhow::anyhow!(
                    "no built web demo found: pass --dir (web-demo/dist after npm run build)"
                )
            })?;
            let page = host_native::web::serve(host_native::web::WebConfig {
                listen,
                pkg: host_native::web::find_pkg(&dir),
                dir: dir.clone(),
                localnet: None,
            })
            .await?;
            println!(
                "serving {} at {}  (Ctrl-C stops)",
                dir.display(),
                page.url()
            );
            ctrl_c().await;
            page.stop();
        }
        Command::Simulate(args) => host_native::simulate::run(&args)?,
        Command::Survey {
            node,
            collect_secs,
            out,
            from,
            nonce,
            stop_wait_secs,
            response_timeout_secs,
            retries,
            max_nodes,
            node_list,
            quiet,
        } => {
            use host_native::survey_cli::{self, SurveyOptions};
            let secs = |v: f64, name: &str| {
                anyhow::ensure!(
                    v.is_finite() && v >= 0.0,
                    "--{name} must be a number of seconds ≥ 0"
                );
                Ok(std::time::Duration::from_secs_f64(v))
            };
            let extra_nodes = match node_list {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read --node-list {}", path.display()))?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string)
                    .collect(),
                None => Vec::new(),
            };
            let opts = SurveyOptions {
                collect: std::time::Duration::from_secs(collect_secs),
                from: from.parse().map_err(|e: String| anyhow::anyhow!(e))?,
                nonce,
                stop_wait: secs(stop_wait_secs, "stop-wait-secs")?,
                response_timeout: secs(response_timeout_secs, "response-timeout-secs")?,
                retries,
                max_nodes,
                extra_nodes,
                progress: !quiet,
                ..SurveyOptions::new(node, out)
            };
            // Ctrl-C: the survey writes what arrived so far.
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            tokio::spawn(async move {
                ctrl_c().await;
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            tokio::task::spawn_blocking(move || survey_cli::run(&opts, stop))
                .await
                .context("the survey task failed")??;
        }
        Command::Bridge {
            listen,
            allow,
            origins,
            max_per_ip,
            max_connections,
            idle_timeout,
            max_message_size,
        } => {
            use host_native::bridge::{self, BridgeConfig};
            let config = BridgeConfig {
                listen,
                allow,
                origins,
                max_per_ip,
                max_total: max_connections,
                idle_timeout: std::time::Duration::from_secs(idle_timeout.max(1)),
                max_message_size,
                ..BridgeConfig::default()
            };
            bridge::run(config, ctrl_c()).await?
        }
    }
    Ok(())
}
