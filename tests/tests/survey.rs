//! Time-sliced overlay surveys in the simulator (PROTOCOL.md §7): a whole survey of a
//! 40-node network against the true topology and link counters, silent nodes reported
//! missing, the relay limiter under a request flood, the phase timeouts in virtual time,
//! stellar-core's manual `surveytopologytimesliced` flow, and sealed boxes cross-checked
//! with libsodium (`sodium-native` through `tests/interop-js/sealed_box.mjs`).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use overlay_core::auth::NodeId;
use overlay_core::peer::DropReason;
use overlay_core::sim::{Network, SimConfig};
use overlay_core::survey::{
    self, Reject, SEAL_OVERHEAD, SurveyPhase, SurveyPlan, SurveyReport, SurveyStage,
};
use overlay_core::wire::{ErrorCode, StellarMessage, SurveyResponseBody, TimeSlicedNodeData};
use overlay_core::{NodeKey, Role};

const LATENCY: Duration = Duration::from_millis(20);
const SEC: Duration = Duration::from_secs(1);

/// A fixed topology with surveys sped up 5×: requests every 3 s, a ledger a second.
fn config(seed: u64) -> SimConfig {
    let mut c = tests::fixed_topology(seed, LATENCY);
    c.overlay.survey.throttle_timeout = 3 * SEC;
    c
}

fn fast_plan(nonce: u32, collect_for: Duration) -> SurveyPlan {
    SurveyPlan {
        stop_wait: 5 * SEC,
        round: 3 * SEC,
        response_timeout: 6 * SEC,
        ..SurveyPlan::new(nonce, collect_for)
    }
}

/// Every authenticated connection, as (initiator, acceptor).
fn true_edges(net: &Network) -> BTreeSet<(NodeId, NodeId)> {
    let mut e = BTreeSet::new();
    for i in 0..net.len() {
        let me = net.node_id(i);
        for (_, other, role) in net.nodes[i].overlay.authenticated() {
            match role {
                Role::Initiator => e.insert((me, other)),
                Role::Acceptor => e.insert((other, me)),
            };
        }
    }
    e
}

fn index_of(net: &Network) -> BTreeMap<NodeId, usize> {
    (0..net.len()).map(|i| (net.node_id(i), i)).collect()
}

