//! Differential tests: overlay-core's hand-written decoders against `stellar-xdr` on
//! arbitrary bytes.
//!
//! For `StellarMessage` (every arm), `AuthenticatedMessage`, `SCPEnvelope` and the survey
//! `SurveyResponseBody`, each input goes through both decoders:
//! - both accept: our re-encoding must equal stellar-xdr's, and our decoded view, converted
//!   field by field into the stellar-xdr type ([`to_x`]), must equal stellar-xdr's value;
//! - both reject: fine;
//! - only one accepts: a failure, except for the one deliberate difference below.
//!
//! Inputs: seeded random byte strings (uniform, and "XDR-shaped" word soups that hit
//! small discriminants, bounds and lengths), and mutations of valid encodings of arbitrary
//! stellar-xdr values (truncations, bit flips, length-field changes, words inserted and
//! removed, trailing bytes). Arbitrary valid values are also checked directly: encoded by
//! stellar-xdr, decoded by us, equal fields.
//!
//! ## Deliberate differences
//! - **Opaque arms are looser.** TX_SET (7), TRANSACTION (8), SCP_QUORUMSET (10) and
//!   GENERALIZED_TX_SET (17) are payloads the overlay only relays and hashes; our zero-copy
//!   decoder deliberately does not validate them fully: it checks only that the body is
//!   non-empty and 4-byte aligned, and the host validates them with stellar-xdr. So
//!   stellar-xdr accepting implies we accept, not the converse. An input only we accept is
//!   exempt only if our decoder returned one of these arms (by variant) at the offset of the
//!   input's kind — a bare `StellarMessage` at 0, the message of an `AuthenticatedMessage`
//!   v0 at 12 (after the 4-byte version and 8-byte sequence), with everything around the
//!   body exactly as stellar-xdr would write it — and stellar-xdr refuses the body on its
//!   own as the arm's type; `SCPEnvelope` and `SurveyResponseBody` have no exemption
//!   ([`message_exempt`], [`authenticated_exempt`]). [`opaque_arms_are_the_only_difference`]
//!   and [`the_exemption_is_tight`] pin the rule. (stellar-core itself decodes the whole
//!   message and drops the peer with ERR_DATA; a relay node built on overlay-core refuses
//!   such payloads in its application layer.)
//! - **Limits.** stellar-xdr reads with `Limits { depth: 500, len: input length }`: the
//!   length limit can never refuse a slice that decodes (a decoder cannot read more bytes
//!   than the slice has) but stops stellar-xdr from allocating hostile lengths up front;
//!   the depth limit only matters inside opaque arms (deep transactions), which we do not
//!   descend into. stellar-core's own frame limits (`MAX_MESSAGE_SIZE` after auth,
//!   `MAX_UNAUTH_MESSAGE_SIZE` before) apply to frames, not to these decoders.
//!
//! Also here: the fuzz seed corpus ([`fuzz_seeds_are_valid`], regenerated with
//! `UPDATE_FUZZ_SEEDS=1 cargo test -p tests --test differential fuzz_seeds`).

#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::net::IpAddr;
use std::path::PathBuf;

use arbitrary::{Arbitrary, Unstructured};
use overlay_core::wire::{self as ours, DecodeError};
use stellar_xdr::{self as x, Limits, ReadXdr, WriteXdr};

/// Arbitrary valid values per arm.
const VALUES: usize = 150;
/// Of those, values whose encodings are mutated.
const MUTATED: usize = 12;
/// Random byte strings per message type.
const RANDOM: usize = 1500;
/// Largest `arbitrary` input.
const MAX_INPUT: usize = 6 * 1024;
/// stellar-xdr's nesting limit in these tests.
const DEPTH: u32 = 500;

// ---------------------------------------------------------------------------------------
// The two decoders side by side.

/// What one input did to the two decoders.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    both_accept: usize,
    both_reject: usize,
    /// Accepted only by us, in an opaque arm (the documented difference).
    only_ours_opaque: usize,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.both_accept += o.both_accept;
        self.both_reject += o.both_reject;
        self.only_ours_opaque += o.only_ours_opaque;
    }
}

/// A type both sides decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Authenticated,
    Envelope,
    SurveyBody,
}

fn limits(bytes: &[u8]) -> Limits {
    Limits {
        depth: DEPTH,
        len: bytes.len(),
    }
}

fn xdr(v: &impl WriteXdr) -> Vec<u8> {
    v.to_xdr(Limits::depth(DEPTH)).expect("stellar-xdr encodes")
}

fn is_opaque(t: ours::MessageType) -> bool {
    use ours::MessageType as T;
    matches!(
        t,
        T::TxSet | T::GeneralizedTxSet | T::Transaction | T::ScpQuorumSet
    )
}

/// Our decoded `AuthenticatedMessage`: the envelope's parts and its message.
type OursAuthenticated<'a> = (ours::AuthenticatedMessage<'a>, ours::StellarMessage<'a>);

/// Runs one input through both decoders and checks the verdicts agree (up to the
/// documented difference); where both accept, re-encodings and fields must agree.
fn differential(kind: Kind, input: &[u8], tally: &mut Tally) {
    differential_as(kind, input, tally, false);
}

