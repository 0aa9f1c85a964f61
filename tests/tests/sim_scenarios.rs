//! Many-node scenarios in virtual time on `overlay_core::sim`: flooding, pull mode,
//! fetching, outbound trimming, discovery, bans, partitions and determinism.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use overlay_core::Role;
use overlay_core::fetch::ItemKind;
use overlay_core::flow::Priority;
use overlay_core::sim::{LinkParams, Network, SimConfig};
use overlay_core::wire::MessageType;

const LATENCY: Duration = Duration::from_millis(20);

/// A fixed topology: nodes keep only the connections the scenario makes.
fn config(seed: u64) -> SimConfig {
    tests::fixed_topology(seed, LATENCY)
}

fn authenticated_links(net: &Network) -> u64 {
    net.nodes
        .iter()
        .map(|n| n.overlay.authenticated().count() as u64)
        .sum()
}

fn diameter(n: usize, edges: &[(usize, usize)]) -> usize {
    let mut adj = vec![Vec::new(); n];
    for &(a, b) in edges {
        adj[a].push(b);
        adj[b].push(a);
    }
    (0..n)
        .map(|s| {
            let mut dist = vec![usize::MAX; n];
            dist[s] = 0;
            let mut q = VecDeque::from([s]);
            while let Some(x) = q.pop_front() {
                for &y in &adj[x] {
                    if dist[y] == usize::MAX {
                        dist[y] = dist[x] + 1;
                        q.push_back(y);
                    }
                }
            }
            dist.into_iter().max().unwrap()
        })
        .max()
        .unwrap()
}

#[test]
fn scp_floods_a_100_node_random_8_regular_graph() {
    let mut net = Network::new(config(7));
    let edges = net.random_regular(100, 8);
    net.run_for(Duration::from_secs(2));
    assert_eq!(
        authenticated_links(&net),
        800,
        "every edge authenticated at both ends"
    );

    let k = net.inject_scp(0, 42);
    let start = net.now();
    assert!(net.run_while_not(Duration::from_secs(10), |n| n.scp_reach(&k) == 100));
    let took = net.now() - start;
    // Every hop costs one link latency; processing is immediate and links are idle.
    let d = diameter(100, &edges);
    assert!(
        took <= LATENCY * d as u32 + Duration::from_millis(5),
        "{took:?} for diameter {d}"
    );
    net.run_for(Duration::from_secs(1));

    // No node sent it twice to the same peer: each connection carried at most one copy,
    // and each node got it once from every neighbour but the ones it sent it to first.
    for n in &net.nodes {
        for (conn, _, _) in n.overlay.authenticated() {
            let s = n.overlay.conn_stats(conn).unwrap();
            let copies = s.unique_flood_message_recv + s.duplicate_flood_message_recv;
            assert!(copies <= 1, "a connection carried {copies} copies");
        }
    }
    let total: u64 = net
        .nodes
        .iter()
        .map(|n| n.overlay.metrics.flood_unique_recv + n.overlay.metrics.flood_duplicate_recv)
        .sum();
    assert!(
        total <= 800,
        "each of the 800 directed links carries the message at most once: {total}"
    );
    let unique: u64 = net
        .nodes
        .iter()
        .map(|n| n.overlay.metrics.flood_unique_recv)
        .sum();
    assert_eq!(unique, 99, "every other node received it new exactly once");
}

#[test]
fn a_tiered_network_floods_scp_from_a_watcher() {
    let mut net = Network::new(config(3));
    let validators = net.tiered(10, 40, 2);
    net.run_for(Duration::from_secs(2));
    assert_eq!(validators.len(), 10);
    let k = net.inject_scp(49, 7);
    assert!(net.run_while_not(Duration::from_secs(5), |n| n.scp_reach(&k) == 50));
}

