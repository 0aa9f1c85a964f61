//! Peer benchmarks, each beside its baseline measured in the same run:
//! - the receive path of a 300-byte TRANSACTION frame (frame decode, MAC verify, dispatch,
//!   flow-control re-grants) beside raw HMAC-SHA256 + SHA-256 of the same bytes;
//! - a full handshake, both sides, beside the raw crypto it needs.
//!
//! After criterion's report, the ratios are printed (read back from criterion's estimates).

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use overlay_core::auth::{AuthCert, EcdhKey, MacKey, Role, derive_mac_keys, verify_signature};
use overlay_core::wire::MessageType;
use overlay_core::{
    AcceptAll, Event, Instant, LocalNode, NetworkId, NodeKey, Peer, PeerConfig, PeerSetup,
    WallClock,
};
use sha2::{Digest, Sha256};

const UNIX: u64 = 1_750_000_000;
const BATCH: usize = 150;

fn node(seed: u8) -> Arc<LocalNode> {
    Arc::new(LocalNode::new(
        NodeKey::from_seed([seed; 32]),
        NetworkId::from_passphrase("bench"),
        [seed; 32],
    ))
}

fn peer(role: Role, n: &Arc<LocalNode>, cert: AuthCert, nonce: [u8; 32]) -> Peer {
    Peer::new(
        PeerSetup {
            role,
            local: Arc::clone(n),
            cert,
            nonce,
            remote_address: Some(([127, 0, 0, 1], 1).into()),
            config: PeerConfig {
                scp_state_request: None,
                ..PeerConfig::default()
            },
            clock: WallClock::new(Instant::ZERO, UNIX),
        },
        Instant::ZERO,
    )
}

fn pump(a: &mut Peer, b: &mut Peer, buf: &mut Vec<u8>) {
    loop {
        while a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        while b.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        buf.clear();
        a.poll_transmit(Instant::ZERO, buf);
        let ab = buf.len();
        b.handle_input(Instant::ZERO, buf);
        buf.clear();
        b.poll_transmit(Instant::ZERO, buf);
        if ab == 0 && buf.is_empty() {
            return;
        }
        a.handle_input(Instant::ZERO, buf);
    }
}

fn transaction(i: u32) -> Arc<[u8]> {
    // 300 bytes of StellarMessage: type tag + a 296-byte envelope stand-in.
    let mut v = Vec::from((MessageType::Transaction as i32).to_be_bytes());
    v.extend_from_slice(&i.to_be_bytes());
    v.resize(300, 0x5a);
    v.into()
}

fn receive_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive_300B_transaction");
    g.throughput(Throughput::Elements(BATCH as u64));
    let frame_body = {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&transaction(1));
        v.extend_from_slice(&[0; 32]);
        v
    };
    let key = MacKey::new(&[7; 32]);
    g.bench_function("baseline_hmac_sha256_plus_sha256", |bch| {
        bch.iter(|| {
            for _ in 0..BATCH {
                let mac_input = &frame_body[4..frame_body.len() - 32];
                black_box(key.mac(black_box(mac_input)));
                black_box(Sha256::digest(black_box(
                    &frame_body[12..frame_body.len() - 32],
                )));
            }
        })
    });

    let (na, nb) = (node(1), node(2));
    let mut a = peer(Role::Initiator, &na, na.issue_cert(UNIX), [1; 32]);
    let mut b = peer(Role::Acceptor, &nb, nb.issue_cert(UNIX), [2; 32]);
    let mut buf = Vec::with_capacity(1 << 20);
    pump(&mut a, &mut b, &mut buf);
    let mut frames = Vec::with_capacity(1 << 20);
    let mut grants = Vec::with_capacity(1 << 16);
    let mut seq = 0u32;
    g.bench_function("peer_receive", |bch| {
        bch.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..BATCH {
                    seq = seq.wrapping_add(1);
                    a.send_shared(Instant::ZERO, transaction(seq)).unwrap();
                }
                frames.clear();
                a.poll_transmit(Instant::ZERO, &mut frames);
                let start = StdInstant::now();
                let mut data = &frames[..];
                let mut delivered = 0;
                while !data.is_empty() {
                    let took = b.handle_input(Instant::ZERO, data);
                    data = &data[took..];
                    while let Some(ev) = b.poll(Instant::ZERO, &mut AcceptAll) {
                        if let Event::Message(m) = ev {
                            black_box(&m);
                            delivered += 1;
                        }
                    }
                    b.poll_transmit(Instant::ZERO, &mut grants);
                }
                total += start.elapsed();
                assert_eq!(delivered, BATCH);
                a.handle_input(Instant::ZERO, &grants);
                grants.clear();
                while a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
            }
            total
        })
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    let (na, nb) = (node(1), node(2));
    let (ca, cb) = (na.issue_cert(UNIX), nb.issue_cert(UNIX));
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
            let mut a = peer(Role::Initiator, &na, ca, [1; 32]);
            let mut b = peer(Role::Acceptor, &nb, cb, [2; 32]);
            pump(&mut a, &mut b, &mut buf);
            assert!(a.is_authenticated() && b.is_authenticated());
        })
    });
    g.finish();
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
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        ratios();
    }
}