#[test]
fn a_40_node_survey_yields_the_true_topology_and_link_counters() {
    let mut net = Network::new(config(11));
    // 39 nodes of degree 4, and a hub that 30 of them dial: 30 inbound peers need two pages.
    net.random_regular(39, 4);
    let hub = net.add_node();
    for i in 0..30 {
        net.connect(i, hub);
    }
    net.set_survey_quorum(&[0]);
    net.close_ledgers_every(SEC);
    net.run_for(2 * SEC);
    let truth = true_edges(&net);
    assert_eq!(
        truth.len(),
        39 * 4 / 2 + 30,
        "every connection authenticated"
    );

    let collect = Duration::from_secs(40);
    net.start_survey(0, fast_plan(0xC0FFEE, collect)).unwrap();
    net.run_for(SEC);
    assert!(
        (0..net.len()).all(|i| net.nodes[i].overlay.survey_phase() == SurveyPhase::Collecting),
        "START reached every node"
    );
    // Traffic while collecting: an SCP message from a different node every 2 s.
    let link_bytes_before: BTreeMap<(usize, usize), u64> = (0..net.len())
        .flat_map(|a| (0..net.len()).map(move |b| (a, b)))
        .map(|(a, b)| ((a, b), net.link_bytes(a, b)))
        .collect();
    let mut injected = Vec::new();
    for k in 0..18u64 {
        let from = (k as usize * 7) % net.len();
        injected.push((from, net.inject_scp(from, 1000 + k)));
        net.run_for(2 * SEC);
    }
    let finished = net.run_while_not(Duration::from_secs(600), |n| {
        !n.nodes[0].stats.surveys_finished.is_empty()
    });
    assert!(finished, "the survey ended");
    let report: SurveyReport = net.nodes[0].overlay.survey_report().unwrap().clone();
    let ids = index_of(&net);

    // Every node answered, every page was collected, nothing is missing.
    assert!(report.missing.is_empty(), "missing: {:?}", report.missing);
    assert!(report.bad_response.is_empty());
    assert_eq!(report.nodes.len(), 40);
    assert!(report.nodes.values().all(|n| n.is_complete()));
    let hub_report = &report.nodes[&net.node_id(hub)];
    assert_eq!(hub_report.node_data.total_inbound_peer_count, 30);
    assert_eq!(hub_report.inbound.len(), 30);

    // Exactly the true topology, each connection seen from both of its ends.
    assert_eq!(report.edges(), truth);
    for (a, b) in &truth {
        assert!(
            report.nodes[a].outbound.contains_key(b),
            "{a:?} lists {b:?} outbound"
        );
        assert!(
            report.nodes[b].inbound.contains_key(a),
            "{b:?} lists {a:?} inbound"
        );
    }

    // Link counters: what one end wrote, the other end read, give or take the survey
    // messages in flight while START and STOP propagated; never more than the link
    // carried since the survey began; latency = the 2 × 20 ms round trip.
    let mut total_written = 0;
    for (a, b) in &truth {
        for (from, to) in [(a, b), (b, a)] {
            let sender = &report.nodes[from];
            let receiver = &report.nodes[to];
            let w = if from == a {
                &sender.outbound[to]
            } else {
                &sender.inbound[to]
            };
            let r = if from == a {
                &receiver.inbound[from]
            } else {
                &receiver.outbound[from]
            };
            assert!(w.messages_written > 0, "pings at least");
            let dm = w.messages_written.abs_diff(r.messages_read);
            let db = w.bytes_written.abs_diff(r.bytes_read);
            assert!(
                dm <= 2,
                "{from:?}->{to:?}: wrote {} read {}",
                w.messages_written,
                r.messages_read
            );
            assert!(
                db <= 600,
                "{from:?}->{to:?}: wrote {} B read {} B",
                w.bytes_written,
                r.bytes_read
            );
            let (fi, ti) = (ids[from], ids[to]);
            let carried = net.link_bytes(fi, ti) - link_bytes_before[&(fi, ti)];
            assert!(
                w.bytes_written <= carried + 600,
                "{} > {carried}",
                w.bytes_written
            );
            assert_eq!(w.average_latency_ms, 40, "median ping of {from:?}->{to:?}");
            assert_eq!(r.average_latency_ms, 40);
            assert!(w.seconds_connected >= collect.as_secs());
            total_written += w.messages_written;
        }
    }
    assert!(total_written > 0);

    // Flood counters: every SCP message injected while collecting reached each other node
    // new from exactly one peer (survey messages add a couple more).
    for (i, n) in net.nodes.iter().enumerate() {
        let r = &report.nodes[&n.overlay.node_id()];
        let unique: u64 = r
            .inbound
            .values()
            .chain(r.outbound.values())
            .map(|p| p.unique_flood_message_recv)
            .sum();
        let expected = injected.iter().filter(|(from, _)| *from != i).count() as u64;
        assert!(
            unique >= expected && unique <= expected + 2,
            "node {i}: {unique} unique flood messages, {expected} SCP"
        );
        assert_eq!(r.node_data.max_inbound_peer_count, 64);
        assert_eq!(r.node_data.max_outbound_peer_count, 8);
        assert_eq!(r.node_data.added_authenticated_peers, 0);
        assert_eq!(r.node_data.dropped_authenticated_peers, 0);
    }

    // Progress events went through the stages in order, and the run ended cleanly.
    let stages: Vec<SurveyStage> = net.nodes[0]
        .stats
        .survey_progress
        .iter()
        .map(|p| p.stage)
        .collect();
    let mut dedup = stages.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        [
            SurveyStage::Collecting,
            SurveyStage::Stopping,
            SurveyStage::Reporting
        ]
    );
    assert_eq!(net.nodes[0].stats.surveys_finished, [(0xC0FFEE, 39, 0)]);
    assert!(
        !net.nodes[0].overlay.survey_in_progress(),
        "the run's key is wiped"
    );
    let requests = net.nodes[0].overlay.survey_metrics().requests_sent;
    assert!(
        (40..=45).contains(&requests),
        "{requests} requests for 39 nodes + a page"
    );
}