#[test]
fn a_thousand_transactions_flood_100_nodes_in_pull_mode() {
    let mut net = Network::new(config(21));
    net.random_regular(100, 8);
    net.run_for(Duration::from_secs(2));
    // 1 000 transactions at random nodes over two seconds.
    let mut hashes = Vec::new();
    let mut pick = overlay_core::rng::Rng::from_u64(99);
    for i in 0..1000u64 {
        hashes.push(net.inject_tx(pick.index(100), i));
        if i % 5 == 4 {
            net.run_for(Duration::from_millis(10));
        }
    }
    assert!(net.run_while_not(Duration::from_secs(60), |n| {
        hashes.iter().all(|h| n.tx_reach(h) == 100)
    }));

    // Body bytes: each node should fetch each transaction once. Duplicates come only from
    // demands re-sent after a back-off while an answer was still in flight.
    let m = |f: fn(&overlay_core::overlay::OverlayMetrics) -> u64| {
        net.nodes.iter().map(|n| f(&n.overlay.metrics)).sum::<u64>()
    };
    let unique = m(|x| x.flood_unique_recv_bytes);
    let duplicate = m(|x| x.flood_duplicate_recv_bytes);
    let wire: u64 = (0..100)
        .flat_map(|a| (0..100).map(move |b| (a, b)))
        .map(|(a, b)| net.link_bytes(a, b))
        .sum();
    let dup_ratio = duplicate as f64 / unique as f64;
    let overhead = wire as f64 / unique as f64;
    println!(
        "pull mode, 100 nodes, 1000 txs: duplicate/unique body bytes {dup_ratio:.4}, all wire bytes per unique tx byte {overhead:.2}"
    );
    // Push flooding would hand every node a copy from nearly each of its 8 neighbours: a
    // duplicate ratio of about k - 1 = 7 and over 8 wire bytes per unique byte. Pull mode
    // moves each body about once and pays 32-byte hashes in adverts and demands instead.
    assert!(dup_ratio < 0.05, "duplicate ratio {dup_ratio}");
    assert!(overhead < 4.0, "wire overhead {overhead}");
}

/// A GENERALIZED_TX_SET StellarMessage with a 64-byte stand-in body, and its hash.
fn tx_set(tag: u8) -> (Vec<u8>, [u8; 32]) {
    let body = vec![tag; 64];
    let mut msg = (MessageType::GeneralizedTxSet as i32)
        .to_be_bytes()
        .to_vec();
    msg.extend_from_slice(&body);
    (msg, overlay_core::flood::sha256(&body))
}

#[test]
fn tx_set_fetch_after_dont_haves_and_a_timeout_then_an_unknown_item_backs_off_and_cancels() {
    let mut net = Network::new(config(5));
    for _ in 0..4 {
        net.add_node();
    }
    // X = 0 asks A = 1 and B = 2 (close, without the set) before C = 3 (far, with it).
    net.set_link(
        0,
        3,
        LinkParams {
            latency: Duration::from_millis(1000),
            ..LinkParams::default()
        },
    );
    for peer in 1..4 {
        net.connect(0, peer);
    }
    net.run_for(Duration::from_secs(12)); // long enough for latency pings to rank peers
    let (msg, h) = tx_set(1);
    net.nodes[3].overlay.provide_tx_set(h, &msg);

    net.fetch(0, ItemKind::TxSet, h, [9; 32], 1);
    let asked = net.now();
    assert!(net.run_while_not(Duration::from_secs(10), |n| {
        n.nodes[0].stats.items_fetched.contains(&h)
    }));
    let took = net.now() - asked;
    let m = net.nodes[0].overlay.fetch_metrics(ItemKind::TxSet).clone();
    assert_eq!(m.dont_haves, 2, "{m:?}");
    assert_eq!(m.timeouts, 1, "{m:?}");
    assert_eq!(m.completions, 1, "{m:?}");
    // C's answer takes a 2 s round trip: it lands after the 1.5 s ask timeout.
    assert!(
        took > Duration::from_millis(2000) && took < Duration::from_millis(2200),
        "{took:?}"
    );
    assert!(!net.nodes[0].overlay.is_fetching(ItemKind::TxSet, &h));

    // Nobody has this one: the fetcher keeps asking, with longer and longer pauses.
    let (_, unknown) = tx_set(2);
    net.fetch(0, ItemKind::TxSet, unknown, [8; 32], 1);
    let asks = |net: &Network| net.nodes[0].overlay.fetch_metrics(ItemKind::TxSet).asks;
    let before = asks(&net);
    net.run_for(Duration::from_secs(30));
    let first_30s = asks(&net) - before;
    net.run_for(Duration::from_secs(30));
    let second_30s = asks(&net) - before - first_30s;
    assert!(
        first_30s > second_30s && second_30s > 0,
        "back-off: {first_30s} then {second_30s} asks"
    );
    assert!(net.nodes[0].overlay.fetch_metrics(ItemKind::TxSet).rebuilds >= 3);
    // Cancelled cleanly: an event, then silence.
    net.stop_fetch(0, ItemKind::TxSet, unknown, [8; 32]);
    assert_eq!(net.nodes[0].stats.fetches_cancelled, vec![unknown]);
    let after_cancel = asks(&net);
    net.run_for(Duration::from_secs(60));
    assert_eq!(asks(&net), after_cancel);
    assert!(!net.nodes[0].overlay.is_fetching(ItemKind::TxSet, &unknown));
}