/// [`differential`]; with `refuse`, as if stellar-xdr refused every input (to test the
/// exemption on inputs both decoders accept).
fn differential_as(kind: Kind, input: &[u8], tally: &mut Tally, refuse: bool) {
    match kind {
        Kind::Message => {
            let theirs =
                stellar_xdr_refuses(x::StellarMessage::from_xdr(input, limits(input)), refuse);
            let ours = ours::StellarMessage::decode(input);
            judge(
                kind,
                input,
                theirs,
                ours,
                tally,
                |o| message_exempt(o, input),
                |t, o| check_message(t, o, input),
            );
        }
        Kind::Authenticated => {
            let theirs = stellar_xdr_refuses(
                x::AuthenticatedMessage::from_xdr(input, limits(input)),
                refuse,
            );
            let ours = decode_authenticated(input);
            judge(
                kind,
                input,
                theirs,
                ours,
                tally,
                |o| authenticated_exempt(o, input),
                |t, (am, m)| {
                    let x::AuthenticatedMessage::V0(v0) = t;
                    assert_eq!(am.sequence, v0.sequence);
                    assert_eq!(am.mac, &v0.mac.mac);
                    check_message(&v0.message, m, am.message);
                },
            );
        }
        Kind::Envelope => {
            let theirs =
                stellar_xdr_refuses(x::ScpEnvelope::from_xdr(input, limits(input)), refuse);
            let ours = ours::ScpEnvelope::decode(input);
            judge(
                kind,
                input,
                theirs,
                ours,
                tally,
                |_| false,
                |t, o| {
                    assert_eq!(o.bytes, &xdr(t)[..], "SCPEnvelope re-encoding");
                    assert_eq!(&envelope_to_x(o), t, "SCPEnvelope fields");
                },
            );
        }
        Kind::SurveyBody => {
            let theirs = stellar_xdr_refuses(
                x::SurveyResponseBody::from_xdr(input, limits(input)),
                refuse,
            );
            let ours = ours::SurveyResponseBody::decode(input);
            judge(
                kind,
                input,
                theirs,
                ours,
                tally,
                |_| false,
                |t, o| {
                    assert_eq!(o.to_vec(), xdr(t), "SurveyResponseBody re-encoding");
                    assert_eq!(&survey_body_to_x(o), t, "SurveyResponseBody fields");
                },
            );
        }
    }
}

/// stellar-xdr's verdict, or a refusal with `refuse`.
fn stellar_xdr_refuses<T>(r: Result<T, x::Error>, refuse: bool) -> Result<T, x::Error> {
    r.and_then(|v| {
        if refuse {
            Err(x::Error::Invalid)
        } else {
            Ok(v)
        }
    })
}

fn decode_authenticated(input: &[u8]) -> Result<OursAuthenticated<'_>, DecodeError> {
    ours::AuthenticatedMessage::parse(input).and_then(|am| am.decode().map(|m| (am, m)))
}

/// The verdict rule. `exempt` says whether a value only we accepted is the documented
/// difference; `both` checks a value both decoders accepted.
fn judge<T: Debug, O: Debug>(
    kind: Kind,
    input: &[u8],
    theirs: Result<T, x::Error>,
    ours: Result<O, DecodeError>,
    tally: &mut Tally,
    exempt: impl FnOnce(&O) -> bool,
    both: impl FnOnce(&T, &O),
) {
    match (&theirs, &ours) {
        (Ok(t), Ok(o)) => {
            both(t, o);
            tally.both_accept += 1;
        }
        (Err(_), Err(_)) => tally.both_reject += 1,
        (Err(e), Ok(o)) => {
            assert!(
                exempt(o),
                "{kind:?}: only we accept (stellar-xdr: {e:?}): {o:?}\ninput {}",
                hex(input)
            );
            tally.only_ours_opaque += 1;
        }
        (Ok(t), Err(e)) => panic!(
            "{kind:?}: only stellar-xdr accepts (we say {e:?}): {t:?}\ninput {}",
            hex(input)
        ),
    }
}

/// Whether stellar-xdr refuses the body of an opaque arm on its own, as the arm's type;
/// `None` for every other arm. (Opaque arms are deliberately not fully validated by our
/// zero-copy decoder: the host validates them with stellar-xdr.)
fn opaque_body_refused(m: &ours::StellarMessage<'_>) -> Option<bool> {
    use ours::StellarMessage as O;
    let refused = match m {
        O::TxSet(b) => opaque_arm::<x::TransactionSet>(b).is_none(),
        O::GeneralizedTxSet(b) => opaque_arm::<x::GeneralizedTransactionSet>(b).is_none(),
        O::Transaction(b) => opaque_arm::<x::TransactionEnvelope>(b).is_none(),
        O::ScpQuorumSet(b) => opaque_arm::<x::ScpQuorumSet>(b).is_none(),
        _ => return None,
    };
    Some(refused)
}

/// The exemption for a bare `StellarMessage` (tag at offset 0) only we accept: we decoded
/// an opaque arm, its tag and body are the input verbatim, and stellar-xdr refuses the
/// body on its own — so the body is the only thing stellar-xdr can have refused.
fn message_exempt(m: &ours::StellarMessage<'_>, input: &[u8]) -> bool {
    opaque_body_refused(m) == Some(true) && m.to_vec() == input
}

/// Where an `AuthenticatedMessage` v0's `StellarMessage` starts: after the version (4)
/// and the sequence (8).
const AUTHENTICATED_MESSAGE_AT: usize = 4 + 8;

/// The exemption for an `AuthenticatedMessage` only we accept: our message view starts at
/// offset 12 of the input and is an exempt opaque message there, and version 0, the
/// sequence, the message and the MAC are the input verbatim.
fn authenticated_exempt((am, m): &OursAuthenticated<'_>, input: &[u8]) -> bool {
    let at = AUTHENTICATED_MESSAGE_AT;
    let starts_at_12 = input
        .get(at..)
        .is_some_and(|rest| std::ptr::eq(am.message.as_ptr(), rest.as_ptr()));
    let rebuilt = [
        &0u32.to_be_bytes()[..],
        &am.sequence.to_be_bytes(),
        am.message,
        am.mac,
    ]
    .concat();
    starts_at_12 && rebuilt == input && message_exempt(m, am.message)
}

/// Both accepted a StellarMessage: same bytes out, same fields.
fn check_message(t: &x::StellarMessage, o: &ours::StellarMessage<'_>, input: &[u8]) {
    assert_eq!(o.message_type() as i32, t.discriminant() as i32);
    let mine = o.to_vec();
    assert_eq!(o.encoded_len(), mine.len());
    if is_opaque(o.message_type()) {
        // Kept as received; stellar-xdr writes bools inside canonically.
        assert_eq!(mine, input, "opaque arm keeps its bytes");
    } else {
        assert!(mine == xdr(t), "re-encodings differ for {}", hex(input));
    }
    assert_eq!(
        to_x(o).as_ref(),
        Some(t),
        "fields differ for {}",
        hex(input)
    );
}

// ---------------------------------------------------------------------------------------
// Our views as stellar-xdr values, field by field.

fn x_node(id: &[u8; 32]) -> x::NodeId {
    x::NodeId(x::PublicKey::PublicKeyTypeEd25519(x::Uint256(*id)))
}

