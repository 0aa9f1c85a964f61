//! Cross-crate tests live in `tests/tests/`; the JavaScript interoperability harness in
//! `tests/interop-js/`, the wasm scenario runner in `tests/wasm/`, the headless-Chromium
//! driver in `tests/browser/`. This library holds what several of them share.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn newest(dir: &Path) -> std::io::Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let t = if path.is_dir() {
            newest_or_epoch(&path)
        } else {
            path.metadata()?.modified()?
        };
        newest = newest.max(t);
    }
    Ok(newest)
}

fn newest_or_epoch(dir: &Path) -> SystemTime {
    newest(dir).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `target/wasm-pkg/<flavour>` (`node` or `web`) as `scripts/build-wasm` writes it, checked
/// to be newer than the sources it is built from.
///
/// # Panics
/// If the package is missing or stale, saying to run `scripts/build-wasm`.
pub fn wasm_package(flavour: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let pkg = target.join("wasm-pkg").join(flavour);
    let wasm = pkg.join("host_wasm_bg.wasm");
    let built = wasm
        .metadata()
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `scripts/build-wasm` first",
                wasm.display()
            )
        });
    for src in ["overlay-core/src", "host-wasm/src"] {
        assert!(
            newest_or_epoch(&workspace().join(src)) <= built,
            "{} is older than {src}: run `scripts/build-wasm` again",
            wasm.display()
        );
    }
    pkg
}

/// A simulation with a fixed topology: links of `latency`, and nodes keep only the
/// connections the scenario makes (no dialling of their own).
pub fn fixed_topology(seed: u64, latency: core::time::Duration) -> overlay_core::sim::SimConfig {
    let mut c = overlay_core::sim::SimConfig {
        seed,
        link: overlay_core::sim::LinkParams {
            latency,
            ..overlay_core::sim::LinkParams::default()
        },
        ..overlay_core::sim::SimConfig::default()
    };
    c.overlay.auto_connect = false;
    c
}
