//! The browser receive path beside raw HMAC-SHA256 in the same run (wasm has no SHA
//! extensions, so the baseline is measured here, not assumed).

use js_sys::{Function, Reflect};
use overlay_core::pair::{RawMacBaseline, ReceivePair};
use wasm_bindgen::prelude::*;

use crate::js::{n, obj, u};

const BATCH: usize = 150;

/// `performance.now()` where there is one (pages, workers, Node), else `Date.now()`.
fn now_ms() -> f64 {
    let global = js_sys::global();
    Reflect::get(&global, &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| {
            let f: Function = Reflect::get(&p, &JsValue::from_str("now"))
                .ok()?
                .dyn_into()
                .ok()?;
            f.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// Receives `batches` × 150 300-byte TRANSACTION frames (decode, sequence and MAC check,
/// dispatch, credit grants), timing only the receiving side; then, as many times, the
/// frame's raw HMAC-SHA256, and that plus the SHA-256 a flooded message's hash needs.
/// Returns messages/s for each and the receive path's time as a multiple of each baseline.
#[wasm_bindgen(js_name = benchReceivePath, unchecked_return_type = "ReceiveBench")]
pub fn bench_receive_path(batches: u32) -> JsValue {
    let mut pair = ReceivePair::new();
    let mut receive_ms = 0.0;
    let mut messages = 0u64;
    for _ in 0..batches {
        pair.prepare(BATCH);
        let start = now_ms();
        messages += pair.receive() as u64;
        receive_ms += now_ms() - start;
        pair.settle();
    }
    let raw = RawMacBaseline::new();
    let start = now_ms();
    for _ in 0..messages {
        raw.mac_only();
    }
    let mac_ms = now_ms() - start;
    let start = now_ms();
    for _ in 0..messages {
        raw.once();
    }
    let raw_ms = now_ms() - start;
    let per_sec = |ms: f64| messages as f64 * 1000.0 / ms.max(1e-3);
    obj(&[
        ("messages", u(messages)),
        ("receiveMs", n(receive_ms)),
        ("receiveMessagesPerSec", n(per_sec(receive_ms))),
        ("hmacMessagesPerSec", n(per_sec(mac_ms))),
        ("hmacSha256MessagesPerSec", n(per_sec(raw_ms))),
        ("ratioToHmac", n(receive_ms / mac_ms.max(1e-3))),
        ("ratioToHmacSha256", n(receive_ms / raw_ms.max(1e-3))),
    ])
}