fn bytes<const N: u32>(b: &[u8]) -> x::BytesM<N> {
    b.to_vec().try_into().expect("within the bound")
}

fn string<const N: u32>(b: &[u8]) -> x::StringM<N> {
    b.to_vec().try_into().expect("within the bound")
}

fn sig(b: &[u8]) -> x::Signature {
    x::Signature(bytes(b))
}

fn x_peer(p: &ours::PeerAddress) -> x::PeerAddress {
    x::PeerAddress {
        ip: match p.ip {
            IpAddr::V4(a) => x::PeerAddressIp::IPv4(a.octets()),
            IpAddr::V6(a) => x::PeerAddressIp::IPv6(a.octets()),
        },
        port: p.port,
        num_failures: p.num_failures,
    }
}

fn hashes(h: &ours::TxHashes<'_>) -> x::VecM<x::Hash, 1000> {
    h.iter()
        .map(|h| x::Hash(*h))
        .collect::<Vec<_>>()
        .try_into()
        .expect("<= 1000")
}

fn opaque_arm<T: ReadXdr>(b: &[u8]) -> Option<T> {
    T::from_xdr(b, limits(b)).ok()
}

/// Our decoded view as a stellar-xdr value; `None` only for an opaque arm whose bytes
/// stellar-xdr refuses.
fn to_x(m: &ours::StellarMessage<'_>) -> Option<x::StellarMessage> {
    use ours::StellarMessage as O;
    use x::StellarMessage as X;
    Some(match m {
        O::ErrorMsg(e) => X::ErrorMsg(x::SError {
            code: x::ErrorCode::try_from(e.code as i32).ok()?,
            msg: string(e.msg),
        }),
        O::Hello(h) => X::Hello(x::Hello {
            ledger_version: h.ledger_version,
            overlay_version: h.overlay_version,
            overlay_min_version: h.overlay_min_version,
            network_id: x::Hash(*h.network_id),
            version_str: string(h.version_str),
            listening_port: h.listening_port,
            peer_id: x_node(h.peer_id),
            cert: x::AuthCert {
                pubkey: x::Curve25519Public {
                    key: *h.cert.pubkey,
                },
                expiration: h.cert.expiration,
                sig: sig(h.cert.sig),
            },
            nonce: x::Uint256(*h.nonce),
        }),
        O::Auth(a) => X::Auth(x::Auth { flags: a.flags }),
        O::DontHave(d) => X::DontHave(x::DontHave {
            type_: x::MessageType::try_from(d.message_type as i32).ok()?,
            req_hash: x::Uint256(*d.req_hash),
        }),
        O::Peers(p) => X::Peers(
            p.iter()
                .map(|a| x_peer(&a))
                .collect::<Vec<_>>()
                .try_into()
                .ok()?,
        ),
        O::GetTxSet(h) => X::GetTxSet(x::Uint256(**h)),
        O::TxSet(b) => X::TxSet(opaque_arm(b)?),
        O::GeneralizedTxSet(b) => X::GeneralizedTxSet(opaque_arm(b)?),
        O::Transaction(b) => X::Transaction(opaque_arm(b)?),
        O::ScpQuorumSet(b) => X::ScpQuorumset(opaque_arm(b)?),
        O::SurveyRequest(s) => {
            let r = &s.request;
            X::TimeSlicedSurveyRequest(x::SignedTimeSlicedSurveyRequestMessage {
                request_signature: sig(s.signature),
                request: x::TimeSlicedSurveyRequestMessage {
                    request: x::SurveyRequestMessage {
                        surveyor_peer_id: x_node(r.surveyor_peer_id),
                        surveyed_peer_id: x_node(r.surveyed_peer_id),
                        ledger_num: r.ledger_num,
                        encryption_key: x::Curve25519Public {
                            key: *r.encryption_key,
                        },
                        command_type: x::SurveyMessageCommandType::TimeSlicedSurveyTopology,
                    },
                    nonce: r.nonce,
                    inbound_peers_index: r.inbound_peers_index,
                    outbound_peers_index: r.outbound_peers_index,
                },
            })
        }
        O::SurveyResponse(s) => {
            let r = &s.response;
            X::TimeSlicedSurveyResponse(x::SignedTimeSlicedSurveyResponseMessage {
                response_signature: sig(s.signature),
                response: x::TimeSlicedSurveyResponseMessage {
                    response: x::SurveyResponseMessage {
                        surveyor_peer_id: x_node(r.surveyor_peer_id),
                        surveyed_peer_id: x_node(r.surveyed_peer_id),
                        ledger_num: r.ledger_num,
                        command_type: x::SurveyMessageCommandType::TimeSlicedSurveyTopology,
                        encrypted_body: x::EncryptedBody(bytes(r.encrypted_body)),
                    },
                    nonce: r.nonce,
                },
            })
        }
        O::SurveyStartCollecting(s) => {
            X::TimeSlicedSurveyStartCollecting(x::SignedTimeSlicedSurveyStartCollectingMessage {
                signature: sig(s.signature),
                start_collecting: x::TimeSlicedSurveyStartCollectingMessage {
                    surveyor_id: x_node(s.body.surveyor_id),
                    nonce: s.body.nonce,
                    ledger_num: s.body.ledger_num,
                },
            })
        }
        O::SurveyStopCollecting(s) => {
            X::TimeSlicedSurveyStopCollecting(x::SignedTimeSlicedSurveyStopCollectingMessage {
                signature: sig(s.signature),
                stop_collecting: x::TimeSlicedSurveyStopCollectingMessage {
                    surveyor_id: x_node(s.body.surveyor_id),
                    nonce: s.body.nonce,
                    ledger_num: s.body.ledger_num,
                },
            })
        }
        O::GetScpQuorumSet(h) => X::GetScpQuorumset(x::Uint256(**h)),
        O::ScpMessage(e) => X::ScpMessage(envelope_to_x(e)),
        O::GetScpState(s) => X::GetScpState(*s),
        O::SendMore(s) => X::SendMore(x::SendMore {
            num_messages: s.num_messages,
        }),
        O::SendMoreExtended(s) => X::SendMoreExtended(x::SendMoreExtended {
            num_messages: s.num_messages,
            num_bytes: s.num_bytes,
        }),
        O::FloodAdvert(h) => X::FloodAdvert(x::FloodAdvert {
            tx_hashes: x::TxAdvertVector(hashes(h)),
        }),
        O::FloodDemand(h) => X::FloodDemand(x::FloodDemand {
            tx_hashes: x::TxDemandVector(hashes(h)),
        }),
    })
}

