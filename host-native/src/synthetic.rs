//! Synthetic traffic that any Stellar peer accepts as well-formed XDR, and short decoded
//! summaries of what is received.
//!
//! Transaction `i` is a v1 envelope from our key with `seqNum = i`, `MEMO_HASH =
//! SHA-256("tx-" + i)` and one BUMP_SEQUENCE to `i`: the receiver can check order and
//! integrity (the JS interop harness builds the same ones).

use overlay_core::wire::{MessageType, ScpEnvelope, StellarMessage};
use overlay_core::{NetworkId, NodeId, NodeKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stellar_xdr as xdr;
use xdr::{Limits, ReadXdr, WriteXdr};

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Bytes of a synthetic transaction's StellarMessage before its signatures: type tag (4),
/// envelope type (4), muxed source (4 + 32), fee (4), seqNum (8), preconditions (4),
/// MEMO_HASH (4 + 32), one operation (4 + 4 + 4 + 8), ext (4), signature count (4).
const TX_BASE: usize = 124;
/// One empty `DecoratedSignature`: hint (4), length (4), 64 bytes.
const TX_SIGNATURE: usize = 72;
/// At most this many padding signatures (the XDR bound is 20).
const TX_MAX_SIGNATURES: usize = 20;
/// Where seqNum and the memo hash sit in the TransactionEnvelope (after the type tag).
const ENV_SEQ: usize = 44;
const ENV_MEMO: usize = 60;

/// SHA-256("tx-" + decimal `i`), without allocating.
fn memo_hash(i: u64) -> [u8; 32] {
    let mut buf = [0u8; 23];
    buf[..3].copy_from_slice(b"tx-");
    let mut digits = [0u8; 20];
    let mut n = i;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for k in 0..len {
        buf[3 + k] = digits[len - 1 - k];
    }
    sha256(&buf[..3 + len])
}

/// Padding signatures needed to reach `min_size`.
fn padding(min_size: usize) -> usize {
    min_size
        .saturating_sub(TX_BASE)
        .div_ceil(TX_SIGNATURE)
        .min(TX_MAX_SIGNATURES)
}

/// StellarMessage XDR (type tag included) of synthetic transaction `i`, padded with empty
/// signatures until it is at least `min_size` bytes.
///
/// Written field by field (no `stellar-xdr` value is built: this is the traffic generators'
/// inner loop); [`transaction_xdr`] builds the same bytes through `stellar-xdr`, and a test
/// checks that they agree.
pub fn transaction(source: &NodeId, i: u64, min_size: usize) -> Vec<u8> {
    let pad = padding(min_size);
    let mut v = Vec::with_capacity(TX_BASE + pad * TX_SIGNATURE);
    let seq = i as i64;
    v.extend_from_slice(&(MessageType::Transaction as i32).to_be_bytes());
    v.extend_from_slice(&2u32.to_be_bytes()); // ENVELOPE_TYPE_TX
    v.extend_from_slice(&0u32.to_be_bytes()); // KEY_TYPE_ED25519
    v.extend_from_slice(&source.0);
    v.extend_from_slice(&100u32.to_be_bytes()); // fee
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes()); // PRECOND_NONE
    v.extend_from_slice(&3u32.to_be_bytes()); // MEMO_HASH
    v.extend_from_slice(&memo_hash(i));
    v.extend_from_slice(&1u32.to_be_bytes()); // one operation
    v.extend_from_slice(&0u32.to_be_bytes()); // no source account
    v.extend_from_slice(&11u32.to_be_bytes()); // BUMP_SEQUENCE
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes()); // ext v0
    v.extend_from_slice(&(pad as u32).to_be_bytes());
    for _ in 0..pad {
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&64u32.to_be_bytes());
        v.extend_from_slice(&[0; 64]);
    }
    v
}