#[test]
fn a_slow_link_sheds_transactions_but_delivers_scp() {
    let mut c = config(9);
    c.overlay.peer.flow.max_tx_set_size_ops = 50;
    let mut net = Network::new(c);
    let (a, b) = (net.add_node(), net.add_node());
    // 4 kB/s with an 8 kB socket buffer: far below the flood rate below.
    net.set_link(
        a,
        b,
        LinkParams {
            latency: LATENCY,
            bandwidth: 4_000,
            send_buffer: 8_192,
            ..LinkParams::default()
        },
    );
    net.connect(b, a);
    net.run_for(Duration::from_secs(2));
    let mut scp = Vec::new();
    for i in 0..3000u64 {
        net.inject_tx(a, i);
        if i % 150 == 149 {
            scp.push(net.inject_scp(a, 100 + i));
            net.run_for(Duration::from_millis(100));
        }
    }
    assert!(net.run_while_not(Duration::from_secs(120), |n| {
        scp.iter().all(|k| n.scp_reach(k) == 2)
    }));
    let conn = net.nodes[a].overlay.conn_of(&net.node_id(b)).unwrap();
    let drops = net.nodes[a].overlay.peer(conn).unwrap().queue_drops();
    assert!(
        drops[Priority::Transaction as usize] > 0,
        "transactions were shed: {drops:?}"
    );
    assert_eq!(
        drops[Priority::Scp as usize],
        0,
        "no SCP message was: {drops:?}"
    );
    let got = net.nodes[b].stats.tx_seen.len();
    assert!(
        got < 3000,
        "B cannot have received everything over 4 kB/s: {got}"
    );
}

#[test]
fn thirty_nodes_discover_each_other_keep_preferred_peers_and_refuse_a_banned_one() {
    let mut c = config(13);
    c.overlay.auto_connect = true;
    let mut net = Network::new(c);
    for i in 0..30 {
        net.add_node_with(|o| {
            // Each node knows one address.
            o.known_peers = vec![Network::address(if i == 0 { 1 } else { 0 })];
            if i == 5 {
                o.preferred_peers = vec![Network::address(7)];
            }
            if i == 9 {
                o.known_peers.push(Network::address(3));
            }
        });
    }
    let banned = net.node_id(9);
    let now = net.now();
    net.nodes[3].overlay.ban(now, banned);
    net.run_for(Duration::from_secs(600));

    let target = net.nodes[0].overlay.config().limits.target_peer_connections;
    for (i, n) in net.nodes.iter().enumerate() {
        let outbound = n
            .overlay
            .authenticated()
            .filter(|(_, _, r)| *r == Role::Initiator)
            .count();
        let inbound = n
            .overlay
            .authenticated()
            .filter(|(_, _, r)| *r == Role::Acceptor)
            .count();
        // A node below its outbound target is already connected to everyone (a node every
        // other node dialled first has only inbound peers left to promote, and a second
        // connection to a connected node is refused as "already-connected").
        assert!(
            outbound == target || outbound + inbound == 29,
            "node {i}: {outbound} outbound, {inbound} inbound"
        );
        assert!(
            outbound + inbound >= target,
            "node {i}: {outbound} outbound, {inbound} inbound"
        );
        assert!(
            n.overlay.book().store().len() >= 25,
            "node {i} learned the network: {}",
            n.overlay.book().store().len()
        );
    }
    let learned: u64 = net
        .nodes
        .iter()
        .map(|n| n.overlay.metrics.peers_learned)
        .sum();
    assert!(learned > 100, "addresses learned through PEERS: {learned}");
    // The preferred peer stays connected.
    assert!(net.nodes[5].overlay.conn_of(&net.node_id(7)).is_some());
    // The banned node never got in.
    assert!(net.nodes[3].overlay.conn_of(&banned).is_none());
    assert!(net.nodes[9].overlay.conn_of(&net.node_id(3)).is_none());
    assert!(
        net.nodes[3]
            .overlay
            .metrics
            .drops
            .get("banned")
            .copied()
            .unwrap_or(0)
            > 0
    );
}

