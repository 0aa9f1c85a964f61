//! host-wasm's JS API, run by `wasm-bindgen-test-runner` under Node (default) and in
//! headless Chromium (`WASM_BINDGEN_USE_BROWSER=1`, chromedriver on PATH).
//!
//! `BrowserPeer` runs here against the core's own `Peer` as the node, over a stand-in
//! WebSocket; `Demo` records a small network. Native/wasm parity of whole scenarios is
//! checked in `tests/tests/wasm_parity.rs`; the browser peer's handshake with a real node
//! through the bridge in `tests/tests/browser.rs`.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use host_wasm::{
    BrowserPeer, Demo, DemoParamsJs, Simulation, bench_receive_path, scenario_scp_flood,
};
use js_sys::{Array, Float64Array, Function, Promise, Reflect, Uint8Array};
use overlay_core::wire::{MessageType, StellarMessage};
use overlay_core::{
    AcceptAll, DropReason, Event, Instant, LocalNode, NetworkId, NodeKey, Peer, PeerConfig,
    PeerSetup, RemoteInfo, Role, WallClock,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

fn num(v: &JsValue, key: &str) -> f64 {
    get(v, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

fn text(v: &JsValue, key: &str) -> String {
    get(v, key)
        .as_string()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn mesh(seed: u32, n: u32) -> Simulation {
    let mut sim = Simulation::new(seed, 20, 5, 0, 0);
    sim.full_mesh(n);
    sim.run_for(2_000.0);
    sim
}

#[wasm_bindgen_test]
fn a_flood_reaches_every_node_and_runs_repeat_exactly() {
    let mut a = mesh(7, 8);
    let mut b = mesh(7, 8);
    let key = a.inject_scp(3, 1);
    assert_eq!(key, b.inject_scp(3, 1));
    a.run_for(1_000.0);
    b.run_for(1_000.0);
    assert_eq!(a.reach(&key), 8);
    assert_eq!(a.trace_hash(), b.trace_hash());
    assert_eq!(a.now_ms(), b.now_ms());
    let mut c = mesh(8, 8);
    c.inject_scp(3, 1);
    c.run_for(1_000.0);
    assert_ne!(a.trace_hash(), c.trace_hash());
}

#[wasm_bindgen_test]
fn a_partition_stops_floods_until_healed() {
    let mut sim = mesh(3, 6);
    sim.partition(vec![0, 1, 2], vec![3, 4, 5]);
    sim.run_for(1_000.0);
    let cut = sim.inject_scp(0, 1);
    sim.run_for(2_000.0);
    assert_eq!(sim.reach(&cut), 3);
    sim.heal();
    sim.run_for(5_000.0);
    let healed = sim.inject_scp(0, 2);
    sim.run_for(2_000.0);
    assert_eq!(sim.reach(&healed), 6);
}

#[wasm_bindgen_test]
fn metrics_and_links_describe_the_network() {
    let mut sim = mesh(5, 5);
    let tx = sim.inject_tx(1, 0);
    sim.run_for(3_000.0);
    assert_eq!(sim.reach(&tx), 5);
    // A full mesh of 5: every node holds 4 authenticated connections, 20 directed links.
    let links = sim.links();
    assert_eq!(links.length(), 20);
    for l in links.iter() {
        assert!(get(&l, "bytes").as_f64().unwrap() > 0.0);
        assert_ne!(get(&l, "from"), get(&l, "to"));
    }
    let m = sim.node_metrics(1);
    assert_eq!(get(&m, "authenticated").as_f64(), Some(4.0));
    assert_eq!(get(&m, "txSeen").as_f64(), Some(1.0));
    assert!(get(&m, "advertised").as_f64().unwrap() >= 1.0);
    assert!(get(&m, "node").as_string().unwrap().starts_with('G'));
    assert!(sim.node_metrics(99).is_null());
    assert_eq!(sim.everywhere(), 1);
}

#[wasm_bindgen_test]
fn the_shared_scenario_completes() {
    let o = scenario_scp_flood(2, 12);
    assert_eq!(get(&o, "complete"), JsValue::TRUE);
    assert_eq!(get(&o, "trace").as_string().unwrap().len(), 64);
    assert_eq!(get(&scenario_scp_flood(2, 12), "trace"), get(&o, "trace"));
}

/// Resolves with the first event of one of `types`, collecting every event before it.
fn first_event(types: &'static [&'static str]) -> (Function, Promise) {
    let mut resolve_slot = None;
    let promise = Promise::new(&mut |resolve, _| resolve_slot = Some(resolve));
    let resolve = resolve_slot.unwrap();
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        let t = get(&ev, "type").as_string().unwrap_or_default();
        if types.contains(&t.as_str()) {
            let _ = resolve.call1(&JsValue::NULL, &ev);
        }
    });
    (cb.into_js_value().unchecked_into(), promise)
}

fn has_websocket() -> bool {
    Reflect::has(&js_sys::global(), &JsValue::from_str("WebSocket")).unwrap_or(false)
}

#[wasm_bindgen_test]
async fn a_browser_peer_reports_a_bridge_it_cannot_reach() {
    let (cb, done) = first_event(&["closed"]);
    // Port 9 (discard) on loopback: nothing listens.
    let peer = BrowserPeer::new(
        "ws://127.0.0.1:9/connect?target=127.0.0.1:11625",
        "127.0.0.1:11625",
        "Standalone Network ; February 2017",
        cb,
    );
    if !has_websocket() {
        // Node 20 has no WebSocket: a clear error, not a panic.
        assert!(peer.is_err());
        return;
    }
    let peer = peer.unwrap();
    assert!(peer.node_id().starts_with('G'));
    assert!(!peer.is_authenticated());
    assert!(
        peer.send_get_scp_state(0).is_err(),
        "nothing to send on yet"
    );
    let closed = JsFuture::from(done).await.unwrap();
    assert_eq!(get(&closed, "byRemote"), JsValue::TRUE);
    assert_eq!(get(&closed, "wsCode").as_f64(), Some(1006.0));
    assert!(peer.credit().is_null());
}

#[wasm_bindgen_test]
fn each_browser_peer_has_its_own_identity() {
    if !has_websocket() {
        return;
    }
    let noop: Function = Function::new_no_args("");
    let url = "ws://127.0.0.1:9/connect?target=127.0.0.1:11625";
    let a = BrowserPeer::new(url, "127.0.0.1:11625", "x", noop.clone()).unwrap();
    let b = BrowserPeer::new(url, "127.0.0.1:11625", "x", noop).unwrap();
    assert_ne!(a.node_id(), b.node_id());
    // Not a WebSocket URL: the constructor's SyntaxError comes back as an error.
    assert!(BrowserPeer::new("ftp://example.com/", "", "x", Function::new_no_args("")).is_err());
}

#[wasm_bindgen_test]
fn the_receive_benchmark_delivers_every_message() {
    let r = bench_receive_path(4);
    assert_eq!(get(&r, "messages").as_f64(), Some(600.0));
    assert!(get(&r, "receiveMessagesPerSec").as_f64().unwrap() > 0.0);
    assert!(get(&r, "ratioToHmac").as_f64().unwrap() > 0.0);
    assert!(get(&r, "hmacMessagesPerSec").as_f64().unwrap() > 0.0);
}

// ----- BrowserPeer against the core's own peer, over a stand-in WebSocket -----------------

const PASSPHRASE: &str = "Standalone Network ; February 2017";

/// Keeps what the peer sends; the test fires the socket's events itself.
const FAKE_WEBSOCKET: &str = "(class FakeWebSocket {
  constructor(url) {
    this.url = url; this.readyState = 0; this.binaryType = 'blob'; this.sent = []; this.closed = false;
    FakeWebSocket.last = this;
  }
  send(bytes) { this.sent.push(new Uint8Array(bytes)); }
  close() { this.readyState = 3; this.closed = true; }
})";