#[test]
fn nodes_that_drop_survey_messages_are_reported_missing() {
    // stellar-core's timings this time: 5 s ledgers, requests every 15 s, the script's
    // 60 s wait after STOP and 15 s rounds.
    let mut cfg = config(5);
    cfg.overlay.survey = Default::default();
    let mut net = Network::new(cfg);
    let edges = net.random_regular(20, 4);
    net.set_survey_quorum(&[0]);
    let silent = [5usize, 11];
    for s in silent {
        net.ignore_surveys(s, true);
    }
    net.close_ledgers_every(5 * SEC);
    net.run_for(2 * SEC);

    let plan = SurveyPlan::new(7, Duration::from_secs(60));
    let retries = plan.max_retries as u64;
    let report = net
        .run_survey(0, plan, Duration::from_secs(1800))
        .unwrap()
        .expect("the survey ends");

    // Who the survey can reach: node 0's component once the silent nodes are removed.
    let mut adj = vec![Vec::new(); 20];
    for &(a, b) in &edges {
        if !silent.contains(&a) && !silent.contains(&b) {
            adj[a].push(b);
            adj[b].push(a);
        }
    }
    let mut reach = BTreeSet::from([0usize]);
    let mut q = VecDeque::from([0usize]);
    while let Some(x) = q.pop_front() {
        for &y in &adj[x] {
            if reach.insert(y) {
                q.push_back(y);
            }
        }
    }
    let answered: BTreeSet<NodeId> = report.nodes.keys().copied().collect();
    let expect_answered: BTreeSet<NodeId> = reach.iter().map(|i| net.node_id(*i)).collect();
    assert_eq!(answered, expect_answered);
    let expect_missing: BTreeSet<NodeId> = (0..20)
        .filter(|i| !reach.contains(i))
        .map(|i| net.node_id(i))
        .collect();
    assert!(expect_missing.contains(&net.node_id(5)) && expect_missing.contains(&net.node_id(11)));
    assert_eq!(
        report.missing, expect_missing,
        "silent nodes are missing, not absent"
    );
    // The silent ones were asked again before being given up on.
    let sent = net.nodes[0].overlay.survey_metrics().requests_sent;
    assert!(
        sent >= 19 + 2 * retries,
        "{sent} requests: each silent node retried {retries} times"
    );
    // They never saw a survey at all.
    for s in silent {
        assert_eq!(net.nodes[s].overlay.survey_phase(), SurveyPhase::Inactive);
        assert_eq!(net.nodes[s].overlay.survey_metrics().start_recv, 0);
    }
}

/// Node 0 surveys a line 0 — 1 — 2; returns the network in the reporting phase.
fn line_in_reporting(nonce: u32, surveyors: &[usize]) -> Network {
    let mut net = Network::new(config(3));
    for _ in 0..3 {
        net.add_node();
    }
    net.connect(0, 1);
    net.connect(1, 2);
    net.set_survey_quorum(surveyors);
    net.set_ledger(100);
    net.run_for(2 * SEC);
    net.start_survey_collecting(0, nonce).unwrap();
    net.run_for(SEC);
    net.stop_survey_collecting(0).unwrap();
    net.run_for(SEC);
    for i in 0..3 {
        assert!(net.nodes[i].overlay.survey_is_reporting(nonce));
    }
    net
}