fn ballot_to_x(b: &ours::Ballot<'_>) -> x::ScpBallot {
    x::ScpBallot {
        counter: b.counter,
        value: x::Value(bytes(b.value)),
    }
}

fn values_to_x(v: &ours::Values<'_>) -> x::VecM<x::Value> {
    v.iter()
        .map(|v| x::Value(bytes(v)))
        .collect::<Vec<_>>()
        .try_into()
        .expect("unbounded")
}

fn envelope_to_x(e: &ours::ScpEnvelope<'_>) -> x::ScpEnvelope {
    use ours::Pledges as O;
    use x::ScpStatementPledges as X;
    let pledges = match &e.pledges {
        O::Prepare {
            quorum_set_hash,
            ballot,
            prepared,
            prepared_prime,
            n_c,
            n_h,
        } => X::Prepare(x::ScpStatementPrepare {
            quorum_set_hash: x::Hash(**quorum_set_hash),
            ballot: ballot_to_x(ballot),
            prepared: prepared.as_ref().map(ballot_to_x),
            prepared_prime: prepared_prime.as_ref().map(ballot_to_x),
            n_c: *n_c,
            n_h: *n_h,
        }),
        O::Confirm {
            ballot,
            n_prepared,
            n_commit,
            n_h,
            quorum_set_hash,
        } => X::Confirm(x::ScpStatementConfirm {
            ballot: ballot_to_x(ballot),
            n_prepared: *n_prepared,
            n_commit: *n_commit,
            n_h: *n_h,
            quorum_set_hash: x::Hash(**quorum_set_hash),
        }),
        O::Externalize {
            commit,
            n_h,
            commit_quorum_set_hash,
        } => X::Externalize(x::ScpStatementExternalize {
            commit: ballot_to_x(commit),
            n_h: *n_h,
            commit_quorum_set_hash: x::Hash(**commit_quorum_set_hash),
        }),
        O::Nominate {
            quorum_set_hash,
            votes,
            accepted,
        } => X::Nominate(x::ScpNomination {
            quorum_set_hash: x::Hash(**quorum_set_hash),
            votes: values_to_x(votes),
            accepted: values_to_x(accepted),
        }),
    };
    x::ScpEnvelope {
        statement: x::ScpStatement {
            node_id: x_node(e.node_id),
            slot_index: e.slot_index,
            pledges,
        },
        signature: sig(e.signature),
    }
}

fn survey_body_to_x(b: &ours::SurveyResponseBody<'_>) -> x::SurveyResponseBody {
    let list = |l: &ours::PeerDataList<'_>| {
        x::TimeSlicedPeerDataList(
            l.iter()
                .map(|p| {
                    let s = &p.peer_stats;
                    x::TimeSlicedPeerData {
                        peer_stats: x::PeerStats {
                            id: x_node(&s.id),
                            version_str: string(s.version_str),
                            messages_read: s.messages_read,
                            messages_written: s.messages_written,
                            bytes_read: s.bytes_read,
                            bytes_written: s.bytes_written,
                            seconds_connected: s.seconds_connected,
                            unique_flood_bytes_recv: s.unique_flood_bytes_recv,
                            duplicate_flood_bytes_recv: s.duplicate_flood_bytes_recv,
                            unique_fetch_bytes_recv: s.unique_fetch_bytes_recv,
                            duplicate_fetch_bytes_recv: s.duplicate_fetch_bytes_recv,
                            unique_flood_message_recv: s.unique_flood_message_recv,
                            duplicate_flood_message_recv: s.duplicate_flood_message_recv,
                            unique_fetch_message_recv: s.unique_fetch_message_recv,
                            duplicate_fetch_message_recv: s.duplicate_fetch_message_recv,
                        },
                        average_latency_ms: p.average_latency_ms,
                    }
                })
                .collect::<Vec<_>>()
                .try_into()
                .expect("<= 25"),
        )
    };
    let n = &b.node_data;
    x::SurveyResponseBody::SurveyTopologyResponseV2(x::TopologyResponseBodyV2 {
        inbound_peers: list(&b.inbound_peers),
        outbound_peers: list(&b.outbound_peers),
        node_data: x::TimeSlicedNodeData {
            added_authenticated_peers: n.added_authenticated_peers,
            dropped_authenticated_peers: n.dropped_authenticated_peers,
            total_inbound_peer_count: n.total_inbound_peer_count,
            total_outbound_peer_count: n.total_outbound_peer_count,
            p75_scp_first_to_self_latency_ms: n.p75_scp_first_to_self_latency_ms,
            p75_scp_self_to_other_latency_ms: n.p75_scp_self_to_other_latency_ms,
            lost_sync_count: n.lost_sync_count,
            is_validator: n.is_validator,
            max_inbound_peer_count: n.max_inbound_peer_count,
            max_outbound_peer_count: n.max_outbound_peer_count,
        },
    })
}

// ---------------------------------------------------------------------------------------
// Inputs.

/// SplitMix64 seeded from a name, so every run checks the same inputs.
struct Rng(u64);