/// The page: a BrowserPeer on a stand-in WebSocket, and every event it reported.
struct Page {
    peer: BrowserPeer,
    ws: JsValue,
    events: Array,
}

impl Page {
    /// Creates the peer with `FakeWebSocket` as the global `WebSocket` for the constructor
    /// call only (the real one, if any, is put back at once), then opens the socket.
    fn open(passphrase: &str) -> Page {
        let global = js_sys::global();
        let key = JsValue::from_str("WebSocket");
        let real = Reflect::get(&global, &key).unwrap();
        let had = Reflect::has(&global, &key).unwrap();
        let fake = js_sys::eval(FAKE_WEBSOCKET).unwrap();
        Reflect::set(&global, &key, &fake).unwrap();
        let events = Array::new();
        let sink = events.clone();
        let on_event = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            sink.push(&ev);
        });
        let peer = BrowserPeer::new(
            "ws://bridge.invalid/connect?target=127.0.0.1:11625",
            "127.0.0.1:11625",
            passphrase,
            on_event.into_js_value().unchecked_into(),
        );
        if had {
            Reflect::set(&global, &key, &real).unwrap();
        } else {
            Reflect::delete_property(global.unchecked_ref::<js_sys::Object>(), &key).unwrap();
        }
        let page = Page {
            peer: peer.unwrap(),
            ws: get(&fake, "last"),
            events,
        };
        assert_eq!(get(&page.ws, "binaryType"), "arraybuffer");
        Reflect::set(&page.ws, &"readyState".into(), &JsValue::from(1)).unwrap();
        page.fire("onopen", &js_sys::Object::new());
        page
    }

    fn fire(&self, handler: &str, ev: &JsValue) {
        let f: Function = get(&self.ws, handler).dyn_into().unwrap();
        f.call1(&self.ws, ev).unwrap();
    }

    /// Everything the peer sent since the last call.
    fn take_sent(&self) -> Vec<u8> {
        let sent: Array = get(&self.ws, "sent").dyn_into().unwrap();
        Reflect::set(&self.ws, &"sent".into(), &Array::new()).unwrap();
        sent.iter()
            .flat_map(|c| c.unchecked_into::<Uint8Array>().to_vec())
            .collect()
    }

    /// Bytes from the node, as the bridge's WebSocket hands them over.
    fn deliver(&self, bytes: &[u8]) {
        let ctor: Function = get(&js_sys::global(), "MessageEvent").dyn_into().unwrap();
        let init = js_sys::Object::new();
        Reflect::set(&init, &"data".into(), &Uint8Array::from(bytes).buffer()).unwrap();
        let ev = Reflect::construct(&ctor, &Array::of2(&"message".into(), &init)).unwrap();
        self.fire("onmessage", &ev);
    }

    fn of_type(&self, t: &str) -> Vec<JsValue> {
        self.events
            .iter()
            .filter(|e| text(e, "type") == t)
            .collect()
    }

    fn one(&self, t: &str) -> JsValue {
        let all = self.of_type(t);
        assert_eq!(all.len(), 1, "one {t} event expected");
        all[0].clone()
    }

    /// The `message` events of one type.
    fn messages(&self, ty: MessageType) -> Vec<JsValue> {
        self.of_type("message")
            .into_iter()
            .filter(|e| text(e, "messageType") == ty.name())
            .collect()
    }
}

