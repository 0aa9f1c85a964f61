//! Short decoded summaries of messages, from the core's own zero-copy views (no full XDR
//! library in the wasm build: it would multiply its size).

use js_sys::Array;
use overlay_core::NodeId;
use overlay_core::flood::sha256;
use overlay_core::wire::StellarMessage;
use wasm_bindgen::JsValue;

use crate::js::{hex, n, obj, s, u};

/// The source account and operation count of a v1 `TransactionEnvelope`, read directly
/// from its XDR (fee-bump and v0 envelopes report what they can).
fn tx_fields(env: &[u8]) -> (Option<String>, Option<u32>) {
    let word = |at: usize| {
        env.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    if word(0) != Some(2) || word(4) != Some(0) {
        return (None, None);
    }
    let source = env
        .get(8..40)
        .and_then(|b| b.try_into().ok())
        .map(|k| NodeId(k).to_string());
    // fee (4) + seqNum (8), then Preconditions and Memo unions.
    let mut at = 40 + 4 + 8;
    match word(at) {
        Some(0) => at += 4,
        Some(1) => at += 4 + 16,
        _ => return (source, None),
    }
    at += match word(at) {
        Some(0) => 4,
        Some(1) => 4 + 4 + word(at + 4).map_or(0, |len| len.div_ceil(4) * 4) as usize,
        Some(2) => 4 + 8,
        Some(3) | Some(4) => 4 + 32,
        _ => return (source, None),
    };
    (source, word(at))
}

/// A short summary of a message for display.
pub fn summary(msg: &StellarMessage<'_>) -> JsValue {
    match msg {
        StellarMessage::Transaction(env) => {
            let (source, ops) = tx_fields(env);
            obj(&[
                ("hash", s(hex(&sha256(env)))),
                ("source", source.map_or(JsValue::NULL, s)),
                ("operations", ops.map_or(JsValue::NULL, n)),
            ])
        }
        StellarMessage::ScpMessage(e) => {
            // A StellarValue starts with the tx set's hash.
            let values: Array = e
                .values()
                .map(|v| s(hex(v.get(..32).unwrap_or(v))))
                .collect();
            obj(&[
                ("node", s(NodeId(*e.node_id).to_string())),
                ("slot", u(e.slot_index)),
                ("statement", s(e.statement_type().name())),
                ("txSets", values.into()),
                ("quorumSet", s(hex(e.quorum_set_hash()))),
            ])
        }
        StellarMessage::GetScpState(l) => obj(&[("ledger", n(*l))]),
        StellarMessage::GetScpQuorumSet(h) | StellarMessage::GetTxSet(h) => {
            obj(&[("hash", s(hex(*h)))])
        }
        StellarMessage::DontHave(d) => obj(&[
            ("type", s(d.message_type.name())),
            ("hash", s(hex(d.req_hash))),
        ]),
        StellarMessage::Peers(p) => {
            let list: Array = p
                .iter()
                .map(|a| s(format!("{}:{}", a.ip, a.port)))
                .collect();
            obj(&[("peers", list.into())])
        }
        StellarMessage::FloodAdvert(h) | StellarMessage::FloodDemand(h) => {
            obj(&[("hashes", n(h.len() as u32))])
        }
        StellarMessage::SendMoreExtended(g) => {
            obj(&[("messages", n(g.num_messages)), ("bytes", n(g.num_bytes))])
        }
        StellarMessage::Hello(h) => obj(&[
            ("node", s(NodeId(*h.peer_id).to_string())),
            ("versionStr", s(String::from_utf8_lossy(h.version_str))),
            ("ledgerVersion", n(h.ledger_version)),
            ("overlayVersion", n(h.overlay_version)),
            ("overlayMinVersion", n(h.overlay_min_version)),
            ("listeningPort", n(h.listening_port)),
        ]),
        StellarMessage::Auth(a) => obj(&[("flags", n(a.flags))]),
        StellarMessage::ErrorMsg(e) => obj(&[
            ("code", s(e.code.name())),
            ("msg", s(String::from_utf8_lossy(e.msg))),
        ]),
        other => obj(&[("bytes", n(other.encoded_len() as u32))]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_source_and_operations_of_a_v1_envelope() {
        let id = overlay_core::NodeKey::from_seed([5; 32]).node_id();
        let env = overlay_core::sim::transaction_envelope(&id, 9);
        let (source, ops) = tx_fields(&env);
        assert_eq!(source, Some(id.to_string()));
        assert_eq!(ops, Some(1));
        assert_eq!(tx_fields(&[0, 0, 0, 5]), (None, None));
    }
}