/// Two random 4-regular halves of 20 nodes joined by three links, connected.
fn two_halves(seed: u64) -> (Network, Vec<usize>, Vec<usize>) {
    let mut net = Network::new(config(seed));
    net.random_regular(20, 4);
    net.random_regular(20, 4);
    for (x, y) in [(0, 20), (5, 25), (10, 30)] {
        net.connect(x, y);
    }
    net.run_for(Duration::from_secs(2));
    (net, (0..20).collect(), (20..40).collect())
}

#[test]
fn a_partition_stops_flooding_and_healing_resumes_it() {
    let (mut net, left, right) = two_halves(17);
    net.partition(&left, &right);
    let k = net.inject_scp(3, 1);
    net.run_for(Duration::from_secs(5));
    let reached: BTreeSet<usize> = (0..40)
        .filter(|&i| net.nodes[i].stats.scp_seen.contains_key(&k))
        .collect();
    assert_eq!(
        reached,
        left.iter().copied().collect(),
        "the message stayed on its side"
    );

    net.heal();
    net.run_for(Duration::from_secs(2));
    let k2 = net.inject_scp(3, 2);
    assert!(net.run_while_not(Duration::from_secs(5), |n| n.scp_reach(&k2) == 40));
}

/// A silent partition: the links stop carrying bytes but no connection closes. A message
/// does not cross while it lasts; once healed (sooner than any peer timer), what waited in
/// the nodes' output crosses and the message reaches everyone over the same connections.
#[test]
fn a_silent_partition_holds_messages_back_until_it_heals() {
    let (mut net, left, right) = two_halves(18);
    let links = authenticated_links(&net);
    net.partition_silently(&left, &right);
    let k = net.inject_scp(3, 1);
    net.run_for(Duration::from_secs(5));
    let reached: BTreeSet<usize> = (0..40)
        .filter(|&i| net.nodes[i].stats.scp_seen.contains_key(&k))
        .collect();
    assert_eq!(reached, left.iter().copied().collect(), "nothing crossed");
    assert_eq!(
        authenticated_links(&net),
        links,
        "every connection still open"
    );

    net.heal();
    assert!(
        net.run_while_not(Duration::from_secs(2), |n| n.scp_reach(&k) == 40),
        "the held-back envelope crossed once healed"
    );
    assert_eq!(
        authenticated_links(&net),
        links,
        "over the same connections"
    );
    assert!(net.nodes.iter().all(|n| n.stats.dropped == 0));
}

fn scenario(seed: u64) -> ([u8; 32], u64) {
    let mut c = config(seed);
    c.link.jitter = Duration::from_millis(10);
    c.link.loss_ppm = 20_000;
    let mut net = Network::new(c);
    net.random_regular(30, 4);
    net.run_for(Duration::from_secs(2));
    for i in 0..40u64 {
        net.inject_tx((i as usize * 7) % 30, i);
        if i % 10 == 0 {
            net.inject_scp(i as usize % 30, i);
        }
        net.run_for(Duration::from_millis(20));
    }
    net.run_for(Duration::from_secs(5));
    (net.trace_hash(), net.deliveries)
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let a = scenario(1);
    let b = scenario(1);
    let c = scenario(2);
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert!(a.1 > 1000);
}

#[test]
fn killed_nodes_restart_and_rejoin() {
    let mut net = Network::new(config(23));
    net.full_mesh(5);
    net.run_for(Duration::from_secs(2));
    net.kill(4);
    net.run_for(Duration::from_secs(1));
    let k = net.inject_scp(0, 1);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.scp_reach(&k), 4);
    for n in 0..4 {
        assert!(net.nodes[n].overlay.conn_of(&net.node_id(4)).is_none());
    }
    net.restart(4);
    for n in 0..4 {
        net.connect(4, n);
    }
    net.run_for(Duration::from_secs(2));
    // On reconnecting, node 4 asks for SCP state (GET_SCP_STATE) and catches up.
    assert!(net.nodes[4].stats.scp_seen.contains_key(&k));
    let k2 = net.inject_scp(1, 2);
    assert!(net.run_while_not(Duration::from_secs(2), |n| n.scp_reach(&k2) == 5));
}

