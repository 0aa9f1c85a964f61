//! Bundles the StellarMessage seeds (`seeds/message/*`) into one blob that targets index:
//! each entry is a big-endian u32 length and the bytes, in file-name order.

use std::path::Path;

fn main() {
    let dir = Path::new("seeds/message");
    println!("cargo::rerun-if-changed=seeds/message");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    let mut blob = Vec::new();
    for path in names {
        if let Ok(bytes) = std::fs::read(&path) {
            blob.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            blob.extend_from_slice(&bytes);
        }
    }
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(Path::new(&out).join("seed_messages.bin"), blob).expect("write the blob");
}