/// A node's end of the connection: the core's peer as the acceptor, as a node runs it.
struct Node {
    peer: Peer,
    /// The browser as the node saw it in its HELLO.
    hello: Option<RemoteInfo>,
    authenticated: bool,
    closed: Option<DropReason>,
    received: Vec<MessageType>,
}

impl Node {
    fn new(passphrase: &str) -> Node {
        Node::with_clock(passphrase, 0)
    }

    /// A node whose wall clock is `behind_secs` late (its AuthCert expires that much early).
    fn with_clock(passphrase: &str, behind_secs: u64) -> Node {
        let local = Arc::new(LocalNode::new(
            NodeKey::from_seed([7; 32]),
            NetworkId::from_passphrase(passphrase),
            [8; 32],
        ));
        let unix = (js_sys::Date::now() / 1000.0) as u64 - behind_secs;
        let cert = local.issue_cert(unix);
        let peer = Peer::new(
            PeerSetup {
                role: Role::Acceptor,
                local,
                cert,
                nonce: [9; 32],
                remote_address: Some(([127, 0, 0, 1], 40_000).into()),
                config: PeerConfig::default(),
                clock: WallClock::new(Instant::ZERO, unix),
            },
            Instant::ZERO,
        );
        Node {
            peer,
            hello: None,
            authenticated: false,
            closed: None,
            received: Vec::new(),
        }
    }