#[test]
fn a_flood_of_survey_requests_beyond_the_limits_is_dropped_not_relayed() {
    let nonce = 99;
    // Twelve surveyors are permitted: node 0 and eleven outsiders signing through it.
    let outsiders: Vec<NodeKey> = (0..11).map(|k| NodeKey::from_seed([200 + k; 32])).collect();
    let mut net = line_in_reporting(nonce, &[0]);
    let mut quorum: Vec<NodeId> = outsiders.iter().map(|k| k.node_id()).collect();
    quorum.push(net.node_id(0));
    for i in 0..3 {
        net.nodes[i]
            .overlay
            .set_survey_quorum(quorum.iter().copied());
    }
    let key0 = net.node_key(0);
    let ledger = net.ledger();
    let relayed = |net: &Network| net.nodes[1].overlay.survey_metrics().request_relayed;
    let received_at_2 = |net: &Network| net.nodes[2].overlay.survey_metrics().request_recv;

    // A repeat is a duplicate; a request 7 ledgers ahead is outside the window.
    let first = survey::request_message(&key0, &NodeId([0; 32]), ledger, &[9; 32], nonce, 0, 0);
    let ahead = survey::request_message(&key0, &NodeId([0; 32]), ledger + 7, &[9; 32], nonce, 0, 0);
    for m in [&first, &first, &ahead] {
        assert!(net.send(0, 1, m));
    }
    net.run_for(SEC);
    assert_eq!(relayed(&net), 1);
    let m1 = net.nodes[1].overlay.survey_metrics();
    assert_eq!(m1.rejected(Reject::Duplicate), 1);
    assert_eq!(m1.rejected(Reject::LedgerWindow), 1);

    // 14 more requests from that surveyor for other nodes at that ledger: 9 pass node 1,
    // 10 surveyed nodes per (ledger, surveyor) in all.
    for t in 1..15u8 {
        let m = survey::request_message(&key0, &NodeId([t; 32]), ledger, &[9; 32], nonce, 0, 0);
        assert!(net.send(0, 1, &m));
    }
    net.run_for(SEC);
    assert_eq!(relayed(&net), 10);
    assert_eq!(received_at_2(&net), 10);
    let m1 = net.nodes[1].overlay.survey_metrics();
    assert_eq!(m1.rejected(Reject::TooManySurveyed), 5);

    // 12 surveyors at the next ledger: 10 pass.
    let next = ledger + 1;
    let mut all: Vec<NodeKey> = outsiders.clone();
    all.push(key0.clone());
    for k in &all {
        let m = survey::request_message(k, &NodeId([50; 32]), next, &[9; 32], nonce, 0, 0);
        net.send(0, 1, &m);
    }
    net.run_for(SEC);
    assert_eq!(relayed(&net), 20);
    assert_eq!(received_at_2(&net), 20);
    assert_eq!(
        net.nodes[1]
            .overlay
            .survey_metrics()
            .rejected(Reject::TooManySurveyors),
        2
    );

    // Responses nobody asked for are not relayed either.
    let stray =
        survey::response_message(&net.node_key(0), &NodeId([77; 32]), next, &[0; 64], nonce);
    net.send(0, 1, &stray);
    net.run_for(SEC);
    assert_eq!(net.nodes[1].overlay.survey_metrics().response_relayed, 0);
    assert_eq!(
        net.nodes[1]
            .overlay
            .survey_metrics()
            .rejected(Reject::UnknownRequest),
        1
    );

    // A bad signature costs the connection, with stellar-core's ERROR (checked last: at a
    // ledger whose limits are not reached yet).
    let mut forged =
        survey::request_message(&key0, &NodeId([60; 32]), ledger + 2, &[9; 32], nonce, 0, 0);
    let n = forged.len();
    forged[n - 1] ^= 1; // outboundPeersIndex: no longer what was signed
    net.send(0, 1, &forged);
    net.run_for(SEC);
    assert_eq!(
        net.nodes[1].stats.last_drop,
        Some(DropReason::SurveyBadSignature)
    );
    match &net.nodes[0].stats.last_drop {
        Some(DropReason::RemoteError { code, msg }) => {
            assert_eq!(*code, ErrorCode::Misc);
            assert_eq!(msg.as_str(), "Survey has invalid signature");
        }
        other => panic!("node 0 saw {other:?}"),
    }
    assert_eq!(relayed(&net), 20);
}

