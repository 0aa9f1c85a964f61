//! Invariants of the wire codec, asserted by several targets.

use overlay_core::wire::{
    AuthenticatedMessage, DecodeError, MessageType, Pledges, ScpEnvelope, StellarMessage,
    SurveyResponseBody,
};

/// A decoded message re-encodes to exactly the bytes it came from (every `StellarMessage`
/// arm is canonical: opaque arms keep their bytes), `encoded_len` agrees, and encoding
/// appends without touching what is already in the buffer.
pub fn reencodes(m: &StellarMessage<'_>, bytes: &[u8]) {
    assert_eq!(m.encoded_len(), bytes.len(), "encoded_len of {m:?}");
    let mut out = vec![0xa5; 3];
    m.encode(&mut out);
    assert_eq!(&out[..3], &[0xa5; 3]);
    assert!(out[3..] == *bytes, "re-encoding differs for {m:?}");
    assert_eq!(
        bytes.get(..4),
        Some(&(m.message_type() as i32).to_be_bytes()[..]),
        "type tag"
    );
}

/// Decodes `bytes` as a `StellarMessage`; if it decodes, checks every view of it.
pub fn message(bytes: &[u8]) -> Result<(), DecodeError> {
    let m = StellarMessage::decode(bytes)?;
    reencodes(&m, bytes);
    let ty = m.message_type();
    assert!(MessageType::ALL.contains(&ty));
    assert!(!ty.name().is_empty());
    match m {
        StellarMessage::ErrorMsg(e) => assert!(e.msg.len() <= 100),
        StellarMessage::Hello(h) => {
            assert!(h.version_str.len() <= 100);
            assert!(h.cert.sig.len() <= 64);
        }
        StellarMessage::Peers(p) => {
            assert!(p.len() <= 100);
            assert_eq!(p.iter().count(), p.len());
            assert_eq!(p.is_empty(), p.iter().next().is_none());
        }
        StellarMessage::FloodAdvert(h) | StellarMessage::FloodDemand(h) => {
            assert!(h.len() <= 1000);
            assert_eq!(h.iter().count(), h.len());
            assert_eq!(bytes.len(), 8 + 32 * h.len());
        }
        StellarMessage::ScpMessage(e) => {
            assert_eq!(e.bytes, &bytes[4..]);
            envelope(&e);
        }
        StellarMessage::SurveyRequest(s) => {
            assert!(s.signature.len() <= 64);
            let body = s.body_xdr();
            assert!(bytes.ends_with(&body));
        }
        StellarMessage::SurveyResponse(s) => {
            assert!(s.signature.len() <= 64);
            assert!(s.response.encrypted_body.len() <= 64_000);
            assert!(bytes.ends_with(&s.body_xdr()));
        }
        StellarMessage::SurveyStartCollecting(s) | StellarMessage::SurveyStopCollecting(s) => {
            assert!(s.signature.len() <= 64);
            assert!(bytes.ends_with(&s.body_xdr()));
        }
        StellarMessage::TxSet(b)
        | StellarMessage::GeneralizedTxSet(b)
        | StellarMessage::Transaction(b)
        | StellarMessage::ScpQuorumSet(b) => {
            assert!(!b.is_empty() && b.len() % 4 == 0);
            assert_eq!(b, &bytes[4..]);
        }
        _ => {}
    }
    Ok(())
}

/// Every accessor of a decoded envelope, and that a statement never supersedes itself.
pub fn envelope(e: &ScpEnvelope<'_>) {
    assert!(e.bytes.starts_with(e.statement_bytes));
    assert!(e.signature.len() <= 64);
    assert_eq!(
        e.bytes.len(),
        e.statement_bytes.len() + 4 + e.signature.len().div_ceil(4) * 4
    );
    assert_eq!(&e.statement_bytes[4..36], e.node_id);
    let _ = e.quorum_set_hash();
    let values = e.values().count();
    match e.pledges {
        Pledges::Nominate {
            votes, accepted, ..
        } => {
            assert_eq!(values, votes.len() + accepted.len());
            assert_eq!(votes.iter().count(), votes.len());
        }
        Pledges::Prepare {
            prepared,
            prepared_prime,
            ..
        } => {
            assert_eq!(
                values,
                1 + usize::from(prepared.is_some()) + usize::from(prepared_prime.is_some())
            );
        }
        _ => assert_eq!(values, 1),
    }
    assert!(!e.is_superseded_by(e), "a statement supersedes itself");
    let again = ScpEnvelope::decode(e.bytes).expect("an envelope decodes again");
    assert_eq!(&again, e);
}

/// The `isValidator` word of a `SurveyResponseBody`: the eighth of the ten trailing words.
fn is_validator_offset(len: usize) -> usize {
    len - 12
}

/// Decodes a `SurveyResponseBody`; if it decodes, its re-encoding equals the input except
/// that the `isValidator` bool is written canonically (XDR reads any word other than 1 as
/// false, as stellar-xdr does), and decoding the re-encoding gives the same value.
pub fn survey_body(bytes: &[u8]) -> Result<(), DecodeError> {
    let b = SurveyResponseBody::decode(bytes)?;
    assert!(b.inbound_peers.len() <= 25 && b.outbound_peers.len() <= 25);
    let out = b.to_vec();
    assert_eq!(out.len(), bytes.len());
    let at = is_validator_offset(bytes.len());
    let mut expected = bytes.to_vec();
    let word = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    expected[at..at + 4].copy_from_slice(&u32::from(word == 1).to_be_bytes());
    assert!(out == expected, "survey body re-encoding differs");
    assert_eq!(SurveyResponseBody::decode(&out).as_ref(), Ok(&b));
    Ok(())
}

/// Splits an `AuthenticatedMessage` and checks the parts tile the body.
pub fn authenticated(body: &[u8]) {
    let Ok(am) = AuthenticatedMessage::parse(body) else {
        return;
    };
    assert_eq!(&body[..4], &[0, 0, 0, 0]);
    assert_eq!(am.mac_input, &body[4..body.len() - 32]);
    assert_eq!(am.message, &body[12..body.len() - 32]);
    assert_eq!(am.mac, &body[body.len() - 32..]);
    assert_eq!(
        am.sequence,
        u64::from_be_bytes(body[4..12].try_into().expect("8 bytes"))
    );
    match am.decode() {
        Ok(m) => {
            assert_eq!(am.message_type(), Ok(m.message_type()));
            reencodes(&m, am.message);
        }
        Err(_) => {
            let _ = am.message_type();
        }
    }
}
