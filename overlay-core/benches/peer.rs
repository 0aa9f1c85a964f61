//! Peer benchmarks, each beside its baseline measured in the same run:
//! - the receive path of a 300-byte TRANSACTION frame (frame decode, MAC verify, dispatch,
//!   flow-control re-grants) beside raw HMAC-SHA256 + SHA-256 of the same bytes;
//! - a full handshake, both sides, beside the raw crypto it needs;
//! - broadcasting one 300-byte SCP_MESSAGE to k = 8 and 32 authenticated peers (encoded
//!   once, then a sequence number and MAC per peer), as bare peers and through an
//!   `Overlay` (adding the floodgate), beside k raw HMAC-SHA256s of the same bytes.
//!
//! After criterion's report, the ratios are printed (read back from criterion's estimates).

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant as StdInstant};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use overlay_core::auth::{AuthCert, EcdhKey, Role, derive_mac_keys, verify_signature};
use overlay_core::pair::{
    BroadcastBench, RawMacBaseline, ReceivePair, bench_cert, bench_node, bench_peer, pump, raw_macs,
};
use sha2::Sha256;

const BATCH: usize = 150;

fn receive_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive_300B_transaction");
    g.throughput(Throughput::Elements(BATCH as u64));
    let raw = RawMacBaseline::new();
    g.bench_function("baseline_hmac_sha256_plus_sha256", |bch| {
        bch.iter(|| {
            for _ in 0..BATCH {
                raw.once();
            }
        })
    });

    let mut pair = ReceivePair::new();
    g.bench_function("peer_receive", |bch| {
        bch.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                pair.prepare(BATCH);
                let start = StdInstant::now();
                let delivered = pair.receive();
                total += start.elapsed();
                assert_eq!(delivered, BATCH);
                pair.settle();
            }
            total
        })
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    let (na, nb) = (bench_node(1), bench_node(2));
    let (ca, cb) = (bench_cert(&na), bench_cert(&nb));
    // What a handshake computes, both sides: each verifies the other's cert, does X25519 and
    // HKDF (one extract, two expands), and MACs or checks AUTH, SEND_MORE_EXTENDED and
    // GET_SCP_STATE both ways (12 HMACs). Certs are cached per node, so no signing.
    let (ea, eb) = (EcdhKey::from_secret([1; 32]), EcdhKey::from_secret([2; 32]));
    g.bench_function("baseline_raw_crypto", |bch| {
        bch.iter(|| {
            for (cert, signer) in [(&cb, &nb), (&ca, &na)] {
                let digest =
                    AuthCert::signing_digest(&signer.network_id, cert.expiration, &cert.pubkey);
                assert!(verify_signature(&signer.node_id().0, &digest, &cert.sig));
            }
            let ka =
                derive_mac_keys(Role::Initiator, &ea, &eb.public(), &[1; 32], &[2; 32]).unwrap();
            let kb =
                derive_mac_keys(Role::Acceptor, &eb, &ea.public(), &[2; 32], &[1; 32]).unwrap();
            for _ in 0..3 {
                for k in [&ka, &kb] {
                    black_box(k.send.mac(black_box(&[0u8; 20])));
                    // A fresh HMAC key schedule per peer, as each connection keys its MACs once.
                    let m = <Hmac<Sha256> as KeyInit>::new_from_slice(&k.recv_raw).unwrap();
                    black_box(m.chain_update([0u8; 20]).finalize());
                }
            }
        })
    });
    let mut buf = Vec::with_capacity(1 << 16);
    g.bench_function("two_peers", |bch| {
        bch.iter(|| {
            let mut a = bench_peer(Role::Initiator, &na, ca, [1; 32]);
            let mut b = bench_peer(Role::Acceptor, &nb, cb, [2; 32]);
            pump(&mut a, &mut b, &mut buf);
            assert!(a.is_authenticated() && b.is_authenticated());
        })
    });
    g.finish();
}

/// Broadcasts per measured batch: well inside the receivers' initial credit (200 messages,
/// 300 000 bytes), which `settle` restores between batches.
const BROADCASTS: usize = 100;

fn broadcast(c: &mut Criterion) {
    for k in [8usize, 32] {
        let mut g = c.benchmark_group(format!("broadcast_300B_k{k}"));
        g.throughput(Throughput::Elements(BROADCASTS as u64));
        let raw = RawMacBaseline::new();
        g.bench_function("baseline_k_raw_hmacs", |bch| {
            bch.iter(|| {
                for _ in 0..BROADCASTS {
                    raw_macs(k, &raw);
                }
            })
        });
        for (name, make) in [
            (
                "peers",
                BroadcastBench::peers as fn(usize) -> BroadcastBench,
            ),
            ("overlay", BroadcastBench::overlay),
        ] {
            let mut bench = make(k);
            g.bench_function(name, |bch| {
                bch.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let messages: Vec<Vec<u8>> =
                            (0..BROADCASTS).map(|_| bench.next_message()).collect();
                        let start = StdInstant::now();
                        for m in &messages {
                            assert_eq!(bench.broadcast(m), k);
                        }
                        total += start.elapsed();
                        assert_eq!(bench.settle(), k * BROADCASTS);
                    }
                    total
                })
            });
        }
        g.finish();
    }
}

/// criterion's mean estimate (ns) for one benchmark, if it ran.
fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.ancestors().nth(3)?.to_path_buf();
    let dir = std::env::var_os("CRITERION_HOME")
        .map(Into::into)
        .unwrap_or(target.join("criterion"));
    let text =
        std::fs::read_to_string(dir.join(group).join(bench).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn ratios() {
    println!("\nratios (same run):");
    for (group, ours, base, per) in [
        (
            "receive_300B_transaction",
            "peer_receive",
            "baseline_hmac_sha256_plus_sha256",
            BATCH as f64,
        ),
        ("handshake", "two_peers", "baseline_raw_crypto", 1.0),
        (
            "broadcast_300B_k8",
            "peers",
            "baseline_k_raw_hmacs",
            BROADCASTS as f64,
        ),
        (
            "broadcast_300B_k8",
            "overlay",
            "baseline_k_raw_hmacs",
            BROADCASTS as f64,
        ),
        (
            "broadcast_300B_k32",
            "peers",
            "baseline_k_raw_hmacs",
            BROADCASTS as f64,
        ),
        (
            "broadcast_300B_k32",
            "overlay",
            "baseline_k_raw_hmacs",
            BROADCASTS as f64,
        ),
    ] {
        match (mean_ns(group, ours), mean_ns(group, base)) {
            (Some(o), Some(b)) => println!(
                "  {group}: {ours} {:.3} µs vs {base} {:.3} µs per item = {:.2}×",
                o / per / 1000.0,
                b / per / 1000.0,
                o / b
            ),
            _ => println!("  {group}: not measured in this run"),
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    receive_path(&mut c);
    handshake(&mut c);
    broadcast(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        ratios();
    }
}