#[test]
fn survey_phases_time_out_after_30_minutes_and_3_hours() {
    let mut net = Network::new(config(4));
    for _ in 0..3 {
        net.add_node();
    }
    net.connect(0, 1);
    net.connect(1, 2);
    net.set_survey_quorum(&[0, 2]);
    net.run_for(2 * SEC);
    net.start_survey_collecting(0, 5).unwrap();
    net.run_for(SEC);
    let started = net.now();
    let all =
        |net: &Network, p: SurveyPhase| (0..3).all(|i| net.nodes[i].overlay.survey_phase() == p);
    assert!(all(&net, SurveyPhase::Collecting));
    // Another survey cannot start meanwhile, from anyone.
    assert!(net.start_survey_collecting(2, 6).is_err());

    net.run_until(started + Duration::from_secs(30 * 60 - 5));
    assert!(all(&net, SurveyPhase::Collecting));
    // Checked on the 3 s overlay tick: reporting within a tick after 30 minutes.
    net.run_until(started + Duration::from_secs(30 * 60 + 5));
    assert!(all(&net, SurveyPhase::Reporting));
    for i in 0..3 {
        assert!(net.nodes[i].overlay.survey_is_reporting(5));
        let d = net.nodes[i].overlay.survey_node_data().unwrap();
        assert_eq!(
            d.total_inbound_peer_count + d.total_outbound_peer_count,
            [1, 2, 1][i]
        );
    }
    let reporting = started + Duration::from_secs(30 * 60);
    net.run_until(reporting + Duration::from_secs(3 * 3600 - 10));
    assert!(all(&net, SurveyPhase::Reporting));
    net.run_until(reporting + Duration::from_secs(3 * 3600 + 10));
    assert!(all(&net, SurveyPhase::Inactive));
    // And a new survey can start.
    net.start_survey_collecting(2, 6).unwrap();
    net.run_for(SEC);
    assert!(all(&net, SurveyPhase::Collecting));
    assert_eq!(net.nodes[0].overlay.survey_active().map(|a| a.0), Some(6));
}

#[test]
fn scp_externalize_latencies_are_timed_from_the_first_externalize() {
    // A — B — C, 20 ms links. C externalizes at T, B at T+500 ms, A at T+1 s.
    let mut net = Network::new(config(8));
    for _ in 0..3 {
        net.add_node();
    }
    let (a, b, c) = (0, 1, 2);
    net.connect(a, b);
    net.connect(b, c);
    net.set_survey_quorum(&[a]);
    net.run_for(2 * SEC);
    net.start_survey_collecting(a, 3).unwrap();
    net.run_for(SEC);
    net.inject_externalize(c, 10);
    net.run_for(Duration::from_millis(500));
    net.inject_externalize(b, 10);
    net.run_for(Duration::from_millis(500));
    net.inject_externalize(a, 10);
    net.run_for(SEC);
    net.stop_survey_collecting(a).unwrap();
    net.run_for(SEC);
    let data = |i: usize| net.nodes[i].overlay.survey_node_data().unwrap();
    // First to self: own externalize minus the first one seen (C's, relayed).
    assert_eq!(data(c).p75_scp_first_to_self_latency_ms, 0);
    assert_eq!(data(b).p75_scp_first_to_self_latency_ms, 480);
    assert_eq!(data(a).p75_scp_first_to_self_latency_ms, 960);
    // Self to other: others' externalizes arriving after ours, timed from the first one.
    // B: A's at T+1020 ms, first at T+20. C: B's at T+520 and A's at T+1040, from T
    // (p75 by R-7: 520 + 0.75 × 520). A: nobody after it.
    assert_eq!(data(b).p75_scp_self_to_other_latency_ms, 1000);
    assert_eq!(data(c).p75_scp_self_to_other_latency_ms, 910);
    assert_eq!(data(a).p75_scp_self_to_other_latency_ms, 0);
}

