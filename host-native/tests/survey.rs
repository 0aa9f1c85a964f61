//! Time-sliced surveys of a 6-node localnet over real TCP: stellar-core's survey endpoints
//! (their answers and the `/getsurveyresult` document, checked against every node's
//! `/peers`), and the `survey` command as a process, whose GraphML networkx must read back
//! as exactly the network's nodes and authenticated connections.
//!
//! Needs `python3` with networkx (`pip install networkx`).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Command as Process, Output, Stdio};
use std::time::{Duration, Instant};

use host_native::localnet::{self, Localnet, LocalnetOptions};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NODES: usize = 6;

/// Six nodes, a slot every half second (surveys need ledgers to advance), a trickle of
/// transactions; survey requests go out every 1.5 s (three slots).
fn options() -> LocalnetOptions {
    LocalnetOptions {
        nodes: NODES,
        slot_secs: 0.5,
        tx_rate: 10,
        http: true,
        bridge: None,
        ..LocalnetOptions::default()
    }
}

/// GET on loopback: status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut all = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

async fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn http(net: &Localnet, i: usize) -> SocketAddr {
    net.nodes[i].http.unwrap()
}

/// Polls until `check` holds on every node's `/info`, or fails after `secs`.
async fn eventually(net: &Localnet, secs: u64, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut seen = Vec::new();
        for i in 0..net.nodes.len() {
            seen.push(json(http(net, i), "/info").await["info"].clone());
        }
        if seen.iter().all(&check) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {secs} s: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every node connected to every other, and ledgers advancing. PEERS usually completes
/// the mesh; a pair still apart after a few seconds (each knows a few others at start, and
/// two dials crossing can both be refused) is connected through `/connect`.
async fn full_mesh(net: &Localnet) {
    let start = Instant::now();
    loop {
        let lists = peer_lists(net).await;
        let mut apart = Vec::new();
        for i in 0..net.nodes.len() {
            for j in i + 1..net.nodes.len() {
                let (a, b) = (net.nodes[i].handle.node_id, net.nodes[j].handle.node_id);
                let (inbound, outbound) = &lists[&a.to_string()];
                if !inbound.contains(&b.to_string()) && !outbound.contains(&b.to_string()) {
                    apart.push((i, j));
                }
            }
        }
        if apart.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no full mesh after 30 s: {apart:?} apart"
        );
        if start.elapsed() > Duration::from_secs(3) {
            for (i, j) in apart {
                let port = net.nodes[i].handle.peer_addr.port();
                let (status, body) = get(
                    http(net, j),
                    &format!("/connect?peer=127.0.0.1&port={port}"),
                )
                .await;
                assert_eq!(status, 200, "{body}");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eventually(net, 30, "a full mesh with ledgers", |v| {
        v["peers"]["authenticated_count"] == NODES - 1 && v["ledger"]["num"].as_u64() > Some(3)
    })
    .await;
}

/// Each node's authenticated (inbound ids, outbound ids) from its `/peers`.
async fn peer_lists(net: &Localnet) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for i in 0..net.nodes.len() {
        let p = json(http(net, i), "/peers?fullkeys=true").await;
        let ids = |dir: &str| -> BTreeSet<String> {
            p["authenticated_peers"][dir]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect()
        };
        out.insert(
            net.nodes[i].handle.node_id.to_string(),
            (ids("inbound"), ids("outbound")),
        );
    }
    out
}

/// The authenticated connections as (initiator, acceptor), checked from both ends.
fn true_edges(
    lists: &BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
) -> BTreeSet<(String, String)> {
    let mut from_out = BTreeSet::new();
    let mut from_in = BTreeSet::new();
    for (id, (inbound, outbound)) in lists {
        from_out.extend(outbound.iter().map(|p| (id.clone(), p.clone())));
        from_in.extend(inbound.iter().map(|p| (p.clone(), id.clone())));
    }
    assert_eq!(from_out, from_in, "both ends of every connection agree");
    from_out
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const NODE_KEYS: [&str; 12] = [
    "addedAuthenticatedPeers",
    "droppedAuthenticatedPeers",
    "inboundPeers",
    "isValidator",
    "lostSyncCount",
    "maxInboundPeerCount",
    "maxOutboundPeerCount",
    "numTotalInboundPeers",
    "numTotalOutboundPeers",
    "outboundPeers",
    "p75SCPFirstToSelfLatencyMs",
    "p75SCPSelfToOtherLatencyMs",
];

const PEER_KEYS: [&str; 16] = [
    "averageLatencyMs",
    "bytesRead",
    "bytesWritten",
    "duplicateFetchBytesRecv",
    "duplicateFetchMessageRecv",
    "duplicateFloodBytesRecv",
    "duplicateFloodMessageRecv",
    "messagesRead",
    "messagesWritten",
    "nodeId",
    "secondsConnected",
    "uniqueFetchBytesRecv",
    "uniqueFetchMessageRecv",
    "uniqueFloodBytesRecv",
    "uniqueFloodMessageRecv",
    "version",
];

fn peer_ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|p| p["nodeId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_nodes_surveyed_through_the_admin_endpoints() {
    let started = Instant::now();
    let net = localnet::start(&options()).await.unwrap();
    let ids: Vec<String> = net.node_ids().iter().map(ToString::to_string).collect();
    let surveyor = http(&net, 0);

    // Before any survey: stellar-core's document has no topology member.
    let (status, body) = get(surveyor, "/getsurveyresult").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"backlog": null, "badResponseNodes": null, "surveyInProgress": false})
    );
    full_mesh(&net).await;
    let before = peer_lists(&net).await;

    // Parameter errors in stellar-core's words (its `parseRequiredParam`), as 400s.
    let exception = |(status, body): (u16, String)| -> (u16, String) {
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, v["exception"].as_str().unwrap().to_string())
    };
    assert_eq!(
        exception(get(surveyor, "/startsurveycollecting").await),
        (400, "'nonce' argument is required!".to_string())
    );
    assert_eq!(
        exception(get(surveyor, "/startsurveycollecting?nonce=x1").await),
        (400, "Failed to parse 'nonce' argument".to_string())
    );
    assert_eq!(
        get(surveyor, "/stopsurveycollecting").await,
        (
            409,
            "Failed to stop survey collecting. No survey is active on the network.".to_string()
        )
    );
    let (status, e) = exception(
        get(
            surveyor,
            &format!(
                "/surveytopologytimesliced?node={}&inboundpeerindex=0&outboundpeerindex=0",
                ids[1]
            ),
        )
        .await,
    );
    assert_eq!(status, 409);
    assert!(e.contains("not in the reporting phase"), "{e}");

    // Collecting: every node joins the survey with our nonce.
    let nonce = 0xC0FFEE_u32;
    assert_eq!(
        get(surveyor, &format!("/startsurveycollecting?nonce={nonce}")).await,
        (
            200,
            "Requested network to start survey collecting.".to_string()
        )
    );
    assert_eq!(
        get(surveyor, "/startsurveycollecting?nonce=7").await,
        (
            409,
            "Failed to start survey collecting. Another survey is active on the network."
                .to_string()
        )
    );
    eventually(&net, 10, "every node collecting", |v| {
        v["survey"]["phase"] == "collecting"
            && v["survey"]["nonce"] == nonce
            && v["survey"]["surveyor"] == ids[0].as_str()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        get(surveyor, "/stopsurveycollecting").await,
        (
            200,
            "Requested network to stop survey collecting.".to_string()
        )
    );
    eventually(&net, 10, "every node reporting", |v| {
        v["survey"]["phase"] == "reporting"
    })
    .await;

    // Ask every other node; the first request starts the reporting run, which sends what
    // is queued at once (nothing yet) and then once per throttle time (1.5 s).
    let ask = |node: &str| {
        format!("/surveytopologytimesliced?node={node}&inboundpeerindex=0&outboundpeerindex=0")
    };
    let queued = "addPeerToBacklog failed: Peer is already in the backlog, or peer is self.";
    let run_started = Instant::now();
    assert_eq!(
        get(surveyor, &ask(&ids[1])).await,
        (200, "Adding node.Survey started ".to_string())
    );
    // So the node stays queued until then: asking for it again is refused without
    // touching the queue.
    let again = exception(get(surveyor, &ask(&ids[1])).await);
    let early = json(surveyor, "/getsurveyresult").await;
    let took = run_started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "three admin requests took {took:?}, longer than the throttle time: the queue may \
         have been sent meanwhile"
    );
    assert_eq!(again, (409, queued.to_string()), "asked again while queued");
    assert_eq!(early["backlog"], serde_json::json!([ids[1]]), "{early:#}");
    assert!(early["topology"][&ids[1]].is_null(), "{early:#}");
    for id in &ids[2..] {
        assert_eq!(
            get(surveyor, &ask(id)).await,
            (200, "Adding node.Survey already running!".to_string())
        );
    }
    assert_eq!(
        exception(get(surveyor, &ask(&ids[0])).await),
        (409, queued.to_string()),
        "self"
    );
    assert_eq!(
        exception(
            get(
                surveyor,
                "/surveytopologytimesliced?node=GXYZ&inboundpeerindex=0&outboundpeerindex=0"
            )
            .await
        ),
        (400, "bad public key".to_string())
    );
    assert_eq!(
        exception(
            get(
                surveyor,
                &format!(
                    "/surveytopologytimesliced?node={}&outboundpeerindex=0",
                    ids[1]
                )
            )
            .await
        ),
        (400, "'inboundpeerindex' argument is required!".to_string())
    );

    // Every node answers; the document has stellar-core's shape and each node's peers are
    // the ones its /peers lists.
    let deadline = Instant::now() + Duration::from_secs(15);
    let result = loop {
        let v = json(surveyor, "/getsurveyresult").await;
        let answered = v["topology"]
            .as_object()
            .map_or(0, |t| t.values().filter(|n| !n.is_null()).count());
        if answered == NODES && v["backlog"].as_array().is_none_or(Vec::is_empty) {
            break v;
        }
        assert!(Instant::now() < deadline, "not every node answered: {v:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        keys(&result),
        BTreeSet::from([
            "backlog",
            "badResponseNodes",
            "surveyInProgress",
            "topology"
        ])
    );
    assert_eq!(result["surveyInProgress"], true);
    assert!(result["badResponseNodes"].is_null(), "{result:#}");
    let topology = result["topology"].as_object().unwrap();
    assert_eq!(
        topology.keys().cloned().collect::<BTreeSet<_>>(),
        ids.iter().cloned().collect::<BTreeSet<_>>()
    );
    let after = peer_lists(&net).await;
    assert_eq!(before, after, "the connections stayed up during the survey");
    let mut flood_recv = 0;
    for (id, node) in topology {
        assert_eq!(keys(node), BTreeSet::from(NODE_KEYS), "{id}: {node:#}");
        let (inbound, outbound) = &before[id];
        assert_eq!(
            &peer_ids(&node["inboundPeers"]),
            inbound,
            "{id}'s inbound peers"
        );
        assert_eq!(
            &peer_ids(&node["outboundPeers"]),
            outbound,
            "{id}'s outbound peers"
        );
        assert_eq!(node["numTotalInboundPeers"], inbound.len(), "{id}");
        assert_eq!(node["numTotalOutboundPeers"], outbound.len(), "{id}");
        assert_eq!(node["isValidator"], true, "{id}");
        assert_eq!(node["maxOutboundPeerCount"], 8, "{id}");
        assert_eq!(node["maxInboundPeerCount"], 64, "{id}: 8 × the target");
        assert_eq!(node["addedAuthenticatedPeers"], 0, "{id}: no new peers");
        assert_eq!(node["droppedAuthenticatedPeers"], 0, "{id}: no drops");
        assert_eq!(node["lostSyncCount"], 0, "{id}: tracking at the start");
        for f in ["p75SCPFirstToSelfLatencyMs", "p75SCPSelfToOtherLatencyMs"] {
            assert!(node[f].is_u64(), "{id} {f}: {node:#}");
        }
        for p in node["inboundPeers"]
            .as_array()
            .into_iter()
            .chain(node["outboundPeers"].as_array())
            .flatten()
        {
            assert_eq!(keys(p), BTreeSet::from(PEER_KEYS), "{id}: {p:#}");
            assert!(
                p["version"]
                    .as_str()
                    .unwrap()
                    .starts_with("stellar-overlay"),
                "{p:#}"
            );
            for f in [
                "messagesRead",
                "messagesWritten",
                "bytesRead",
                "bytesWritten",
            ] {
                assert!(p[f].as_u64().unwrap() > 0, "{id} {f}: {p:#}");
            }
            assert!(
                p["bytesRead"].as_u64() > p["messagesRead"].as_u64(),
                "bytes are bytes: {p:#}"
            );
            flood_recv += p["uniqueFloodMessageRecv"].as_u64().unwrap();
        }
    }
    assert!(
        flood_recv > 0,
        "SCP and transactions flooded while collecting"
    );

    // /stopsurvey ends the run; the results stay readable.
    assert_eq!(
        get(surveyor, "/stopsurvey").await,
        (200, "survey stopped".to_string())
    );
    let v = json(surveyor, "/getsurveyresult").await;
    assert_eq!(v["surveyInProgress"], false);
    assert_eq!(v["topology"], result["topology"]);
    net.shutdown().await.unwrap();
    eprintln!("endpoint survey took {:?}", started.elapsed());
}