impl Rng {
    fn seeded(name: &str) -> Self {
        Rng(name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Input for `arbitrary` whose collections do not all stay empty: the continue bits
    /// (low bit of a byte) are set with probability 1 - 2^-k for a random k.
    fn arbitrary_input(&mut self) -> Vec<u8> {
        let n = self.below(MAX_INPUT + 1);
        let k = self.below(9);
        (0..n)
            .map(|_| {
                let mut b = self.next() as u8;
                if k > 0 && (0..k).any(|_| self.next() & 1 == 1) {
                    b |= 1;
                }
                b
            })
            .collect()
    }

    /// An XDR-shaped word: small values, bounds and their neighbours, or anything.
    fn word(&mut self) -> u32 {
        const WORDS: [u32; 14] = [0, 1, 2, 3, 4, 25, 26, 32, 64, 65, 100, 101, 1000, 1001];
        match self.below(4) {
            0 | 1 => WORDS[self.below(WORDS.len())],
            2 => self.below(16) as u32,
            _ => self.next() as u32,
        }
    }
}

/// `n` arbitrary values that stellar-xdr encodes, with their encodings.
fn arbitrary_values<X: WriteXdr>(
    name: &str,
    n: usize,
    make: impl Fn(&mut Unstructured<'_>) -> arbitrary::Result<X>,
) -> Vec<(X, Vec<u8>)> {
    let mut rng = Rng::seeded(name);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n {
        tries += 1;
        assert!(tries < 20 * n, "{name}: too few encodable values");
        let input = rng.arbitrary_input();
        let Ok(v) = make(&mut Unstructured::new(&input)) else {
            continue;
        };
        // Leave depth for the wrappers (AuthenticatedMessage) put around it.
        let Ok(b) = v.to_xdr(Limits::depth(DEPTH / 2)) else {
            continue;
        };
        out.push((v, b));
    }
    out
}

/// Calls `f` with mutations of a valid encoding.
fn mutations(bytes: &[u8], rng: &mut Rng, mut f: impl FnMut(&[u8])) {
    let len = bytes.len();
    // Truncations: every length for short encodings, samples for long ones.
    let cuts: Vec<usize> = if len <= 256 {
        (0..len).collect()
    } else {
        (0..64).map(|_| rng.below(len)).collect()
    };
    for cut in cuts {
        f(&bytes[..cut]);
    }
    // Trailing bytes.
    for extra in [1usize, 3, 4, 8] {
        let mut m = bytes.to_vec();
        m.extend(rng.bytes(extra));
        f(&m);
    }
    // Bit flips.
    for _ in 0..48 {
        let mut m = bytes.to_vec();
        if len > 0 {
            let i = rng.below(len);
            m[i] ^= 1 << rng.below(8);
            f(&m);
        }
    }
    // Length fields and discriminants: each 4-byte word (sampled when long) set to its
    // neighbours, small values and bounds.
    let words = len / 4;
    let picks: Vec<usize> = if words <= 64 {
        (0..words).collect()
    } else {
        (0..64).map(|_| rng.below(words)).collect()
    };
    for w in picks {
        let at = w * 4;
        let orig = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        for v in [
            orig.wrapping_add(1),
            orig.wrapping_sub(1),
            orig.wrapping_add(4),
            orig.wrapping_sub(4),
            rng.word(),
            u32::MAX,
        ] {
            let mut m = bytes.to_vec();
            m[at..at + 4].copy_from_slice(&v.to_be_bytes());
            f(&m);
        }
        // A word inserted or removed at this boundary.
        let mut m = bytes.to_vec();
        m.splice(at..at, rng.word().to_be_bytes());
        f(&m);
        let mut m = bytes.to_vec();
        m.drain(at..at + 4);
        f(&m);
    }
}

/// Values with their stellar-xdr encodings.
type Encoded = Vec<(x::StellarMessage, Vec<u8>)>;

type Make<X> = fn(&mut Unstructured<'_>) -> arbitrary::Result<X>;

/// One test per `StellarMessage` arm: arbitrary values decode to equal fields, and their
/// mutations are judged alike by both decoders; plus the same inside an
/// `AuthenticatedMessage`.
macro_rules! arms {
    ($($test:ident => $arm:ident,)*) => {
        /// Each arm's name and a generator of arbitrary values of it.
        const ARMS: &[(&str, Make<x::StellarMessage>)] = &[
            $((stringify!($arm), |u| Ok(x::StellarMessage::$arm(Arbitrary::arbitrary(u)?)))),*
        ];
        $(
            #[test]
            fn $test() {
                message_arm(stringify!($arm));
            }
        )*
    };
}

arms! {
    arm_error_msg => ErrorMsg,
    arm_hello => Hello,
    arm_auth => Auth,
    arm_dont_have => DontHave,
    arm_peers => Peers,
    arm_get_tx_set => GetTxSet,
    arm_tx_set => TxSet,
    arm_generalized_tx_set => GeneralizedTxSet,
    arm_transaction => Transaction,
    arm_survey_request => TimeSlicedSurveyRequest,
    arm_survey_response => TimeSlicedSurveyResponse,
    arm_survey_start_collecting => TimeSlicedSurveyStartCollecting,
    arm_survey_stop_collecting => TimeSlicedSurveyStopCollecting,
    arm_get_scp_quorumset => GetScpQuorumset,
    arm_scp_quorumset => ScpQuorumset,
    arm_scp_message => ScpMessage,
    arm_get_scp_state => GetScpState,
    arm_send_more => SendMore,
    arm_send_more_extended => SendMoreExtended,
    arm_flood_advert => FloodAdvert,
    arm_flood_demand => FloodDemand,
}

#[test]
fn every_arm_is_tested() {
    let mut covered: Vec<&str> = ARMS.iter().map(|(name, _)| *name).collect();
    let mut all = x::StellarMessage::VARIANTS_STR.to_vec();
    covered.sort_unstable();
    all.sort_unstable();
    assert_eq!(covered, all);
}

fn arm(name: &str) -> Make<x::StellarMessage> {
    ARMS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, make)| *make)
        .expect("an arm")
}

fn message_arm(name: &'static str) {
    let make = arm(name);
    on_big_stack(move || {
        let values = arbitrary_values(name, VALUES, make);
        // Valid values: stellar-xdr → ours, equal fields, equal bytes.
        for (v, b) in &values {
            let o = ours::StellarMessage::decode(b)
                .unwrap_or_else(|e| panic!("{name}: we reject ({e:?}) {v:?}"));
            check_message(v, &o, b);
        }
        let mut rng = Rng::seeded(name);
        let mut tally = Tally::default();
        let mut envelope = Tally::default();
        for (v, b) in values.iter().filter(|(_, b)| b.len() <= 4096).take(MUTATED) {
            mutations(b, &mut rng, |m| differential(Kind::Message, m, &mut tally));
            // The same message in an AuthenticatedMessage, and that envelope mutated.
            let am = x::AuthenticatedMessage::V0(x::AuthenticatedMessageV0 {
                sequence: rng.next(),
                message: v.clone(),
                mac: x::HmacSha256Mac {
                    mac: rng.bytes(32).try_into().unwrap(),
                },
            });
            let ab = xdr(&am);
            differential(Kind::Authenticated, &ab, &mut envelope);
            mutations(&ab, &mut rng, |m| {
                differential(Kind::Authenticated, m, &mut envelope)
            });
        }
        eprintln!("{name}: mutations {tally:?}, in AuthenticatedMessage {envelope:?}");
        assert!(
            tally.both_accept > 0 && tally.both_reject > 0,
            "{name}: {tally:?}"
        );
    });
}

#[test]
fn scp_envelopes() {
    on_big_stack(|| {
        // A closure: the method path is not general over the input's lifetime.
        #[allow(clippy::redundant_closure)]
        let values = arbitrary_values("SCPEnvelope", VALUES, |u| x::ScpEnvelope::arbitrary(u));
        let mut rng = Rng::seeded("SCPEnvelope mutations");
        let mut tally = Tally::default();
        for (v, b) in &values {
            let o = ours::ScpEnvelope::decode(b).expect("envelope decodes");
            assert_eq!(&envelope_to_x(&o), v);
        }
        for (_, b) in values.iter().take(2 * MUTATED) {
            mutations(b, &mut rng, |m| differential(Kind::Envelope, m, &mut tally));
        }
        eprintln!("SCPEnvelope: {tally:?}");
        assert!(tally.both_accept > 0 && tally.both_reject > 0);
    });
}

#[test]
fn survey_response_bodies() {
    on_big_stack(|| {
        let values = arbitrary_values("SurveyResponseBody", VALUES, |u| {
            x::SurveyResponseBody::arbitrary(u)
        });
        let mut rng = Rng::seeded("SurveyResponseBody mutations");
        let mut tally = Tally::default();
        for (v, b) in &values {
            let o = ours::SurveyResponseBody::decode(b).expect("survey body decodes");
            assert_eq!(&survey_body_to_x(&o), v);
        }
        for (_, b) in values.iter().take(2 * MUTATED) {
            mutations(b, &mut rng, |m| {
                differential(Kind::SurveyBody, m, &mut tally)
            });
        }
        eprintln!("SurveyResponseBody: {tally:?}");
        assert!(tally.both_accept > 0 && tally.both_reject > 0);
    });
}

/// Seeded random byte strings: for every message type (and unknown tags), uniform bodies
/// and XDR-shaped word soups of random lengths; the same words as bare envelopes and
/// survey bodies.
#[test]
fn random_bytes() {
    on_big_stack(|| {
        let mut rng = Rng::seeded("random bytes");
        let mut total = Tally::default();
        let mut tags: Vec<i32> = ours::MessageType::ALL.iter().map(|t| *t as i32).collect();
        tags.extend([-1, 1, 4, 14, 15, 25, 0x7fff_ffff]);
        for &tag in &tags {
            let mut tally = Tally::default();
            for i in 0..RANDOM {
                let mut input = tag.to_be_bytes().to_vec();
                // Mostly short: the fixed-size messages are 1 to 9 words.
                let words = rng.below(match i % 8 {
                    0 => 400,
                    1 | 2 => 48,
                    _ => 12,
                });
                if i % 2 == 0 {
                    let n = words * 4 + rng.below(2) * rng.below(4);
                    input.extend(rng.bytes(n));
                } else {
                    for _ in 0..words {
                        input.extend(rng.word().to_be_bytes());
                    }
                }
                differential(Kind::Message, &input, &mut tally);
            }
            eprintln!("tag {tag}: {tally:?}");
            total.add(tally);
        }
        // Untagged uniform strings, and word soups as other types.
        let mut other = Tally::default();
        for _ in 0..RANDOM {
            let n = rng.below(300);
            differential(Kind::Message, &rng.bytes(n), &mut other);
            let words = rng.below(80);
            let soup: Vec<u8> = (0..words).flat_map(|_| rng.word().to_be_bytes()).collect();
            differential(Kind::Envelope, &soup, &mut other);
            differential(Kind::SurveyBody, &soup, &mut other);
            differential(Kind::Authenticated, &soup, &mut other);
        }
        eprintln!("untagged and other types: {other:?}; total {total:?}");
        assert!(
            total.both_accept > 300,
            "random inputs rarely decode: {total:?}"
        );
    });
}

/// The one deliberate difference, exactly: an opaque arm's body that is non-empty and
/// 4-byte aligned is accepted by us whatever it holds; empty or misaligned bodies are
/// refused by both; a body stellar-xdr accepts is accepted by us with the same bytes.
#[test]
fn opaque_arms_are_the_only_difference() {
    use ours::MessageType as T;
    for t in [
        T::TxSet,
        T::GeneralizedTxSet,
        T::Transaction,
        T::ScpQuorumSet,
    ] {
        let msg = |body: &[u8]| [&(t as i32).to_be_bytes()[..], body].concat();
        let verdicts = |b: &[u8]| {
            (
                x::StellarMessage::from_xdr(b, limits(b)).is_ok(),
                ours::StellarMessage::decode(b).is_ok(),
            )
        };
        // Junk that no arm type decodes: a huge count or unknown discriminant up front.
        let junk = msg(&[0xff; 8]);
        assert_eq!(verdicts(&junk), (false, true), "{t}: aligned junk");
        assert_eq!(verdicts(&msg(&[])), (false, false), "{t}: empty body");
        assert_eq!(
            verdicts(&msg(&[0; 5])),
            (false, false),
            "{t}: misaligned body"
        );
        assert_eq!(
            verdicts(&msg(&[0; 6])),
            (false, false),
            "{t}: misaligned body"
        );
        let mut tally = Tally::default();
        differential(Kind::Message, &junk, &mut tally);
        assert_eq!(tally.only_ours_opaque, 1);
        // The same message inside an AuthenticatedMessage: the same difference.
        differential(Kind::Authenticated, &authenticated(&junk), &mut tally);
        assert_eq!(tally.only_ours_opaque, 2);
    }
    // Every other arm is exact: a misaligned or junk body is refused by both.
    for t in ours::MessageType::ALL
        .into_iter()
        .filter(|t| !is_opaque(*t))
    {
        let b = [&(t as i32).to_be_bytes()[..], &[0xff; 8]].concat();
        let mut tally = Tally::default();
        differential(Kind::Message, &b, &mut tally);
        assert_eq!(tally.only_ours_opaque, 0, "{t}");
    }
}

/// An `AuthenticatedMessage` v0 around `message` (raw bytes, which need not decode).
fn authenticated(message: &[u8]) -> Vec<u8> {
    [
        &0u32.to_be_bytes()[..],
        &7u64.to_be_bytes(),
        message,
        &[0xab; 32],
    ]
    .concat()
}

/// Whether an input we accept would pass [`differential`] if stellar-xdr refused it.
fn exempt(kind: Kind, input: &[u8]) -> bool {
    let mut tally = Tally::default();
    let passed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        differential_as(kind, input, &mut tally, true)
    }))
    .is_ok();
    assert_eq!(
        tally.both_reject,
        0,
        "{kind:?}: we must accept {}",
        hex(input)
    );
    assert_eq!(tally.only_ours_opaque, usize::from(passed));
    passed
}

