//! Traffic for local networks: signed SCP envelopes that name real (fetchable) tx sets and
//! quorum sets, and well-formed transactions — everything a stellar-core peer would accept
//! as XDR, built with `stellar-xdr`.

use overlay_core::fetch::ItemKind;
use overlay_core::flood::sha256;
use overlay_core::wire::Hash;
use overlay_core::{NetworkId, NodeId, NodeKey};
use stellar_xdr as xdr;
use xdr::{Limits, WriteXdr};

use crate::relay::scp_signed_bytes;

fn to_xdr<T: WriteXdr>(v: &T) -> Vec<u8> {
    v.to_xdr(Limits::none()).unwrap_or_default()
}

fn node_id(id: &NodeId) -> xdr::NodeId {
    xdr::NodeId(xdr::PublicKey::PublicKeyTypeEd25519(xdr::Uint256(id.0)))
}

/// The quorum set every local node uses: threshold 1 of all of them.
pub fn quorum_set(validators: &[NodeId]) -> (Hash, Vec<u8>) {
    let q = xdr::ScpQuorumSet {
        threshold: 1,
        validators: validators
            .iter()
            .map(node_id)
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or_default(),
        inner_sets: Vec::new().try_into().unwrap_or_default(),
    };
    let bytes = to_xdr(&q);
    (
        sha256(&bytes),
        to_xdr(&xdr::StellarMessage::ScpQuorumset(q)),
    )
}

/// A generalized tx set for `slot` holding `txs` (TransactionEnvelope XDR), with its
/// GENERALIZED_TX_SET StellarMessage XDR.
pub fn tx_set(slot: u64, txs: &[Vec<u8>]) -> (Hash, Vec<u8>) {
    use xdr::ReadXdr;
    let envelopes: Vec<xdr::TransactionEnvelope> = txs
        .iter()
        .filter_map(|t| {
            xdr::TransactionEnvelope::from_xdr(
                t,
                Limits {
                    depth: 100,
                    len: t.len(),
                },
            )
            .ok()
        })
        .collect();
    let component = xdr::TxSetComponent::TxsetCompTxsMaybeDiscountedFee(
        xdr::TxSetComponentTxsMaybeDiscountedFee {
            base_fee: Some(100),
            txs: envelopes.try_into().unwrap_or_default(),
        },
    );
    let set = xdr::GeneralizedTransactionSet::V1(xdr::TransactionSetV1 {
        previous_ledger_hash: xdr::Hash(sha256(&slot.to_be_bytes())),
        phases: vec![xdr::TransactionPhase::V0(
            vec![component].try_into().unwrap_or_default(),
        )]
        .try_into()
        .unwrap_or_default(),
    });
    let bytes = to_xdr(&set);
    (
        sha256(&bytes),
        to_xdr(&xdr::StellarMessage::GeneralizedTxSet(set)),
    )
}

/// A `StellarValue` naming a tx set.
pub fn value(tx_set: Hash, close_time: u64) -> Vec<u8> {
    to_xdr(&xdr::StellarValue {
        tx_set_hash: xdr::Hash(tx_set),
        close_time: xdr::TimePoint(close_time),
        upgrades: Vec::new().try_into().unwrap_or_default(),
        ext: xdr::StellarValueExt::Basic,
    })
}

/// Which statement to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Nominate,
    Prepare,
    Confirm,
    Externalize,
}