/// The same transaction as [`transaction`], built and encoded through `stellar-xdr`.
pub fn transaction_xdr(source: &NodeId, i: u64, min_size: usize) -> Vec<u8> {
    let seq = xdr::SequenceNumber(i as i64);
    let op = xdr::Operation {
        source_account: None,
        body: xdr::OperationBody::BumpSequence(xdr::BumpSequenceOp {
            bump_to: seq.clone(),
        }),
    };
    let tx = xdr::Transaction {
        source_account: xdr::MuxedAccount::Ed25519(xdr::Uint256(source.0)),
        fee: 100,
        seq_num: seq,
        cond: xdr::Preconditions::None,
        memo: xdr::Memo::Hash(xdr::Hash(sha256(format!("tx-{i}").as_bytes()))),
        operations: vec![op].try_into().unwrap_or_default(),
        ext: xdr::TransactionExt::V0,
    };
    let sig = xdr::DecoratedSignature {
        hint: xdr::SignatureHint([0; 4]),
        signature: xdr::Signature(vec![0u8; 64].try_into().unwrap_or_default()),
    };
    let env = xdr::TransactionEnvelope::Tx(xdr::TransactionV1Envelope {
        tx,
        signatures: vec![sig; padding(min_size)].try_into().unwrap_or_default(),
    });
    xdr::StellarMessage::Transaction(env)
        .to_xdr(Limits::none())
        .unwrap_or_default()
}

/// If `envelope` (TransactionEnvelope XDR) is an intact synthetic transaction, its index.
///
/// Envelopes laid out exactly as [`transaction`] writes them are checked byte by byte
/// (every field, the memo hash recomputed, padding signatures empty) without decoding;
/// anything else goes through [`check_transaction_xdr`], so the answer is the full check's
/// for every input (a test compares the two).
pub fn check_transaction(envelope: &[u8]) -> Option<u64> {
    check_exact(envelope).or_else(|| check_transaction_xdr(envelope))
}

/// The exact layout [`transaction`] writes, for any source and index; `None` for anything
/// else (which may still be a valid synthetic transaction written differently).
fn check_exact(e: &[u8]) -> Option<u64> {
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(e.get(at..at + 4)?.try_into().ok()?))
    };
    let be64 = |at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(e.get(at..at + 8)?.try_into().ok()?))
    };
    let base = TX_BASE - 4;
    let pad = e.len().checked_sub(base)? / TX_SIGNATURE;
    if e.len() != base + pad * TX_SIGNATURE || pad > TX_MAX_SIGNATURES {
        return None;
    }
    let seq = be64(ENV_SEQ)?;
    let fixed = be32(0)? == 2
        && be32(4)? == 0
        && be32(40)? == 100
        && be32(52)? == 0
        && be32(56)? == 3
        && be32(92)? == 1
        && be32(96)? == 0
        && be32(100)? == 11
        && be64(104)? == seq
        && be32(112)? == 0
        && be32(116)? == pad as u32;
    if !fixed || i64::try_from(seq).is_err() {
        return None;
    }
    const EMPTY_SIGNATURE: [u8; TX_SIGNATURE] = {
        let mut s = [0u8; TX_SIGNATURE];
        s[7] = 64;
        s
    };
    let sigs_empty = e[base..]
        .chunks_exact(TX_SIGNATURE)
        .all(|s| s == EMPTY_SIGNATURE);
    (sigs_empty && e[ENV_MEMO..ENV_MEMO + 32] == memo_hash(seq)).then_some(seq)
}

/// The full check: decodes the envelope with `stellar-xdr` and checks its fields.
pub fn check_transaction_xdr(envelope: &[u8]) -> Option<u64> {
    let env = xdr::TransactionEnvelope::from_xdr(envelope, Limits::len(envelope.len())).ok()?;
    let xdr::TransactionEnvelope::Tx(v1) = env else {
        return None;
    };
    let i = u64::try_from(v1.tx.seq_num.0).ok()?;
    let memo_ok =
        matches!(&v1.tx.memo, xdr::Memo::Hash(h) if h.0 == sha256(format!("tx-{i}").as_bytes()));
    let op_ok = matches!(
        v1.tx.operations.as_slice(),
        [xdr::Operation { body: xdr::OperationBody::BumpSequence(b), .. }] if b.bump_to.0 == v1.tx.seq_num.0
    );
    (memo_ok && op_ok).then_some(i)
}

