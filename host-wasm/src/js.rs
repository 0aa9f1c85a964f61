//! Small helpers to build plain JS objects.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

/// A plain object from `(key, value)` pairs.
pub fn obj(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

pub fn s(v: impl AsRef<str>) -> JsValue {
    JsValue::from_str(v.as_ref())
}

pub fn n(v: impl Into<f64>) -> JsValue {
    JsValue::from_f64(v.into())
}

/// Large counters as numbers (exact up to 2^53).
pub fn u(v: u64) -> JsValue {
    JsValue::from_f64(v as f64)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