    fn poll(&mut self) {
        while let Some(ev) = self.peer.poll(Instant::ZERO, &mut AcceptAll) {
            match ev {
                Event::Hello(r) => self.hello = Some(r),
                Event::Authenticated(_) => self.authenticated = true,
                Event::Message(m) => self.received.push(m.message.message_type()),
                Event::CreditGranted(_) => {}
                Event::Closed(r) => self.closed = Some(r),
            }
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        self.poll();
        let mut out = Vec::new();
        while self.peer.poll_transmit(Instant::ZERO, &mut out) > 0 {}
        out
    }

    /// Moves bytes both ways until both ends are quiet.
    fn pump(&mut self, page: &Page) {
        for _ in 0..50 {
            let from_page = page.take_sent();
            let mut rest = &from_page[..];
            while !rest.is_empty() {
                let took = self.peer.handle_input(Instant::ZERO, rest);
                rest = &rest[took..];
                self.poll();
            }
            let to_page = self.take_output();
            if from_page.is_empty() && to_page.is_empty() {
                return;
            }
            if !to_page.is_empty() {
                page.deliver(&to_page);
            }
        }
        panic!("the two ends never went quiet");
    }
}

#[wasm_bindgen_test]
fn a_browser_peer_reports_which_messages_were_mac_checked() {
    let page = Page::open(PASSPHRASE);
    let mut node = Node::new(PASSPHRASE);
    node.pump(&page);
    assert!(page.peer.is_authenticated());
    assert!(node.authenticated, "the node admitted the browser");
    assert!(text(&page.one("open"), "url").starts_with("ws://bridge.invalid/"));

    // The HELLO carries no MAC: reported as not MACed, with no sequence.
    let hellos = page.messages(MessageType::Hello);
    assert_eq!(hellos.len(), 1);
    let hello = &hellos[0];
    assert!(get(hello, "macOk").is_null());
    assert!(get(hello, "sequence").is_null());
    assert!(num(hello, "size") > 0.0);
    let summary = get(hello, "summary");
    let remote = page.one("hello");
    assert_eq!(text(&summary, "node"), text(&remote, "node"));
    // Our HELLO's fields, as the node decoded them.
    let ours = node.hello.clone().unwrap();
    assert_eq!(text(&remote, "localNode"), ours.node_id.to_string());
    assert_eq!(text(&remote, "localNode"), page.peer.node_id());
    assert_eq!(text(&remote, "localVersionStr"), ours.version_str());
    assert_eq!(
        num(&remote, "localLedgerVersion"),
        f64::from(ours.ledger_version)
    );
    assert_eq!(
        num(&remote, "localOverlayVersion"),
        f64::from(ours.overlay_version)
    );
    assert_eq!(
        num(&remote, "localOverlayMinVersion"),
        f64::from(ours.overlay_min_version)
    );
    assert_eq!(
        num(&remote, "localListeningPort"),
        f64::from(ours.listening_port)
    );

    // AUTH is the first MACed message (sequence 0); its flags are the remote's.
    let auths = page.messages(MessageType::Auth);
    assert_eq!(auths.len(), 1);
    assert_eq!(get(&auths[0], "macOk"), JsValue::TRUE);
    assert_eq!(num(&auths[0], "sequence"), 0.0);
    let flags = num(&get(&auths[0], "summary"), "flags");
    let authenticated = page.one("authenticated");
    assert_eq!(num(&authenticated, "authFlags"), flags);
    assert_eq!(flags, 200.0);
    assert_eq!(num(&authenticated, "localAuthFlags"), 200.0);

    // What the node sends once authenticated: a transaction (flood, on our credit) and a
    // latency ping (GET_SCP_QUORUMSET), which the browser answers with DONT_HAVE.
    let env = overlay_core::sim::transaction_envelope(&ours.node_id, 1);
    node.peer
        .send(Instant::ZERO, &StellarMessage::Transaction(&env))
        .unwrap();
    node.peer
        .send(Instant::ZERO, &StellarMessage::GetScpQuorumSet(&[3; 32]))
        .unwrap();
    node.pump(&page);
    assert!(
        node.received.contains(&MessageType::DontHave),
        "{:?}",
        node.received
    );
    let tx = page.messages(MessageType::Transaction);
    assert_eq!(tx.len(), 1);
    assert_eq!(
        text(&get(&tx[0], "summary"), "source"),
        ours.node_id.to_string()
    );

    // Every message after the HELLO was checked, in sequence.
    let after: Vec<JsValue> = page
        .of_type("message")
        .into_iter()
        .filter(|e| text(e, "messageType") != "HELLO")
        .collect();
    assert!(
        after.len() >= 4,
        "AUTH, GET_SCP_STATE, TRANSACTION, GET_SCP_QUORUMSET"
    );
    let mut last = -1.0;
    for m in &after {
        assert_eq!(get(m, "macOk"), JsValue::TRUE, "{}", text(m, "messageType"));
        let seq = num(m, "sequence");
        assert!(seq > last, "sequence {seq} after {last}");
        last = seq;
    }

    // A frame whose MAC does not verify: no message, the connection closes, and says why.
    node.peer
        .send(Instant::ZERO, &StellarMessage::GetScpState(5))
        .unwrap();
    let mut bad = node.take_output();
    *bad.last_mut().unwrap() ^= 1;
    let before = page.of_type("message").len();
    page.deliver(&bad);
    assert_eq!(page.of_type("message").len(), before);
    let closed = page.one("closed");
    assert_eq!(get(&closed, "macOk"), JsValue::FALSE);
    assert_eq!(get(&closed, "byRemote"), JsValue::FALSE);
    assert_eq!(text(&closed, "errorCode"), "ERR_AUTH");
    assert_eq!(get(&page.ws, "closed"), JsValue::TRUE);
    // The page told the node before closing.
    node.pump(&page);
    assert!(
        matches!(node.closed, Some(DropReason::RemoteError { .. })),
        "{:?}",
        node.closed
    );
}

#[wasm_bindgen_test]
fn a_browser_peer_reports_the_remote_error_msg_as_not_maced() {
    let page = Page::open(PASSPHRASE);
    let mut node = Node::new(PASSPHRASE);
    node.pump(&page);
    assert!(page.peer.is_authenticated());
    node.peer.close(Instant::ZERO, DropReason::DroppedByUser);
    node.pump(&page);
    let errors = page.messages(MessageType::ErrorMsg);
    assert_eq!(errors.len(), 1);
    assert!(get(&errors[0], "macOk").is_null());
    assert!(get(&errors[0], "sequence").is_null());
    assert_eq!(text(&get(&errors[0], "summary"), "code"), "ERR_MISC");
    let closed = page.one("closed");
    assert_eq!(get(&closed, "byRemote"), JsValue::TRUE);
    assert_eq!(text(&closed, "errorCode"), "ERR_MISC");
    // Every MACed frame before it verified.
    assert_eq!(get(&closed, "macOk"), JsValue::TRUE);
    assert!(!page.peer.is_authenticated());
    assert_eq!(get(&page.ws, "closed"), JsValue::TRUE);
}

#[wasm_bindgen_test]
fn a_browser_peer_closed_before_any_mac_reports_none_checked() {
    // The node's AuthCert expired a day ago: the browser drops its HELLO, before any MAC
    // key exists (stellar-core sends no ERROR_MSG for that).
    let page = Page::open(PASSPHRASE);
    let mut node = Node::with_clock(PASSPHRASE, 86_400);
    node.pump(&page);
    assert!(node.hello.is_some(), "the node took the browser's HELLO");
    assert!(!page.peer.is_authenticated());
    assert!(page.of_type("hello").is_empty());
    assert!(page.of_type("message").is_empty());
    let closed = page.one("closed");
    assert!(get(&closed, "macOk").is_null());
    assert!(get(&closed, "errorCode").is_null());
    assert!(
        text(&closed, "reason").contains("expired"),
        "{}",
        text(&closed, "reason")
    );
    assert_eq!(get(&page.ws, "closed"), JsValue::TRUE);
}

// ----- Demo ---------------------------------------------------------------------------

fn demo(seed: u32) -> Demo {
    let params = js_sys::JSON::parse(&format!(
        r#"{{"topology":"random","nodes":12,"degree":4,"validators":3,"latencyMs":20,
            "jitterMs":5,"txPerSec":5,"slotMs":1000,"seed":{seed}}}"#
    ))
    .unwrap();
    Demo::new(params.unchecked_into::<DemoParamsJs>()).unwrap()
}