#[test]
fn get_scp_state_is_answered_up_to_the_query_limit() {
    let mut net = Network::new(config(29));
    net.full_mesh(2);
    net.run_for(Duration::from_secs(1));
    net.inject_scp(1, 5);
    net.inject_scp(1, 6);
    net.run_for(Duration::from_secs(1));
    let conn = net.nodes[0].overlay.conn_of(&net.node_id(1)).unwrap();
    let before = net.nodes[0].overlay.conn_stats(conn).unwrap();
    let mut ask = (MessageType::GetScpState as i32).to_be_bytes().to_vec();
    ask.extend_from_slice(&0u32.to_be_bytes());
    for _ in 0..15 {
        assert!(net.send(0, 1, &ask));
    }
    net.run_for(Duration::from_secs(1));
    let after = net.nodes[0].overlay.conn_stats(conn).unwrap();
    let got = (after.unique_flood_message_recv + after.duplicate_flood_message_recv)
        - (before.unique_flood_message_recv + before.duplicate_flood_message_recv);
    // 10 GET_SCP_STATE per window are served, the one sent after the handshake included:
    // 9 more answered (2 envelopes each), the other 6 ignored, the connection kept.
    assert_eq!(got, 18);
    assert_eq!(net.nodes[1].overlay.metrics.queries_ignored, 6);
    assert!(net.nodes[0].overlay.conn_of(&net.node_id(1)).is_some());
}

/// PROTOCOL §6.5 step 5: a node out of sync with its outbound slots full drops one random
/// non-preferred outbound peer per `OUT_OF_SYNC_RECONNECT_DELAY` (after waiting one delay
/// first), keeps its preferred peer, and refills the slot; in sync, it drops nobody.
#[test]
fn an_out_of_sync_node_drops_a_random_outbound_peer_each_minute_but_never_its_preferred() {
    let mut c = config(21);
    c.overlay.auto_connect = true;
    let mut net = Network::new(c);
    let n = 12;
    for i in 0..n {
        net.add_node_with(|o| {
            o.known_peers = (0..n).filter(|&j| j != i).map(Network::address).collect();
            if i == 0 {
                o.limits.target_peer_connections = 3;
                o.preferred_peers = vec![Network::address(1)];
            } else {
                // Few enough connections that node 0 has someone new to dial.
                o.limits.target_peer_connections = 2;
            }
        });
    }
    let outbound = |net: &Network, i: usize| {
        net.nodes[i]
            .overlay
            .authenticated()
            .filter(|(_, _, r)| *r == Role::Initiator)
            .count()
    };
    let out_of_sync = |net: &Network, i: usize| {
        net.nodes[i]
            .overlay
            .metrics
            .drops
            .get("out-of-sync")
            .copied()
            .unwrap_or(0)
    };
    net.run_for(Duration::from_secs(30));
    assert_eq!(outbound(&net, 0), 3);
    let preferred = net.nodes[0].overlay.conn_of(&net.node_id(1)).unwrap();

    // In sync (the default): nobody is dropped however long it runs.
    net.run_for(Duration::from_secs(200));
    assert_eq!(out_of_sync(&net, 0), 0);

    net.nodes[0].overlay.set_synced(false);
    // The first delay is the application's to recover in.
    net.run_for(Duration::from_secs(55));
    assert_eq!(out_of_sync(&net, 0), 0);
    // Then one drop per delay (3 s ticks: at about 63 s, 126 s, 189 s).
    net.run_for(Duration::from_secs(145));
    let drops = out_of_sync(&net, 0);
    assert!(
        (2..=3).contains(&drops),
        "{drops} out-of-sync drops in 200 s"
    );
    assert_eq!(
        net.nodes[0].overlay.conn_of(&net.node_id(1)),
        Some(preferred),
        "the preferred peer is never the one dropped"
    );
    net.run_for(Duration::from_secs(10));
    assert_eq!(outbound(&net, 0), 3, "the freed slot is dialled again");
    for i in 1..n {
        assert_eq!(out_of_sync(&net, i), 0, "node {i} is in sync");
    }

    net.nodes[0].overlay.set_synced(true);
    let before = out_of_sync(&net, 0);
    net.run_for(Duration::from_secs(200));
    assert_eq!(out_of_sync(&net, 0), before, "back in sync: no more drops");
}