/// A signed SCP_MESSAGE (StellarMessage XDR) from `key` for `slot` about `value`.
pub fn scp_message(
    key: &NodeKey,
    network: &NetworkId,
    slot: u64,
    phase: Phase,
    value: &[u8],
    qset: Hash,
) -> Vec<u8> {
    let v = xdr::Value(value.to_vec().try_into().unwrap_or_default());
    let ballot = xdr::ScpBallot {
        counter: 1,
        value: v.clone(),
    };
    let pledges = match phase {
        Phase::Nominate => xdr::ScpStatementPledges::Nominate(xdr::ScpNomination {
            quorum_set_hash: xdr::Hash(qset),
            votes: vec![v].try_into().unwrap_or_default(),
            accepted: Vec::new().try_into().unwrap_or_default(),
        }),
        Phase::Prepare => xdr::ScpStatementPledges::Prepare(xdr::ScpStatementPrepare {
            quorum_set_hash: xdr::Hash(qset),
            ballot,
            prepared: None,
            prepared_prime: None,
            n_c: 0,
            n_h: 0,
        }),
        Phase::Confirm => xdr::ScpStatementPledges::Confirm(xdr::ScpStatementConfirm {
            ballot,
            n_prepared: 1,
            n_commit: 1,
            n_h: 1,
            quorum_set_hash: xdr::Hash(qset),
        }),
        Phase::Externalize => xdr::ScpStatementPledges::Externalize(xdr::ScpStatementExternalize {
            commit: ballot,
            n_h: 1,
            commit_quorum_set_hash: xdr::Hash(qset),
        }),
    };
    let statement = xdr::ScpStatement {
        node_id: node_id(&key.node_id()),
        slot_index: slot,
        pledges,
    };
    let signature = key.sign(&scp_signed_bytes(network, &to_xdr(&statement)));
    to_xdr(&xdr::StellarMessage::ScpMessage(xdr::ScpEnvelope {
        statement,
        signature: xdr::Signature(signature.to_vec().try_into().unwrap_or_default()),
    }))
}

/// One slot's worth of traffic from one node: the items it serves and its statements.
#[derive(Debug, Clone)]
pub struct SlotTraffic {
    pub items: Vec<(ItemKind, Hash, Vec<u8>)>,
    pub messages: Vec<Vec<u8>>,
}

/// A node's statements for `slot` (NOMINATE, PREPARE, CONFIRM, EXTERNALIZE of the value
/// naming `tx_set`); the leader also serves the tx set. Everyone serves the quorum set.
pub fn slot_traffic(
    key: &NodeKey,
    network: &NetworkId,
    slot: u64,
    tx_set: &(Hash, Vec<u8>),
    leader: bool,
    qset: &(Hash, Vec<u8>),
) -> SlotTraffic {
    let v = value(tx_set.0, 1_700_000_000 + slot);
    let mut items = vec![(ItemKind::QuorumSet, qset.0, qset.1.clone())];
    if leader {
        items.push((ItemKind::TxSet, tx_set.0, tx_set.1.clone()));
    }
    let messages = [
        Phase::Nominate,
        Phase::Prepare,
        Phase::Confirm,
        Phase::Externalize,
    ]
    .iter()
    .map(|p| scp_message(key, network, slot, *p, &v, qset.0))
    .collect();
    SlotTraffic { items, messages }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_core::wire::{ScpStatementType, StellarMessage};

    #[test]
    fn statements_verify_and_name_their_items() {
        let key = NodeKey::from_seed([4; 32]);
        let net = NetworkId::from_passphrase("local");
        let q = quorum_set(&[key.node_id()]);
        let txs = vec![crate::synthetic::transaction(&key.node_id(), 1, 0)[4..].to_vec()];
        let ts = tx_set(9, &txs);
        let t = slot_traffic(&key, &net, 9, &ts, true, &q);
        assert_eq!(t.items.len(), 2);
        for (m, ty) in t.messages.iter().zip([
            ScpStatementType::Nominate,
            ScpStatementType::Prepare,
            ScpStatementType::Confirm,
            ScpStatementType::Externalize,
        ]) {
            let StellarMessage::ScpMessage(env) = StellarMessage::decode(m).expect("decodes")
            else {
                panic!("not SCP")
            };
            assert_eq!(env.statement_type(), ty);
            assert_eq!(*env.quorum_set_hash(), q.0);
            assert!(crate::synthetic::scp_signature_ok(&env, &net));
            let named: Vec<Hash> = env
                .values()
                .filter_map(crate::relay::value_tx_set)
                .collect();
            assert_eq!(named, vec![ts.0]);
        }
        // The items hash as the fetcher hashes them.
        assert_eq!(
            overlay_core::fetch::generalized_tx_set_hash(&ts.1[4..]),
            ts.0
        );
        assert_eq!(overlay_core::fetch::quorum_set_hash(&q.1[4..]), q.0);
    }
}