#[test]
fn a_manual_survey_follows_stellar_cores_getsurveyresult() {
    let nonce = 0xCAFE;
    let mut net = line_in_reporting(nonce, &[0]);
    net.close_ledgers_every(SEC);
    let (b, c) = (net.node_id(1), net.node_id(2));
    let stranger = NodeKey::from_seed([99; 32]).node_id();
    // The first request starts the run.
    assert_eq!(net.survey_topology(0, b, 0, 0), Ok(true));
    assert_eq!(net.survey_topology(0, c, 0, 0), Ok(false));
    assert_eq!(net.survey_topology(0, stranger, 0, 0), Ok(false));
    assert!(net.survey_topology(0, c, 0, 0).is_err(), "already queued");
    assert!(
        net.survey_topology(0, net.node_id(0), 0, 0).is_err(),
        "self"
    );
    net.run_for(5 * SEC);
    let r = net.nodes[0].overlay.survey_results();
    assert!(r.survey_in_progress);
    assert!(r.backlog.is_empty());
    assert_eq!(r.topology.len(), 4, "self, B, C and the stranger");
    assert!(r.topology[&stranger].is_none(), "no answer: null");
    let rb = r.topology[&b].as_ref().unwrap();
    assert_eq!(rb.inbound_peers.len(), 1);
    assert_eq!(rb.outbound_peers.len(), 1);
    assert_eq!(rb.inbound_peers[0].node_id, net.node_id(0));
    assert_eq!(rb.outbound_peers[0].node_id, c);
    let rc = r.topology[&c].as_ref().unwrap();
    assert!(rc.outbound_peers.is_empty());
    assert_eq!(rc.inbound_peers[0].node_id, b);

    // Indices past the end give empty lists; asking again resets the entry to null.
    net.run_for(2 * SEC); // a later ledger: not a duplicate request
    assert_eq!(net.survey_topology(0, b, 1, 0), Ok(false));
    let r = net.nodes[0].overlay.survey_results();
    assert!(r.topology[&b].is_none());
    net.run_for(5 * SEC);
    let r = net.nodes[0].overlay.survey_results();
    let rb = r.topology[&b].as_ref().unwrap();
    assert!(rb.inbound_peers.is_empty());
    assert_eq!(rb.outbound_peers.len(), 1);
    assert_eq!(rb.node_data.total_inbound_peer_count, 1);

    // The JSON has stellar-core's field names.
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["surveyInProgress"], true);
    assert!(json["topology"][stranger.to_string()].is_null());
    let jb = &json["topology"][b.to_string()];
    assert!(
        jb["inboundPeers"].is_null(),
        "empty lists are null, as in stellar-core"
    );
    assert_eq!(jb["numTotalInboundPeers"], 1);
    assert_eq!(jb["outboundPeers"][0]["nodeId"], c.to_string());
    for field in [
        "addedAuthenticatedPeers",
        "droppedAuthenticatedPeers",
        "numTotalOutboundPeers",
        "p75SCPFirstToSelfLatencyMs",
        "p75SCPSelfToOtherLatencyMs",
        "lostSyncCount",
        "isValidator",
        "maxInboundPeerCount",
        "maxOutboundPeerCount",
    ] {
        assert!(jb.get(field).is_some(), "{field}");
    }
    let peer = &jb["outboundPeers"][0];
    for field in [
        "version",
        "messagesRead",
        "messagesWritten",
        "bytesRead",
        "bytesWritten",
        "secondsConnected",
        "uniqueFloodBytesRecv",
        "duplicateFloodBytesRecv",
        "uniqueFetchBytesRecv",
        "duplicateFetchBytesRecv",
        "uniqueFloodMessageRecv",
        "duplicateFloodMessageRecv",
        "uniqueFetchMessageRecv",
        "duplicateFetchMessageRecv",
        "averageLatencyMs",
    ] {
        assert!(peer.get(field).is_some(), "{field}");
    }

    // Stopping the run keeps the results; answers after that are not stored. B is asked
    // once more (a later ledger again) and the run stops while that request is on its
    // way: B's answer still comes back.
    let metrics = |net: &Network, i: usize| net.nodes[i].overlay.survey_metrics().clone();
    net.run_for(2 * SEC);
    assert_eq!(net.survey_topology(0, b, 0, 0), Ok(false));
    let requests = metrics(&net, 0).requests_sent;
    let answers = metrics(&net, 1).responses_sent;
    let asked_at = net.now();
    while metrics(&net, 0).requests_sent == requests {
        net.run_for(Duration::from_millis(1));
        assert!(net.now() - asked_at < 5 * SEC, "the request never left");
    }
    assert_eq!(
        metrics(&net, 1).responses_sent,
        answers,
        "B has not answered yet"
    );
    let kept = net.nodes[0].overlay.survey_results();
    net.nodes[0].overlay.stop_survey_reporting();
    let (received, stored) = (
        metrics(&net, 0).response_recv,
        metrics(&net, 0).responses_stored,
    );
    net.run_for(5 * SEC);
    assert_eq!(metrics(&net, 1).responses_sent, answers + 1, "B answered");
    assert!(
        metrics(&net, 0).response_recv > received,
        "B's answer reached the surveyor"
    );
    assert_eq!(
        metrics(&net, 0).responses_stored,
        stored,
        "and was not stored"
    );
    let r = net.nodes[0].overlay.survey_results();
    assert!(!r.survey_in_progress);
    assert!(r.topology[&b].is_none(), "still null: {:?}", r.topology[&b]);
    assert!(r.bad_response_nodes.is_empty(), "not a bad response either");
    assert_eq!(
        r.topology, kept.topology,
        "the results are kept as they were"
    );
    assert_eq!(r.topology.len(), 4);
}