/// Runs a command, killing it after `limit`.
fn run_for(mut cmd: Process, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} ran over {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn survey_command(node: SocketAddr, out: &std::path::Path) -> Process {
    let mut cmd = Process::new(env!("CARGO_BIN_EXE_stellar-overlay"));
    cmd.args([
        "survey",
        "--node",
        &format!("http://{node}"),
        "--collect-secs",
        "2",
        "--stop-wait-secs",
        "1",
        "--response-timeout-secs",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    cmd
}

/// Reads a GraphML file with networkx: `{"directed", "nodes": {id: attrs}, "edges":
/// [[from, to, attrs]], "types": {attr: python type}}`.
fn networkx_read(path: &std::path::Path) -> Value {
    const SCRIPT: &str = r#"
import json, sys
import networkx as nx
g = nx.read_graphml(sys.argv[1])
types = {}
for _, a in g.nodes(data=True):
    types.update({k: type(v).__name__ for k, v in a.items()})
for _, _, a in g.edges(data=True):
    types.update({k: type(v).__name__ for k, v in a.items()})
print(json.dumps({
    "directed": g.is_directed(),
    "nodes": {n: a for n, a in g.nodes(data=True)},
    "edges": [[u, v, a] for u, v, a in g.edges(data=True)],
    "types": types,
}))
"#;
    let out = Process::new("python3")
        .args(["-c", SCRIPT, path.to_str().unwrap()])
        .output()
        .expect("python3 must be installed to read the GraphML");
    assert!(
        out.status.success(),
        "networkx could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// networkx must be there: this test exists to prove the output works with it.
fn require_networkx() {
    let ok = Process::new("python3")
        .args(["-c", "import networkx"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python3 with networkx is needed to check the survey's GraphML: run \
         `pip install networkx` (or `apt-get install python3-networkx`)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survey_command_writes_the_topology_networkx_reads() {
    require_networkx();
    let started = Instant::now();
    let net = localnet::start(&options()).await.unwrap();
    let ids: BTreeSet<String> = net.node_ids().iter().map(ToString::to_string).collect();
    full_mesh(&net).await;
    let before = peer_lists(&net).await;
    let expected = true_edges(&before);
    assert_eq!(expected.len(), NODES * (NODES - 1) / 2, "a full mesh");

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "survey-{}-{}",
        std::process::id(),
        started.elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let out_json = dir.join("survey.json");
    let surveyor = http(&net, 0);
    let cmd = survey_command(surveyor, &out_json);
    let out = tokio::task::spawn_blocking(move || run_for(cmd, Duration::from_secs(60)))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "survey failed:\n{stdout}\n{stderr}");
    // Progress goes to stderr as lines when it is not a terminal.
    for stage in [
        "survey: collecting",
        "survey: stopping",
        "survey: reporting",
    ] {
        assert!(stderr.contains(stage), "{stage} missing from:\n{stderr}");
    }
    assert!(
        stdout.contains(&format!(
            "{NODES} nodes ({} answered besides the surveyor), {} connections; 0 missing",
            NODES - 1,
            expected.len()
        )),
        "{stdout}"
    );
    let after = peer_lists(&net).await;
    assert_eq!(before, after, "the connections stayed up during the survey");

    // The JSON result.
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out_json).unwrap()).unwrap();
    assert_eq!(result["surveyor"], net.nodes[0].handle.node_id.to_string());
    assert_eq!(result["collectSecs"], 2);
    assert_eq!(result["missing"], serde_json::json!([]));
    assert_eq!(result["incomplete"], serde_json::json!([]));
    assert_eq!(result["summary"]["edges"], expected.len());
    let topology = result["topology"].as_object().unwrap();
    assert_eq!(topology.keys().cloned().collect::<BTreeSet<_>>(), ids);
    for (id, node) in topology {
        let (inbound, outbound) = &before[id];
        let listed = |k: &str| -> BTreeSet<String> {
            node[k].as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(&listed("inboundPeers"), inbound, "{id}");
        assert_eq!(&listed("outboundPeers"), outbound, "{id}");
    }

    // The GraphML, through networkx: exactly the nodes and the connections, with
    // OverlaySurvey.py's attribute names and types.
    let g = networkx_read(&out_json.with_extension("graphml"));
    assert_eq!(g["directed"], true);
    let nodes = g["nodes"].as_object().unwrap();
    assert_eq!(nodes.keys().cloned().collect::<BTreeSet<_>>(), ids);
    let edges: BTreeSet<(String, String)> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap().to_string(),
                e[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(edges, expected);
    for (id, attrs) in nodes {
        let mut want: BTreeSet<&str> = NODE_KEYS
            .iter()
            .copied()
            .filter(|k| *k != "inboundPeers" && *k != "outboundPeers")
            .collect();
        want.insert("version");
        assert_eq!(keys(attrs), want, "{id}");
        assert_eq!(attrs["isValidator"], true);
        assert_eq!(
            attrs["numTotalOutboundPeers"].as_u64().unwrap() as usize,
            before[id].1.len()
        );
    }
    let edge_keys: BTreeSet<&str> = PEER_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "nodeId" && *k != "version")
        .collect();
    for e in g["edges"].as_array().unwrap() {
        assert_eq!(keys(&e[2]), edge_keys, "{e}");
        assert!(e[2]["messagesRead"].as_u64().unwrap() > 0, "{e}");
    }
    let types = &g["types"];
    assert_eq!(types["isValidator"], "bool");
    assert_eq!(types["version"], "str");
    assert_eq!(types["bytesRead"], "int");
    assert_eq!(types["numTotalInboundPeers"], "int");

    // A second survey while this one is reporting is refused, saying what to do.
    let cmd = survey_command(surveyor, &dir.join("again.json"));
    let out = tokio::task::spawn_blocking(move || run_for(cmd, Duration::from_secs(30)))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Another survey is active on the network")
            && stderr.contains("--from report"),
        "{stderr}"
    );
    net.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("survey command test took {:?}", started.elapsed());
}

#[test]
fn the_survey_command_says_what_to_do_when_the_node_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Nothing listens there any more.
    let out_file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("unreachable.json");
    let out = run_for(survey_command(port, &out_file), Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot reach the admin API") && stderr.contains("HTTP_PORT"),
        "{stderr}"
    );
}