/// StellarMessage XDR of a signed NOMINATE statement for `slot` voting for
/// SHA-256("value-" + slot).
pub fn scp_nominate(key: &NodeKey, network: &NetworkId, slot: u64) -> Vec<u8> {
    let value = sha256(format!("value-{slot}").as_bytes()).to_vec();
    let statement = xdr::ScpStatement {
        node_id: xdr::NodeId(xdr::PublicKey::PublicKeyTypeEd25519(xdr::Uint256(
            key.node_id().0,
        ))),
        slot_index: slot,
        pledges: xdr::ScpStatementPledges::Nominate(xdr::ScpNomination {
            quorum_set_hash: xdr::Hash([0; 32]),
            votes: vec![xdr::Value(value.try_into().unwrap_or_default())]
                .try_into()
                .unwrap_or_default(),
            accepted: Vec::new().try_into().unwrap_or_default(),
        }),
    };
    let st = statement.to_xdr(Limits::none()).unwrap_or_default();
    let signature = key.sign(&scp_signed_bytes(network, &st));
    let env = xdr::ScpEnvelope {
        statement,
        signature: xdr::Signature(signature.to_vec().try_into().unwrap_or_default()),
    };
    xdr::StellarMessage::ScpMessage(env)
        .to_xdr(Limits::none())
        .unwrap_or_default()
}

/// What an SCP envelope's signature covers: `networkID ‖ ENVELOPE_TYPE_SCP ‖ statement`.
pub fn scp_signed_bytes(network: &NetworkId, statement_xdr: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(36 + statement_xdr.len());
    v.extend_from_slice(&network.0);
    v.extend_from_slice(&1i32.to_be_bytes());
    v.extend_from_slice(statement_xdr);
    v
}