/// `take()`'s two arrays, in whole records.
fn records(demo: &mut Demo) -> (Vec<f64>, Vec<f64>) {
    let r = demo.take();
    assert_eq!(num(&r, "lost"), 0.0, "the buffers held everything");
    let frames = get(&r, "frames").unchecked_into::<Float64Array>().to_vec();
    let seen = get(&r, "seen").unchecked_into::<Float64Array>().to_vec();
    assert_eq!(frames.len() % 6, 0);
    assert_eq!(seen.len() % 4, 0);
    (frames, seen)
}

#[wasm_bindgen_test]
fn a_demo_records_frames_on_its_links_and_every_node_sights_every_item() {
    let mut d = demo(11);
    let nodes = d.node_count() as usize;
    assert_eq!(nodes, 12);
    let edges: BTreeSet<(usize, usize)> = d
        .edges()
        .to_vec()
        .chunks(2)
        .map(|e| (e[0].min(e[1]) as usize, e[0].max(e[1]) as usize))
        .collect();
    assert_eq!(edges.len(), 12 * 4 / 2, "a 4-regular graph on 12 nodes");

    d.record(1_000_000);
    // Items injected by 4 s have 6 s to reach everyone.
    d.advance_to(4_000_000.0);
    let (mut frames, mut seen) = records(&mut d);
    let early_until_ms = 4_000.0;
    d.advance_to(10_000_000.0);
    let (f2, s2) = records(&mut d);
    frames.extend(f2);
    seen.extend(s2);

    // Frames only on the topology's links, each taking at least the link latency.
    let mut bytes: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let mut handshakes: BTreeMap<i32, usize> = BTreeMap::new();
    assert!(!frames.is_empty());
    for f in frames.chunks(6) {
        let (sent, arrive, from, to, ty, size) =
            (f[0], f[1], f[2] as usize, f[3] as usize, f[4], f[5]);
        assert_ne!(from, to);
        assert!(
            edges.contains(&(from.min(to), from.max(to))),
            "frame on {from}-{to}"
        );
        assert!(arrive - sent >= 20.0 - 1e-9, "{sent} → {arrive}");
        assert!(MessageType::from_i32(ty as i32).is_ok(), "type {ty}");
        assert!(size > 4.0);
        *bytes.entry((from, to)).or_default() += size;
        *handshakes.entry(ty as i32).or_default() += 1;
    }
    // One HELLO and one AUTH each way per link: every connection handshook once.
    assert_eq!(handshakes[&(MessageType::Hello as i32)], 2 * edges.len());
    assert_eq!(handshakes[&(MessageType::Auth as i32)], 2 * edges.len());
    // What the frames add up to is what each connection end wrote.
    let states = d.link_states().to_vec();
    assert_eq!(states.len(), 8 * 2 * edges.len());
    for l in states.chunks(8) {
        let (from, to) = (l[0] as usize, l[1] as usize);
        assert_eq!(l[7], 1.0, "{from}→{to} authenticated");
        assert_eq!(bytes.get(&(from, to)).copied(), Some(l[2]), "{from}→{to}");
    }

    // Sightings: an item is known by its kind and injection time (sighting − latency).
    let mut items: BTreeMap<(bool, i64), BTreeSet<usize>> = BTreeMap::new();
    for s in seen.chunks(4) {
        let (at, node, scp, latency) = (s[0], s[1] as usize, s[2] == 1.0, s[3]);
        assert!(node < nodes);
        assert!(latency >= 0.0, "every sighting is of an injected item");
        let injected = ((at - latency) * 1000.0).round() as i64;
        let first = items.entry((scp, injected)).or_default().insert(node);
        assert!(first, "node {node} sighted an item twice");
    }
    let totals = d.totals();
    let (txs, scps) = (num(&totals, "txInjected"), num(&totals, "scpInjected"));
    assert!(txs > 0.0 && scps > 0.0);
    assert_eq!(items.keys().filter(|(scp, _)| !scp).count() as f64, txs);
    assert_eq!(items.keys().filter(|(scp, _)| *scp).count() as f64, scps);
    for ((scp, at), who) in &items {
        if (*at as f64) / 1000.0 <= early_until_ms {
            assert_eq!(who.len(), nodes, "item (scp {scp}) injected at {at} µs");
        }
    }
    let everywhere = items.values().filter(|w| w.len() == nodes).count();
    assert_eq!(num(&totals, "everywhere"), everywhere as f64);
    assert_eq!(num(&totals, "nowMs"), 10_000.0);
    assert_eq!(num(&totals, "connections"), edges.len() as f64);
    assert!(num(&totals, "floodUnique") > 0.0);

    // Recording changes nothing, and neither does how time is sliced.
    let mut plain = demo(11);
    for t in [
        1.0,
        999_999.0,
        1_000_000.0,
        2_500_000.0,
        7_777_777.0,
        10_000_000.0,
    ] {
        plain.advance_to(t);
    }
    assert_eq!(plain.trace_hash(), d.trace_hash());
    let mut other = demo(12);
    other.advance_to(10_000_000.0);
    assert_ne!(other.trace_hash(), d.trace_hash());
}
