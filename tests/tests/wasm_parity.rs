//! The wasm build behaves exactly like the native one: the shared simulation scenarios run
//! natively here and in `host-wasm` under Node (`tests/wasm/scenarios.cjs` on the package
//! `scripts/build-wasm` writes), and every trace hash — a SHA-256 over each delivery and
//! application event — must be identical.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Instant;

use overlay_core::scenarios::{self, Outcome};
use serde_json::Value;
use tests::{wasm_package, workspace};

/// A scenario as `scenarios.cjs` names it, and its native run.
type Scenario = (&'static str, fn() -> Outcome);

#[test]
fn native_and_wasm_simulations_leave_identical_traces() {
    let specs: [Scenario; 4] = [
        ("scp 1 100", || scenarios::scp_flood(1, 100)),
        ("scp 9 30", || scenarios::scp_flood(9, 30)),
        ("tx 1 100 1000", || scenarios::tx_flood(1, 100, 1000)),
        ("tx 1 1000 1000", || scenarios::tx_flood(1, 1000, 1000)),
    ];
    let pkg = wasm_package("node");
    // The wasm runs go on in Node while the native ones run here.
    let node = Command::new("node")
        .arg(workspace().join("tests/wasm/scenarios.cjs"))
        .arg(&pkg)
        .args(specs.iter().map(|(s, _)| *s))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node (v20+) must be installed");
    let mut native = Vec::new();
    for (spec, run) in &specs {
        let start = Instant::now();
        let o = run();
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "native {spec}: {secs:.1} s, {} events, {:.0} events/s",
            o.events,
            o.events as f64 / secs
        );
        native.push((o, secs));
    }
    let out = node.wait_with_output().unwrap();
    assert!(out.status.success(), "the wasm scenarios failed");
    let wasm: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(wasm.len(), specs.len());
    for ((spec, _), ((n, native_secs), w)) in specs.iter().zip(native.iter().zip(&wasm)) {
        let secs = w["wallMs"].as_f64().unwrap() / 1000.0;
        eprintln!(
            "wasm   {spec}: {secs:.1} s, {} events, {:.0} events/s ({:.2}x native's time), trace {}",
            w["events"],
            n.events as f64 / secs,
            secs / native_secs,
            w["trace"]
        );
        assert!(n.complete, "{spec} did not complete natively");
        assert_eq!(w["complete"], true, "{spec} did not complete in wasm");
        assert_eq!(w["events"].as_u64(), Some(n.events), "{spec}: event counts");
        assert_eq!(
            w["virtualMs"].as_u64(),
            Some(n.virtual_micros / 1000),
            "{spec}: virtual end time"
        );
        let hex: String = n.trace.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            w["trace"].as_str(),
            Some(hex.as_str()),
            "{spec}: trace hash"
        );
    }
}
