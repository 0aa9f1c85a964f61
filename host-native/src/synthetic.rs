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

/// StellarMessage XDR (type tag included) of synthetic transaction `i`, padded with empty
/// signatures until it is at least `min_size` bytes.
pub fn transaction(source: &NodeId, i: u64, min_size: usize) -> Vec<u8> {
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
    // Each empty DecoratedSignature adds 4 (hint) + 4 + 64 bytes.
    let base = 124;
    let pad = min_size.saturating_sub(base).div_ceil(72).min(20);
    let sig = xdr::DecoratedSignature {
        hint: xdr::SignatureHint([0; 4]),
        signature: xdr::Signature(vec![0u8; 64].try_into().unwrap_or_default()),
    };
    let env = xdr::TransactionEnvelope::Tx(xdr::TransactionV1Envelope {
        tx,
        signatures: vec![sig; pad].try_into().unwrap_or_default(),
    });
    xdr::StellarMessage::Transaction(env)
        .to_xdr(Limits::none())
        .unwrap_or_default()
}

/// If `envelope` (TransactionEnvelope XDR) is an intact synthetic transaction, its index.
pub fn check_transaction(envelope: &[u8]) -> Option<u64> {
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