/// The exemption is exactly [`message_exempt`] / [`authenticated_exempt`]: not an opaque
/// tag's value anywhere in the input (what an earlier, looser rule accepted at offset 0 or
/// 12 of every kind), not an opaque arm whose body stellar-xdr accepts, and never for
/// `SCPEnvelope` or `SurveyResponseBody`. Each input here decodes with both decoders; the
/// check runs as if stellar-xdr had refused it.
#[test]
fn the_exemption_is_tight() {
    on_big_stack(|| {
        use ours::MessageType as T;
        let opaque = [
            T::TxSet,
            T::Transaction,
            T::ScpQuorumSet,
            T::GeneralizedTxSet,
        ];
        assert_eq!(opaque.map(|t| t as i32), [7, 8, 10, 17]);
        for t in opaque {
            let tag = (t as i32).to_be_bytes();
            // Junk in an opaque arm: exempt, bare (tag at 0) and authenticated (tag at 12).
            let junk = [&tag[..], &[0xff; 8]].concat();
            assert!(exempt(Kind::Message, &junk), "{t}");
            assert!(exempt(Kind::Authenticated, &authenticated(&junk)), "{t}");

            // A FLOOD_ADVERT of one hash whose word at offset 12 is the opaque tag.
            let mut advert = [
                &(T::FloodAdvert as i32).to_be_bytes()[..],
                &1u32.to_be_bytes(),
                &[0x11; 32],
            ]
            .concat();
            advert[12..16].copy_from_slice(&tag);
            assert!(!exempt(Kind::Message, &advert), "{t}: advert");
            assert!(
                !exempt(Kind::Authenticated, &authenticated(&advert)),
                "{t}: authenticated advert"
            );
            // An authenticated non-opaque message with the tag in its sequence's low word
            // and at offset 12 of its message.
            let mut am = authenticated(&advert);
            am[8..12].copy_from_slice(&tag);
            assert!(
                !exempt(Kind::Authenticated, &am),
                "{t}: tag in the sequence"
            );

            // An SCPEnvelope and a SurveyResponseBody with the tag at offset 12 (inside the
            // envelope's node ID key; a survey body's peer key, or its node data). At
            // offset 0 neither would decode: the key type and the body's discriminant
            // are fixed.
            #[allow(clippy::redundant_closure)]
            let envs = arbitrary_values(&format!("tight {t}"), 3, |u| x::ScpEnvelope::arbitrary(u));
            for (_, mut b) in envs {
                b[12..16].copy_from_slice(&tag);
                assert!(!exempt(Kind::Envelope, &b), "{t}: SCPEnvelope {}", hex(&b));
            }
            let bodies = arbitrary_values(&format!("tight {t}"), 12, |u| {
                x::SurveyResponseBody::arbitrary(u)
            });
            let mut checked = 0;
            for (_, mut b) in bodies {
                b[12..16].copy_from_slice(&tag);
                // Not when offset 12 is the outbound list's first key type.
                if ours::SurveyResponseBody::decode(&b).is_ok() {
                    assert!(
                        !exempt(Kind::SurveyBody, &b),
                        "{t}: survey body {}",
                        hex(&b)
                    );
                    checked += 1;
                }
            }
            assert!(checked >= 3, "{t}: {checked} survey bodies");
        }
        // An opaque arm whose body stellar-xdr accepts: if stellar-xdr refused the whole,
        // the reason would be elsewhere, so no exemption.
        for name in ["TxSet", "GeneralizedTxSet", "Transaction", "ScpQuorumset"] {
            for (_, b) in arbitrary_values(&format!("tight {name}"), 3, arm(name)) {
                assert!(!exempt(Kind::Message, &b), "{name}: valid body");
                assert!(
                    !exempt(Kind::Authenticated, &authenticated(&b)),
                    "{name}: valid body, authenticated"
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// The fuzz seed corpus (overlay-core/fuzz/seeds).

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../overlay-core/fuzz/seeds")
}

/// Record-marked frame of an `AuthenticatedMessage` around `message`.
fn frame(seq: u64, message: &x::StellarMessage) -> Vec<u8> {
    let body = xdr(&x::AuthenticatedMessage::V0(x::AuthenticatedMessageV0 {
        sequence: seq,
        message: message.clone(),
        mac: x::HmacSha256Mac { mac: [0; 32] },
    }));
    [
        &(0x8000_0000u32 | body.len() as u32).to_be_bytes()[..],
        &body,
    ]
    .concat()
}

/// Every seed file, by target: real encodings made by stellar-xdr from arbitrary values of
/// each type, wrapped in each target's input format (see the targets' docs).
fn fuzz_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    // message: 5 small values of every arm.
    let mut per_arm: Vec<(String, Encoded)> = Vec::new();
    for arm in x::StellarMessage::VARIANTS_STR {
        let values = arbitrary_values(&format!("seed {arm}"), 40, self::arm(arm));
        let small: Vec<_> = values
            .into_iter()
            .filter(|(_, b)| b.len() <= 1500)
            .take(5)
            .collect();
        per_arm.push((arm.to_string(), small));
    }
    for (arm, values) in &per_arm {
        for (i, (_, b)) in values.iter().enumerate() {
            out.push((format!("message/{arm}-{i}"), b.clone()));
        }
    }
    let all: Vec<&(x::StellarMessage, Vec<u8>)> = per_arm.iter().flat_map(|(_, v)| v).collect();
    // frame: limit selector 2 or 3, chunk seeds, streams of 1-6 frames.
    let mut rng = Rng::seeded("frame seeds");
    for i in 0..8 {
        let mut s = vec![2 + (i % 2) as u8, rng.next() as u8];
        for _ in 0..1 + rng.below(6) {
            s.extend(frame(rng.next(), &all[rng.below(all.len())].0));
        }
        out.push((format!("frame/stream-{i}"), s));
    }
    // survey: selector 0 + SurveyResponseBody; selectors 1-4 + a survey message body.
    let bodies = arbitrary_values("seed survey bodies", 6, |u| {
        x::SurveyResponseBody::arbitrary(u)
    });
    for (i, (_, b)) in bodies
        .iter()
        .enumerate()
        .filter(|(_, (_, b))| b.len() <= 3000)
    {
        out.push((format!("survey/body-{i}"), [&[0u8][..], b].concat()));
    }
    for (sel, arm) in [
        (1u8, "TimeSlicedSurveyRequest"),
        (2, "TimeSlicedSurveyResponse"),
        (3, "TimeSlicedSurveyStartCollecting"),
        (4, "TimeSlicedSurveyStopCollecting"),
    ] {
        let (_, values) = per_arm.iter().find(|(a, _)| a == arm).unwrap();
        for (i, (_, b)) in values.iter().enumerate() {
            out.push((format!("survey/{arm}-{i}"), [&[sel][..], &b[4..]].concat()));
        }
    }
    // scp_envelope: pairs, some from the same node and slot (one statement built on the
    // other's fields).
    #[allow(clippy::redundant_closure)]
    let envs = arbitrary_values("seed envelopes", 12, |u| x::ScpEnvelope::arbitrary(u));
    for (i, pair) in envs.chunks(2).enumerate() {
        let (a, b) = (&pair[0].1, &pair[1].1);
        let mut s = (a.len() as u16).to_be_bytes().to_vec();
        s.extend_from_slice(a);
        s.extend_from_slice(b);
        out.push((format!("scp_envelope/pair-{i}"), s));
        let mut same = pair[1].0.clone();
        same.statement.node_id = pair[0].0.statement.node_id.clone();
        same.statement.slot_index = pair[0].0.statement.slot_index;
        let sb = xdr(&same);
        let mut s = (a.len() as u16).to_be_bytes().to_vec();
        s.extend_from_slice(a);
        s.extend_from_slice(&sb);
        out.push((format!("scp_envelope/same-slot-{i}"), s));
    }
    // peer_stream: flags (role, prefix), chunk seed, then frames of real messages.
    let mut rng = Rng::seeded("peer_stream seeds");
    for flags in [0u8, 1, 2, 3, 4, 5, 0x0c, 0x0d, 0x44, 0x45] {
        let mut s = vec![flags, rng.next() as u8];
        for _ in 0..1 + rng.below(4) {
            s.extend(frame(rng.below(3) as u64, &all[rng.below(all.len())].0));
        }
        out.push((format!("peer_stream/flags-{flags:02x}"), s));
    }
    // peer_authenticated: flags, then operations (opcode, u16 length, payload): honest
    // sends of real messages, credit, time, local sends.
    let mut rng = Rng::seeded("peer_authenticated seeds");
    for i in 0..12u8 {
        let mut s = vec![i % 4];
        for _ in 0..1 + rng.below(6) {
            let (op, payload): (u8, Vec<u8>) = match rng.below(5) {
                0 | 1 => (0, all[rng.below(all.len())].1.clone()),
                2 => (7, rng.bytes(8)),
                3 => (5, vec![0, 200]),
                _ => (6, all[rng.below(all.len())].1.clone()),
            };
            s.push(op);
            s.extend((payload.len() as u16).to_be_bytes());
            s.extend(payload);
        }
        out.push((format!("peer_authenticated/ops-{i}"), s));
    }
    out
}

/// The committed fuzz seeds are what [`fuzz_seeds`] makes (regenerate with
/// `UPDATE_FUZZ_SEEDS=1`), every message seed decodes with both decoders, and every arm has
/// seeds.
#[test]
fn fuzz_seeds_are_valid() {
    on_big_stack(|| {
        let seeds = fuzz_seeds();
        let dir = seeds_dir();
        if std::env::var_os("UPDATE_FUZZ_SEEDS").is_some() {
            for target in [
                "message",
                "frame",
                "survey",
                "scp_envelope",
                "peer_stream",
                "peer_authenticated",
            ] {
                let d = dir.join(target);
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).unwrap();
            }
            for (name, bytes) in &seeds {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        let mut arms = std::collections::BTreeSet::new();
        for (name, bytes) in &seeds {
            let committed = std::fs::read(dir.join(name)).unwrap_or_else(|e| {
                panic!("seed {name} missing ({e}); run with UPDATE_FUZZ_SEEDS=1")
            });
            assert!(
                committed == *bytes,
                "seed {name} is stale; run with UPDATE_FUZZ_SEEDS=1"
            );
            assert!(
                bytes.len() <= 4096,
                "seed {name} is over libFuzzer's default max_len"
            );
            if let Some(arm) = name.strip_prefix("message/") {
                let m = ours::StellarMessage::decode(bytes).expect("seed decodes");
                let theirs = x::StellarMessage::from_xdr(bytes, limits(bytes)).expect("seed");
                arms.insert(m.message_type());
                assert!(arm.starts_with(theirs.name()), "{name}");
            }
        }
        assert_eq!(
            arms.len(),
            ours::MessageType::ALL.len(),
            "every arm has seeds"
        );
    });
}

// ---------------------------------------------------------------------------------------
// Plumbing.

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deeply nested arbitrary values need more stack than a test thread has.
fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    let t = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn");
    if let Err(e) = t.join() {
        std::panic::resume_unwind(e);
    }
}