/// A consensus value: the tx set it names and its close time if it is a `StellarValue`,
/// else a hash of its bytes.
fn value_summary(v: &[u8]) -> Value {
    match xdr::StellarValue::from_xdr(v, Limits::len(v.len())) {
        Ok(sv) => json!({"txSet": hex(&sv.tx_set_hash.0), "closeTime": sv.close_time.0}),
        Err(_) => json!({"hash": hex(&sha256(v))}),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A short decoded summary of a message, for humans and logs.
pub fn summary(msg: &StellarMessage<'_>) -> Value {
    match msg {
        StellarMessage::Transaction(env) => {
            let hash = hex(&sha256(env));
            match xdr::TransactionEnvelope::from_xdr(env, Limits::len(env.len())) {
                Ok(e) => {
                    let (source, ops, seq) = match &e {
                        xdr::TransactionEnvelope::Tx(v1) => (
                            v1.tx.source_account.to_string(),
                            v1.tx.operations.len(),
                            v1.tx.seq_num.0,
                        ),
                        xdr::TransactionEnvelope::TxV0(v0) => (
                            xdr::MuxedAccount::Ed25519(v0.tx.source_account_ed25519.clone())
                                .to_string(),
                            v0.tx.operations.len(),
                            v0.tx.seq_num.0,
                        ),
                        xdr::TransactionEnvelope::TxFeeBump(_) => ("fee-bump".into(), 1, 0),
                    };
                    json!({"hash": hash, "source": source, "operations": ops, "seqNum": seq})
                }
                Err(e) => json!({"hash": hash, "invalid": e.to_string()}),
            }
        }
        StellarMessage::ScpMessage(e) => json!({
            "node": NodeId(*e.node_id).to_string(),
            "slot": e.slot_index,
            "statement": e.statement_type().name(),
            "values": e.values().map(value_summary).collect::<Vec<_>>(),
            "quorumSet": hex(&e.quorum_set_hash()[..8]),
        }),
        StellarMessage::GetScpState(l) => json!({"ledger": l}),
        StellarMessage::GetScpQuorumSet(h) | StellarMessage::GetTxSet(h) => {
            json!({"hash": hex(*h)})
        }
        StellarMessage::DontHave(d) => {
            json!({"type": d.message_type.name(), "hash": hex(d.req_hash)})
        }
        StellarMessage::Peers(p) => json!({
            "peers": p.iter().map(|a| format!("{}:{}", a.ip, a.port)).collect::<Vec<_>>(),
        }),
        StellarMessage::FloodAdvert(h) | StellarMessage::FloodDemand(h) => {
            json!({"hashes": h.len()})
        }
        StellarMessage::ErrorMsg(e) => {
            json!({"code": e.code.name(), "msg": String::from_utf8_lossy(e.msg)})
        }
        other => json!({"bytes": other.encoded_len()}),
    }
}

/// The node that signed an SCP envelope and whether its signature verifies for `network`.
pub fn scp_signature_ok(env: &ScpEnvelope<'_>, network: &NetworkId) -> bool {
    overlay_core::auth::verify_signature(
        env.node_id,
        &scp_signed_bytes(network, env.statement_bytes),
        env.signature,
    )
}

/// The message type of StellarMessage XDR.
pub fn message_type(msg: &[u8]) -> Option<MessageType> {
    let tag: [u8; 4] = msg.get(..4)?.try_into().ok()?;
    MessageType::from_i32(i32::from_be_bytes(tag)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_builder_writes_what_stellar_xdr_encodes() {
        let id = NodeKey::from_seed([3; 32]).node_id();
        for i in [
            0,
            1,
            9,
            10,
            99,
            12_345,
            u64::from(u32::MAX) + 7,
            i64::MAX as u64,
        ] {
            for size in [0, 124, 125, 196, 300, 1000, 2000] {
                assert_eq!(
                    transaction(&id, i, size),
                    transaction_xdr(&id, i, size),
                    "tx {i}, size {size}"
                );
            }
        }
    }

    #[test]
    fn the_fast_check_agrees_with_the_full_check() {
        let id = NodeKey::from_seed([4; 32]).node_id();
        for (i, size) in [(1u64, 0usize), (77, 300), (1_000_001, 2000)] {
            let t = transaction(&id, i, size);
            let env = &t[4..];
            assert_eq!(check_exact(env), Some(i));
            assert_eq!(check_transaction_xdr(env), Some(i));
            // Every single-bit flip: both checks agree whenever the fast one answers, and
            // the combined check is exactly the full one.
            for byte in 0..env.len() {
                for bit in [0, 7] {
                    let mut bad = env.to_vec();
                    bad[byte] ^= 1 << bit;
                    let full = check_transaction_xdr(&bad);
                    if let Some(fast) = check_exact(&bad) {
                        assert_eq!(Some(fast), full, "byte {byte} bit {bit}");
                    }
                    assert_eq!(check_transaction(&bad), full, "byte {byte} bit {bit}");
                }
            }
            // Truncated and extended envelopes.
            assert_eq!(check_exact(&env[..env.len() - 1]), None);
            let mut longer = env.to_vec();
            longer.push(0);
            assert_eq!(check_exact(&longer), None);
        }
    }

    #[test]
    fn synthetic_transactions_check_and_pad() {
        let id = NodeKey::from_seed([1; 32]).node_id();
        let t = transaction(&id, 7, 0);
        assert_eq!(t.len(), 124);
        assert_eq!(check_transaction(&t[4..]), Some(7));
        let big = transaction(&id, 8, 300);
        assert!(big.len() >= 300 && big.len() < 300 + 72);
        assert_eq!(check_transaction(&big[4..]), Some(8));
        let mut bad = t.clone();
        let last = bad.len() - 20;
        bad[last] ^= 1;
        assert_eq!(check_transaction(&bad[4..]), None);
    }

    #[test]
    fn synthetic_scp_verifies() {
        let key = NodeKey::from_seed([2; 32]);
        let net = NetworkId::from_passphrase("x");
        let m = scp_nominate(&key, &net, 42);
        let StellarMessage::ScpMessage(env) = StellarMessage::decode(&m).expect("decodes") else {
            panic!("not SCP")
        };
        assert_eq!(env.slot_index, 42);
        assert!(scp_signature_ok(&env, &net));
        assert!(!scp_signature_ok(&env, &NetworkId::from_passphrase("y")));
    }
}