// ----- sealed boxes against libsodium ---------------------------------------------------

fn sealed_box(args: &[&str], stdin: &[u8]) -> Option<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop-js");
    assert!(
        dir.join("node_modules/sodium-native").exists(),
        "sodium-native is not installed: run `npm ci` in {}",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg("sealed_box.mjs")
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node must be installed to cross-check sealed boxes");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(hex(stdin).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    out.status
        .success()
        .then(|| unhex(std::str::from_utf8(&out.stdout).unwrap()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn sealed_boxes_interoperate_with_libsodium() {
    let secret = [0x42u8; 32];
    let public = survey::x25519_public(&secret);
    // libsodium derives the same public key.
    assert_eq!(sealed_box(&["public", &hex(&secret)], &[]).unwrap(), public);

    // A real survey answer sealed by us opens with libsodium.
    let mut net = line_in_reporting(1, &[0]);
    net.run_for(SEC);
    let data: TimeSlicedNodeData = net.nodes[1].overlay.survey_node_data().unwrap();
    let body = SurveyResponseBody {
        node_data: data,
        ..SurveyResponseBody::default()
    };
    let plain = body.to_vec();
    let ours = survey::seal(&public, &plain, [7; 32]);
    assert_eq!(ours.len(), plain.len() + SEAL_OVERHEAD);
    let opened = sealed_box(&["open", &hex(&public), &hex(&secret)], &ours)
        .expect("libsodium opens our box");
    assert_eq!(opened, plain);
    // A tampered box does not open there either.
    let mut bad = ours.clone();
    bad[50] ^= 0x80;
    assert!(sealed_box(&["open", &hex(&public), &hex(&secret)], &bad).is_none());

    // Boxes sealed by libsodium open with our code, up to the XDR bound.
    for len in [0usize, 1, 300, 64_000 - SEAL_OVERHEAD] {
        let msg: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let theirs = sealed_box(&["seal", &hex(&public)], &msg).unwrap();
        assert_eq!(theirs.len(), len + SEAL_OVERHEAD);
        assert_eq!(survey::open(&secret, &theirs), Some(msg));
        assert_eq!(survey::open(&[1; 32], &theirs), None);
    }

    // And a libsodium-sealed body decodes as a survey answer.
    let theirs = sealed_box(&["seal", &hex(&public)], &plain).unwrap();
    let opened = survey::open(&secret, &theirs).unwrap();
    assert_eq!(SurveyResponseBody::decode(&opened).unwrap(), body);
    // The message types decode as stellar-core encodes them (checked in overlay-core's XDR
    // cross-checks); a response carrying libsodium's box is well-formed too.
    let key = NodeKey::from_seed([3; 32]);
    let m = survey::response_message(&key, &net.node_id(0), 100, &theirs, 1);
    assert!(matches!(
        StellarMessage::decode(&m),
        Ok(StellarMessage::SurveyResponse(_))
    ));
}