/// A transaction the application rejects is not demanded again from the other peers that
/// advertise it (stellar-core discards adverts of banned transactions), and demands for it
/// count as `unfulfilled-banned`.
#[test]
fn a_rejected_transaction_is_not_demanded_again() {
    let mut net = Network::new(config(31));
    // Node 3 hears of the transaction from nodes 0, 1 and 2.
    net.full_mesh(4);
    net.run_for(Duration::from_secs(2));
    net.nodes[3].rejects_transactions = true;
    let h = net.inject_tx(0, 1);
    net.run_for(Duration::from_secs(20));
    assert_eq!(net.tx_reach(&h), 4);
    let n3 = &net.nodes[3].overlay;
    assert!(n3.is_rejected_transaction(&h));
    assert_eq!(n3.pull_metrics().demanded, 1, "asked once, from one peer");
    assert_eq!(n3.metrics.flood_duplicate_recv, 0, "the body came once");
    // Demanding it of node 3 finds it rejected, not unknown.
    let demand =
        overlay_core::wire::StellarMessage::FloodDemand(overlay_core::wire::TxHashes::new(&[h]))
            .to_vec();
    assert!(net.send(0, 3, &demand));
    net.run_for(Duration::from_secs(1));
    let m = net.nodes[3].overlay.pull_metrics();
    assert_eq!((m.unfulfilled_banned, m.unfulfilled_unknown), (1, 0));
}

/// A preferred peer that comes up while every outbound slot is taken gets in and evicts a
/// non-preferred peer (stellar-core's `acceptAuthenticatedPeer`, ERR_LOAD "preferred peer
/// selected instead"); the preferred peer itself is never the one evicted.
#[test]
fn a_preferred_peer_evicts_a_non_preferred_one_when_slots_are_full() {
    let mut c = config(41);
    c.overlay.auto_connect = true;
    let mut net = Network::new(c);
    for i in 0..5 {
        net.add_node_with(|o| {
            if i == 0 {
                o.limits.target_peer_connections = 2;
                o.known_peers = vec![
                    Network::address(1),
                    Network::address(2),
                    Network::address(4),
                ];
                o.preferred_peers = vec![Network::address(3)];
            } else {
                // The others only accept: node 0's choices alone shape its connections.
                o.auto_connect = false;
            }
        });
    }
    net.kill(3);
    net.run_for(Duration::from_secs(30));
    let outbound = |net: &Network| -> Vec<overlay_core::NodeId> {
        net.nodes[0]
            .overlay
            .authenticated()
            .filter(|(_, _, r)| *r == Role::Initiator)
            .map(|(_, n, _)| n)
            .collect()
    };
    let before = outbound(&net);
    assert_eq!(before.len(), 2, "slots full of non-preferred peers");
    assert!(!before.contains(&net.node_id(3)));
    let evicted = |net: &Network| {
        net.nodes[0]
            .overlay
            .metrics
            .drops
            .get("preferred-peer-selected")
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(evicted(&net), 0);

    net.restart(3);
    net.run_for(Duration::from_secs(60));
    let after = outbound(&net);
    assert!(
        after.contains(&net.node_id(3)),
        "the preferred peer got in: {after:?}"
    );
    assert_eq!(after.len(), 2, "still at the target: {after:?}");
    assert_eq!(evicted(&net), 1, "one non-preferred peer made room");
    // Kept: an hour later it is still connected and nobody else was evicted.
    let conn = net.nodes[0].overlay.conn_of(&net.node_id(3));
    net.run_for(Duration::from_secs(3600));
    assert_eq!(net.nodes[0].overlay.conn_of(&net.node_id(3)), conn);
    assert_eq!(evicted(&net), 1);
}

/// Out of sync, a node drops transaction flooding unprocessed (stellar-core's
/// `Peer::recvMessage`): adverts are not remembered, nothing is demanded, demands are not
/// answered; SCP still flows. Back in sync, transactions reach it again.
#[test]
fn an_out_of_sync_node_ignores_transaction_flooding_until_it_syncs() {
    let mut net = Network::new(config(51));
    net.ring(5);
    net.run_for(Duration::from_secs(2));
    net.nodes[2].overlay.set_synced(false);
    let h = net.inject_tx(0, 1);
    let k = net.inject_scp(0, 1);
    net.run_for(Duration::from_secs(10));
    // Node 2 sits between 1 and 3 on the ring: the transaction goes the other way round.
    assert_eq!(net.tx_reach(&h), 4, "everyone but node 2");
    assert!(!net.nodes[2].stats.tx_seen.contains_key(&h));
    assert_eq!(net.scp_reach(&k), 5, "SCP is not gated");
    let n2 = &net.nodes[2].overlay;
    assert_eq!(n2.pull_metrics().demanded, 0);
    assert!(
        n2.metrics.ignored_out_of_sync >= 2,
        "adverts from both neighbours"
    );

    net.nodes[2].overlay.set_synced(true);
    let h2 = net.inject_tx(0, 2);
    assert!(net.run_while_not(Duration::from_secs(10), |n| n.tx_reach(&h2) == 5));
}
