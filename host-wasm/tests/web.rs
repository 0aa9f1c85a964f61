//! host-wasm's JS API, run by `wasm-bindgen-test-runner` under Node (default) and in
//! headless Chromium (`WASM_BINDGEN_USE_BROWSER=1`, chromedriver on PATH).
//!
//! Native/wasm parity of whole scenarios is checked in `tests/tests/wasm_parity.rs`; the
//! browser peer's handshake with a real node in `tests/tests/browser.rs`.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use host_wasm::{BrowserPeer, Simulation, bench_receive_path, scenario_scp_flood};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
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
