//! Byte-for-byte cross-checks of the hand-written wire codec against `stellar-xdr`.
//!
//! For every `StellarMessage` arm, `SurveyResponseBody` and `SCPEnvelope`:
//! 1. stellar-xdr → ours: arbitrary values encoded by stellar-xdr decode with our codec to
//!    the same fields and re-encode to the same bytes, and `encoded_len` agrees;
//! 2. ours → stellar-xdr: the same values built with our API (or the decoded views
//!    re-encoded) decode with stellar-xdr to the value they came from;
//! 3. the `AuthenticatedMessage` envelope and the frame writer agree with stellar-xdr;
//! 4. mutated encodings are rejected by both decoders or by neither. The exception is the
//!    opaque arms (TX_SET, GENERALIZED_TX_SET, TRANSACTION, SCP_QUORUMSET), which we only
//!    check for being non-empty and 4-byte aligned: there stellar-xdr accepting implies
//!    we accept, not the converse.
//!
//! Values come from `arbitrary` over a deterministic PRNG, so every run checks the same
//! inputs. Run with `--nocapture` to see per-arm counts.

use std::fmt::Debug;
use std::net::IpAddr;

use arbitrary::{Arbitrary, Unstructured};
use overlay_core::wire::xdr::XdrWrite;
use overlay_core::wire::{self as ours, DecodeError};
use stellar_xdr::{self as x, Limits, ReadXdr, WriteXdr};

/// Encodable values cross-checked per arm.
const VALUES: usize = 1000;
/// Largest `arbitrary` input; each value draws its input length uniformly up to this.
const MAX_INPUT: usize = 32 * 1024;
/// Values per arm whose encodings are mutated.
const MUTATED_VALUES: usize = 64;
/// Encodings longer than this are not mutated (the opaque arms can be large).
const MUTATE_MAX_LEN: usize = 4096;
/// Encodings up to this long are mutated at every position; longer ones at samples.
const EXHAUSTIVE_LEN: usize = 512;
/// Positions sampled per mutation kind beyond [`EXHAUSTIVE_LEN`].
const SAMPLES: usize = 128;
/// Random multi-byte flips per mutated encoding.
const FLIPS: usize = 64;
/// Nesting allowed to stellar-xdr; arbitrary transactions can nest deeply.
const DEPTH: u32 = 500;
/// Words written over each 4-byte word of an encoding: small discriminants (including the
/// unknown message types 1, 4, 14, 15 and 25), every XDR bound and bound + 1, extremes.
const WORDS: [u32; 20] = [
    0,
    1,
    2,
    3,
    4,
    14,
    15,
    25,
    26,
    64,
    65,
    100,
    101,
    1000,
    1001,
    64_000,
    64_001,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

// ---------------------------------------------------------------------------------------
// Arms under test.

/// One test per `StellarMessage` arm: `test_name => stellar-xdr arm`.
macro_rules! message_arms {
    ($($test:ident => $arm:ident,)*) => {
        /// The stellar-xdr arm names with a test.
        const ARMS: &[&str] = &[$(stringify!($arm)),*];

        $(
            #[test]
            fn $test() {
                message_arm(stringify!($arm), |u| {
                    Ok(x::StellarMessage::$arm(Arbitrary::arbitrary(u)?))
                });
            }
        )*
    };
}

message_arms! {
    error_msg => ErrorMsg,
    hello => Hello,
    auth => Auth,
    dont_have => DontHave,
    peers => Peers,
    get_tx_set => GetTxSet,
    tx_set => TxSet,
    generalized_tx_set => GeneralizedTxSet,
    transaction => Transaction,
    time_sliced_survey_request => TimeSlicedSurveyRequest,
    time_sliced_survey_response => TimeSlicedSurveyResponse,
    time_sliced_survey_start_collecting => TimeSlicedSurveyStartCollecting,
    time_sliced_survey_stop_collecting => TimeSlicedSurveyStopCollecting,
    get_scp_quorumset => GetScpQuorumset,
    scp_quorumset => ScpQuorumset,
    scp_message => ScpMessage,
    get_scp_state => GetScpState,
    send_more => SendMore,
    send_more_extended => SendMoreExtended,
    flood_advert => FloodAdvert,
    flood_demand => FloodDemand,
}

#[test]
fn every_message_type_has_an_arm_test() {
    let mut covered = ARMS.to_vec();
    let mut all = x::StellarMessage::VARIANTS_STR.to_vec();
    covered.sort_unstable();
    all.sort_unstable();
    assert_eq!(covered, all);
    assert_eq!(ours::MessageType::ALL.len(), x::MessageType::VARIANTS.len());
    for t in x::MessageType::VARIANTS {
        assert_eq!(message_type(t) as i32, t as i32);
    }
}

fn message_arm(name: &'static str, generate: Generate<x::StellarMessage>) {
    let subject = Subject {
        name,
        generate,
        reencode: reencode_message,
        check: check_message,
        build: |m| Some(with_ours(m, |o| encode_checked(&o))),
        lenient: is_opaque_message,
    };
    on_big_stack(move || {
        let cases = crosscheck(&subject);
        check_authenticated(name, &cases);
        check_rejections(&subject, &cases);
    });
}

#[test]
fn survey_response_body() {
    let subject = Subject::<x::SurveyResponseBody> {
        name: "SurveyResponseBody",
        generate: |u| Arbitrary::arbitrary(u),
        reencode: |bytes| ours::SurveyResponseBody::decode(bytes).map(|b| b.to_vec()),
        check: |xb, bytes| {
            let decoded = ours::SurveyResponseBody::decode(bytes)
                .unwrap_or_else(|e| panic!("SurveyResponseBody rejected ({e:?}): {xb:?}"));
            assert_eq!(decoded, survey_body(xb));
        },
        build: |xb| Some(survey_body(xb).to_vec()),
        lenient: |_| false,
    };
    on_big_stack(move || {
        let cases = crosscheck(&subject);
        check_rejections(&subject, &cases);
    });
}

#[test]
fn scp_envelope() {
    let subject = Subject::<x::ScpEnvelope> {
        name: "SCPEnvelope",
        generate: |u| Arbitrary::arbitrary(u),
        reencode: |bytes| ours::ScpEnvelope::decode(bytes).map(|e| e.bytes.to_vec()),
        check: |xe, bytes| {
            let decoded = ours::ScpEnvelope::decode(bytes)
                .unwrap_or_else(|e| panic!("SCPEnvelope rejected ({e:?}): {xe:?}"));
            check_envelope(xe, &decoded);
        },
        // Envelopes are only ever decoded; SCP_MESSAGE re-encodes the decoded view.
        build: |_| None,
        lenient: |_| false,
    };
    on_big_stack(move || {
        let cases = crosscheck(&subject);
        check_rejections(&subject, &cases);
    });
}

// ---------------------------------------------------------------------------------------
// The generic driver.

type Generate<X> = fn(&mut Unstructured<'_>) -> arbitrary::Result<X>;

/// One XDR type under test: how to generate it and how our codec sees its encoding.
struct Subject<X> {
    name: &'static str,
    generate: Generate<X>,
    /// Decodes with our codec and returns our re-encoding.
    reencode: fn(&[u8]) -> Result<Vec<u8>, DecodeError>,
    /// Decodes bytes stellar-xdr accepted as `X` with our codec and compares the fields.
    check: fn(&X, &[u8]),
    /// Builds the value with our API and encodes it, where our API can build one.
    build: fn(&X) -> Option<Vec<u8>>,
    /// Whether our decoder deliberately accepts a superset of stellar-xdr for these bytes.
    lenient: fn(&[u8]) -> bool,
}

/// Checks 1 and 2 over [`VALUES`] encodable arbitrary values, which it returns with their
/// stellar-xdr encodings.
fn crosscheck<X>(s: &Subject<X>) -> Vec<(X, Vec<u8>)>
where
    X: ReadXdr + WriteXdr + PartialEq + Debug,
{
    let mut rng = Rng::seeded(s.name);
    let mut input = Vec::new();
    let mut cases = Vec::with_capacity(VALUES);
    let (mut attempts, mut built) = (0, 0);
    while cases.len() < VALUES {
        attempts += 1;
        assert!(
            attempts <= 10 * VALUES,
            "{}: too few encodable values",
            s.name
        );
        rng.arbitrary_input(&mut input);
        let Ok(value) = (s.generate)(&mut Unstructured::new(&input)) else {
            continue;
        };
        // Values stellar-xdr refuses to encode are skipped; so are ones nested too deeply
        // to leave room for the wrappers (AuthenticatedMessage) added around them.
        let Ok(bytes) = value.to_xdr(Limits::depth(DEPTH / 2)) else {
            continue;
        };
        let n = cases.len();

        // 1. stellar-xdr → ours → bytes.
        (s.check)(&value, &bytes);
        assert_eq!(
            (s.reencode)(&bytes).as_deref(),
            Ok(&bytes[..]),
            "{} #{n}: our re-encoding differs from stellar-xdr's for {value:?}",
            s.name
        );

        // 2. ours → stellar-xdr.
        if let Some(ours) = (s.build)(&value) {
            assert_eq!(
                X::from_xdr(&ours, read_limits(&ours)).as_ref(),
                Ok(&value),
                "{} #{n}: stellar-xdr decodes our encoding to another value",
                s.name
            );
            same_bytes(&ours, &bytes, format_args!("{} #{n}: our encoding", s.name));
            built += 1;
        }
        cases.push((value, bytes));
    }
    let longest = cases.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    eprintln!(
        "{}: {} values cross-checked ({attempts} generated, longest {longest} bytes), \
         {built} built with our API and decoded by stellar-xdr",
        s.name,
        cases.len()
    );
    cases
}

/// Check 4: mutated encodings are accepted or rejected by both decoders alike.
fn check_rejections<X>(s: &Subject<X>, cases: &[(X, Vec<u8>)])
where
    X: ReadXdr + WriteXdr + Debug,
{
    let mut rng = Rng::seeded(s.name);
    let mut stats = Verdicts::default();
    let seeds = cases
        .iter()
        .filter(|(_, bytes)| bytes.len() <= MUTATE_MAX_LEN)
        .take(MUTATED_VALUES);
    for (_, bytes) in seeds {
        mutations(bytes, &mut rng, |input| differential(s, input, &mut stats));
    }
    eprintln!("{}: mutations {stats:?}", s.name);
    assert!(
        stats.both_accept > 0 && stats.both_reject > 0,
        "{}: mutations exercised only one side: {stats:?}",
        s.name
    );
}

#[derive(Debug, Default)]
struct Verdicts {
    both_accept: usize,
    both_reject: usize,
    /// Rejected by stellar-xdr, accepted by our opaque arms.
    only_ours_opaque: usize,
}

fn differential<X>(s: &Subject<X>, input: &[u8], stats: &mut Verdicts)
where
    X: ReadXdr + WriteXdr + Debug,
{
    let theirs = X::from_xdr(input, read_limits(input));
    let ours = (s.reencode)(input);
    let lenient = (s.lenient)(input);
    match (&theirs, &ours) {
        (Ok(value), Ok(reencoded)) => {
            stats.both_accept += 1;
            if lenient {
                // Opaque arms keep their bytes as they came; stellar-xdr canonicalises them.
                same_bytes(reencoded, input, format_args!("{}: opaque bytes", s.name));
            } else {
                same_bytes(
                    reencoded,
                    &xdr(value),
                    format_args!("{}: re-encodings of {}", s.name, Hex(input)),
                );
                (s.check)(value, input);
            }
        }
        (Err(_), Err(_)) => stats.both_reject += 1,
        (Err(_), Ok(_)) if lenient => stats.only_ours_opaque += 1,
        _ => panic!(
            "{}: stellar-xdr says {:?}, we say {:?}, for {}",
            s.name,
            theirs.map(|_| ()),
            ours.map(|_| ()),
            Hex(input)
        ),
    }
}

/// Calls `f` with mutations of a valid encoding: truncations, appended bytes, each 4-byte
/// word replaced by [`WORDS`] and its neighbours (lengths at and past their bounds,
/// unknown discriminants, non-canonical bools), zero bytes made non-zero (padding among
/// them), and random byte flips.
fn mutations(bytes: &[u8], rng: &mut Rng, mut f: impl FnMut(&[u8])) {
    let len = bytes.len();
    let exhaustive = len <= EXHAUSTIVE_LEN;
    let mut m = bytes.to_vec();

    for cut in positions(len, exhaustive, rng) {
        f(&bytes[..cut]);
    }
    for tail in [&[0u8; 4][..], &[0], &[0, 0, 0, 1]] {
        m.extend_from_slice(tail);
        f(&m);
        m.truncate(len);
    }
    for word in positions(len / 4, exhaustive, rng) {
        let at = word * 4;
        let orig = u32::from_be_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]);
        // The first word of a message is its type: try every tag around the known ones.
        let tags = if at == 0 { -2..27 } else { 0..0 };
        let words = WORDS
            .into_iter()
            .chain([orig.wrapping_add(1), orig.wrapping_sub(1)])
            .chain(tags.map(|t: i32| t as u32));
        for w in words {
            m[at..at + 4].copy_from_slice(&w.to_be_bytes());
            f(&m);
        }
        m[at..at + 4].copy_from_slice(&bytes[at..at + 4]);
    }
    for i in positions(len, exhaustive, rng) {
        if bytes[i] == 0 {
            m[i] = 1;
            f(&m);
            m[i] = 0;
        }
    }
    for _ in 0..FLIPS {
        for _ in 0..=rng.below(3) {
            m[rng.below(len)] ^= 1 + rng.below(255) as u8;
        }
        f(&m);
        m.copy_from_slice(bytes);
    }
}

/// Every index below `n`, or [`SAMPLES`] random ones.
fn positions(n: usize, exhaustive: bool, rng: &mut Rng) -> Vec<usize> {
    if exhaustive {
        (0..n).collect()
    } else {
        (0..SAMPLES).map(|_| rng.below(n)).collect()
    }
}

/// Check 3: the `AuthenticatedMessage` envelope around each message.
fn check_authenticated(name: &str, cases: &[(x::StellarMessage, Vec<u8>)]) {
    let mut rng = Rng::seeded(name);
    for (message, bytes) in cases {
        let sequence = rng.next();
        let mac = rng.array::<32>();
        let envelope = x::AuthenticatedMessage::V0(x::AuthenticatedMessageV0 {
            sequence,
            message: message.clone(),
            mac: x::HmacSha256Mac { mac },
        });
        let body = xdr(&envelope);

        let parsed = ours::AuthenticatedMessage::parse(&body)
            .unwrap_or_else(|e| panic!("{name}: envelope rejected ({e:?})"));
        let mac_input = [&sequence.to_be_bytes()[..], bytes].concat();
        assert_eq!(parsed.sequence, sequence, "{name}");
        assert_eq!(parsed.message, &bytes[..], "{name}");
        assert_eq!(parsed.mac_input, &mac_input[..], "{name}");
        assert_eq!(parsed.mac, &mac, "{name}");
        assert_eq!(
            parsed.message_type().map(|t| t as i32),
            Ok(message.discriminant() as i32),
            "{name}"
        );
        let decoded = parsed.decode().expect("the message decodes");

        let mut expected = (0x8000_0000 | body.len() as u32).to_be_bytes().to_vec();
        expected.extend_from_slice(&body);
        let mut frame = Vec::new();
        ours::write_frame(&mut frame, sequence, bytes, |input| {
            assert_eq!(input, &mac_input[..], "{name}: MAC input");
            mac
        });
        same_bytes(&frame, &expected, format_args!("{name}: write_frame"));
        frame.clear();
        ours::write_frame_with(
            &mut frame,
            sequence,
            decoded.encoded_len(),
            |out| decoded.encode(out),
            |_| mac,
        );
        same_bytes(&frame, &expected, format_args!("{name}: write_frame_with"));
        assert_eq!(
            x::AuthenticatedMessage::from_xdr(&frame[4..], read_limits(&frame[4..])).as_ref(),
            Ok(&envelope),
            "{name}: stellar-xdr reads our frame"
        );
    }
}

// ---------------------------------------------------------------------------------------
// StellarMessage: stellar-xdr values seen through our API.

fn reencode_message(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    ours::StellarMessage::decode(bytes).map(|m| encode_checked(&m))
}

/// Our encoding, checked against `encoded_len`.
fn encode_checked(m: &ours::StellarMessage<'_>) -> Vec<u8> {
    let bytes = m.to_vec();
    assert_eq!(m.encoded_len(), bytes.len(), "encoded_len of {m:?}");
    bytes
}

fn is_opaque_message(bytes: &[u8]) -> bool {
    use ours::MessageType as T;
    let tag = bytes.get(..4).and_then(|t| t.try_into().ok());
    tag.and_then(|t| T::from_i32(i32::from_be_bytes(t)).ok())
        .is_some_and(|t| {
            matches!(
                t,
                T::TxSet | T::GeneralizedTxSet | T::Transaction | T::ScpQuorumSet
            )
        })
}

/// Decodes stellar-xdr's encoding of `xm` with our codec and compares every field.
fn check_message(xm: &x::StellarMessage, bytes: &[u8]) {
    use ours::StellarMessage as O;
    use x::StellarMessage as X;
    let decoded = ours::StellarMessage::decode(bytes)
        .unwrap_or_else(|e| panic!("{}: we reject ({e:?}) {xm:?}", xm.name()));
    assert_eq!(decoded.message_type() as i32, xm.discriminant() as i32);
    with_ours(xm, |expected| {
        assert_eq!(decoded, expected, "{}", xm.name())
    });
    // The views keep lists as raw XDR; walk them too.
    match (xm, &decoded) {
        (X::Peers(p), O::Peers(o)) => {
            assert_eq!(o.len(), p.len());
            assert!(o.iter().eq(p.iter().map(peer_address)), "{o:?}");
        }
        (X::FloodAdvert(x::FloodAdvert { tx_hashes: h }), O::FloodAdvert(o)) => {
            assert!(o.iter().eq(h.0.iter().map(|h| &h.0)));
        }
        (X::FloodDemand(x::FloodDemand { tx_hashes: h }), O::FloodDemand(o)) => {
            assert!(o.iter().eq(h.0.iter().map(|h| &h.0)));
        }
        (X::ScpMessage(e), O::ScpMessage(o)) => check_envelope(e, o),
        (
            X::TxSet(_) | X::GeneralizedTxSet(_) | X::Transaction(_) | X::ScpQuorumset(_),
            O::TxSet(o) | O::GeneralizedTxSet(o) | O::Transaction(o) | O::ScpQuorumSet(o),
        ) => assert_eq!(*o, &bytes[4..]),
        _ => {}
    }
}

/// Builds `xm` with our API, from its fields, and hands it to `f`.
fn with_ours<R>(xm: &x::StellarMessage, f: impl FnOnce(ours::StellarMessage<'_>) -> R) -> R {
    use ours::StellarMessage as O;
    use x::StellarMessage as X;
    let scratch: Vec<u8>;
    let hashes: Vec<ours::Hash>;
    let message = match xm {
        X::ErrorMsg(e) => O::ErrorMsg(ours::ErrorMsg {
            code: ours::ErrorCode::from_i32(e.code as i32).expect("ErrorCode"),
            msg: &e.msg,
        }),
        X::Hello(h) => O::Hello(ours::Hello {
            ledger_version: h.ledger_version,
            overlay_version: h.overlay_version,
            overlay_min_version: h.overlay_min_version,
            network_id: &h.network_id.0,
            version_str: &h.version_str,
            listening_port: h.listening_port,
            peer_id: node(&h.peer_id),
            cert: ours::AuthCertView {
                pubkey: &h.cert.pubkey.key,
                expiration: h.cert.expiration,
                sig: &h.cert.sig.0,
            },
            nonce: &h.nonce.0,
        }),
        X::Auth(a) => O::Auth(ours::Auth { flags: a.flags }),
        X::DontHave(d) => O::DontHave(ours::DontHave {
            message_type: message_type(d.type_),
            req_hash: &d.req_hash.0,
        }),
        X::Peers(p) => {
            let addrs: Vec<_> = p.iter().map(peer_address).collect();
            let mut list = tag(ours::MessageType::Peers);
            ours::Peers::encode_list(&addrs, &mut list);
            scratch = list;
            O::decode(&scratch).expect("PEERS from Peers::encode_list decodes")
        }
        X::GetTxSet(h) => O::GetTxSet(&h.0),
        X::TxSet(v) => {
            scratch = xdr(v);
            O::TxSet(&scratch)
        }
        X::GeneralizedTxSet(v) => {
            scratch = xdr(v);
            O::GeneralizedTxSet(&scratch)
        }
        X::Transaction(v) => {
            scratch = xdr(v);
            O::Transaction(&scratch)
        }
        X::TimeSlicedSurveyRequest(s) => {
            let (r, q) = (&s.request, &s.request.request);
            O::SurveyRequest(ours::SignedSurveyRequest {
                signature: &s.request_signature.0,
                request: ours::SurveyRequest {
                    surveyor_peer_id: node(&q.surveyor_peer_id),
                    surveyed_peer_id: node(&q.surveyed_peer_id),
                    ledger_num: q.ledger_num,
                    encryption_key: &q.encryption_key.key,
                    nonce: r.nonce,
                    inbound_peers_index: r.inbound_peers_index,
                    outbound_peers_index: r.outbound_peers_index,
                },
            })
        }
        X::TimeSlicedSurveyResponse(s) => {
            let (r, q) = (&s.response, &s.response.response);
            O::SurveyResponse(ours::SignedSurveyResponse {
                signature: &s.response_signature.0,
                response: ours::SurveyResponse {
                    surveyor_peer_id: node(&q.surveyor_peer_id),
                    surveyed_peer_id: node(&q.surveyed_peer_id),
                    ledger_num: q.ledger_num,
                    encrypted_body: &q.encrypted_body.0,
                    nonce: r.nonce,
                },
            })
        }
        X::TimeSlicedSurveyStartCollecting(s) => {
            let b = &s.start_collecting;
            O::SurveyStartCollecting(collecting(
                &s.signature,
                &b.surveyor_id,
                b.nonce,
                b.ledger_num,
            ))
        }
        X::TimeSlicedSurveyStopCollecting(s) => {
            let b = &s.stop_collecting;
            O::SurveyStopCollecting(collecting(
                &s.signature,
                &b.surveyor_id,
                b.nonce,
                b.ledger_num,
            ))
        }
        X::GetScpQuorumset(h) => O::GetScpQuorumSet(&h.0),
        X::ScpQuorumset(v) => {
            scratch = xdr(v);
            O::ScpQuorumSet(&scratch)
        }
        X::ScpMessage(e) => {
            scratch = xdr(e);
            O::ScpMessage(ours::ScpEnvelope::decode(&scratch).expect("SCPEnvelope decodes"))
        }
        X::GetScpState(s) => O::GetScpState(*s),
        X::SendMore(s) => O::SendMore(ours::SendMore {
            num_messages: s.num_messages,
        }),
        X::SendMoreExtended(s) => O::SendMoreExtended(ours::SendMoreExtended {
            num_messages: s.num_messages,
            num_bytes: s.num_bytes,
        }),
        X::FloodAdvert(a) => {
            hashes = a.tx_hashes.0.iter().map(|h| h.0).collect();
            O::FloodAdvert(ours::TxHashes::new(&hashes))
        }
        X::FloodDemand(d) => {
            hashes = d.tx_hashes.0.iter().map(|h| h.0).collect();
            O::FloodDemand(ours::TxHashes::new(&hashes))
        }
    };
    f(message)
}

fn collecting<'a>(
    signature: &'a x::Signature,
    surveyor: &'a x::NodeId,
    nonce: u32,
    ledger_num: u32,
) -> ours::SignedSurveyCollecting<'a> {
    ours::SignedSurveyCollecting {
        signature: &signature.0,
        body: ours::SurveyCollecting {
            surveyor_id: node(surveyor),
            nonce,
            ledger_num,
        },
    }
}

fn survey_body(xb: &x::SurveyResponseBody) -> ours::SurveyResponseBody<'_> {
    let x::SurveyResponseBody::SurveyTopologyResponseV2(b) = xb;
    let n = &b.node_data;
    ours::SurveyResponseBody {
        inbound_peers: b.inbound_peers.0.iter().map(peer_data).collect(),
        outbound_peers: b.outbound_peers.0.iter().map(peer_data).collect(),
        node_data: ours::TimeSlicedNodeData {
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
    }
}

fn peer_data(p: &x::TimeSlicedPeerData) -> ours::TimeSlicedPeerData<'_> {
    let s = &p.peer_stats;
    ours::TimeSlicedPeerData {
        peer_stats: ours::PeerStats {
            id: *node(&s.id),
            version_str: &s.version_str,
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
}

/// Compares our view of an envelope with stellar-xdr's, field by field.
fn check_envelope(e: &x::ScpEnvelope, o: &ours::ScpEnvelope<'_>) {
    use ours::Pledges as O;
    use x::ScpStatementPledges as X;
    let st = &e.statement;
    assert_eq!(o.node_id, node(&st.node_id));
    assert_eq!(o.slot_index, st.slot_index);
    assert_eq!(o.signature, e.signature.0.as_slice());
    assert_eq!(o.statement_bytes, xdr(st));
    assert_eq!(o.bytes, xdr(e));
    assert_eq!(o.statement_type() as i32, st.pledges.discriminant() as i32);
    let (qset, values): (_, Vec<&[u8]>) = match (&st.pledges, &o.pledges) {
        (
            X::Prepare(p),
            O::Prepare {
                quorum_set_hash,
                ballot: b,
                prepared,
                prepared_prime,
                n_c,
                n_h,
            },
        ) => {
            assert_eq!(*quorum_set_hash, &p.quorum_set_hash.0);
            assert_eq!(*b, ballot(&p.ballot));
            assert_eq!(*prepared, p.prepared.as_ref().map(ballot));
            assert_eq!(*prepared_prime, p.prepared_prime.as_ref().map(ballot));
            assert_eq!((*n_c, *n_h), (p.n_c, p.n_h));
            let ballots = [
                Some(&p.ballot),
                p.prepared.as_ref(),
                p.prepared_prime.as_ref(),
            ];
            let values = ballots.into_iter().flatten().map(|b| &b.value.0[..]);
            (&p.quorum_set_hash, values.collect())
        }
        (
            X::Confirm(c),
            O::Confirm {
                ballot: b,
                n_prepared,
                n_commit,
                n_h,
                quorum_set_hash,
            },
        ) => {
            assert_eq!(*b, ballot(&c.ballot));
            assert_eq!(
                (*n_prepared, *n_commit, *n_h),
                (c.n_prepared, c.n_commit, c.n_h)
            );
            assert_eq!(*quorum_set_hash, &c.quorum_set_hash.0);
            (&c.quorum_set_hash, vec![&c.ballot.value.0[..]])
        }
        (
            X::Externalize(ext),
            O::Externalize {
                commit,
                n_h,
                commit_quorum_set_hash,
            },
        ) => {
            assert_eq!(*commit, ballot(&ext.commit));
            assert_eq!(*n_h, ext.n_h);
            assert_eq!(*commit_quorum_set_hash, &ext.commit_quorum_set_hash.0);
            (&ext.commit_quorum_set_hash, vec![&ext.commit.value.0[..]])
        }
        (
            X::Nominate(n),
            O::Nominate {
                quorum_set_hash,
                votes,
                accepted,
            },
        ) => {
            assert_eq!(*quorum_set_hash, &n.quorum_set_hash.0);
            assert_eq!(
                (votes.len(), accepted.len()),
                (n.votes.len(), n.accepted.len())
            );
            assert!(votes.iter().eq(n.votes.iter().map(|v| &v.0[..])));
            assert!(accepted.iter().eq(n.accepted.iter().map(|v| &v.0[..])));
            let values = n.votes.iter().chain(n.accepted.iter()).map(|v| &v.0[..]);
            (&n.quorum_set_hash, values.collect())
        }
        (x, o) => panic!("statement types differ: {x:?} / {o:?}"),
    };
    assert_eq!(o.quorum_set_hash(), &qset.0);
    assert_eq!(o.values().collect::<Vec<_>>(), values);
}

fn ballot(b: &x::ScpBallot) -> ours::Ballot<'_> {
    ours::Ballot {
        counter: b.counter,
        value: &b.value.0,
    }
}

fn node(id: &x::NodeId) -> &[u8; 32] {
    let x::PublicKey::PublicKeyTypeEd25519(key) = &id.0;
    &key.0
}

fn x_node(id: &[u8; 32]) -> x::NodeId {
    x::NodeId(x::PublicKey::PublicKeyTypeEd25519(x::Uint256(*id)))
}

fn message_type(t: x::MessageType) -> ours::MessageType {
    ours::MessageType::from_i32(t as i32).expect("MessageType")
}

fn peer_address(p: &x::PeerAddress) -> ours::PeerAddress {
    ours::PeerAddress {
        ip: match p.ip {
            x::PeerAddressIp::IPv4(a) => IpAddr::from(a),
            x::PeerAddressIp::IPv6(a) => IpAddr::from(a),
        },
        port: p.port,
        num_failures: p.num_failures,
    }
}

fn x_peer_address(p: &ours::PeerAddress) -> x::PeerAddress {
    x::PeerAddress {
        ip: match p.ip {
            IpAddr::V4(a) => x::PeerAddressIp::IPv4(a.octets()),
            IpAddr::V6(a) => x::PeerAddressIp::IPv6(a.octets()),
        },
        port: p.port,
        num_failures: p.num_failures,
    }
}

/// The type tag that starts a `StellarMessage`.
fn tag(t: ours::MessageType) -> Vec<u8> {
    (t as i32).to_be_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------
// Ours → stellar-xdr at and past the XDR bounds, where our encoders truncate.

/// Encodes [`VALUES`] messages built by `make` with our API and checks stellar-xdr decodes
/// each to the value `make` expects (and our decoder agrees field by field).
fn ours_to_stellar_xdr(name: &str, make: fn(&mut Rng, &mut Vec<u8>) -> x::StellarMessage) {
    let mut rng = Rng::seeded(name);
    let mut bytes = Vec::new();
    for n in 0..VALUES {
        bytes.clear();
        let expected = make(&mut rng, &mut bytes);
        let theirs = x::StellarMessage::from_xdr(&bytes, read_limits(&bytes));
        assert_eq!(theirs.as_ref(), Ok(&expected), "{name} #{n}");
        same_bytes(&bytes, &xdr(&expected), format_args!("{name} #{n}"));
        check_message(&expected, &bytes);
    }
}

#[test]
fn ours_to_stellar_xdr_peers() {
    ours_to_stellar_xdr("PEERS", |rng, out| {
        // Up to 20 past the bound, which encode_list drops.
        let n = rng.below(ours::PEERS_MAX + 21);
        let addrs: Vec<_> = (0..n)
            .map(|_| ours::PeerAddress {
                ip: if rng.below(2) == 0 {
                    IpAddr::from(rng.array::<4>())
                } else {
                    IpAddr::from(rng.array::<16>())
                },
                port: rng.next() as u32,
                num_failures: rng.next() as u32,
            })
            .collect();
        out.extend(tag(ours::MessageType::Peers));
        ours::Peers::encode_list(&addrs, out);
        let kept = addrs.iter().take(ours::PEERS_MAX).map(x_peer_address);
        x::StellarMessage::Peers(kept.collect::<Vec<_>>().try_into().expect("<= 100"))
    });
}

#[test]
fn ours_to_stellar_xdr_tx_hashes() {
    ours_to_stellar_xdr("FLOOD_ADVERT/FLOOD_DEMAND", |rng, out| {
        let n = rng.below(ours::TX_HASHES_MAX + 101);
        let hashes: Vec<ours::Hash> = (0..n).map(|_| rng.array()).collect();
        let list = ours::TxHashes::new(&hashes);
        let kept: Vec<_> = hashes
            .iter()
            .take(ours::TX_HASHES_MAX)
            .map(|h| x::Hash(*h))
            .collect();
        let kept = kept.try_into().expect("<= 1000");
        if rng.below(2) == 0 {
            *out = encode_checked(&ours::StellarMessage::FloodAdvert(list));
            x::StellarMessage::FloodAdvert(x::FloodAdvert {
                tx_hashes: x::TxAdvertVector(kept),
            })
        } else {
            *out = encode_checked(&ours::StellarMessage::FloodDemand(list));
            x::StellarMessage::FloodDemand(x::FloodDemand {
                tx_hashes: x::TxDemandVector(kept),
            })
        }
    });
}

#[test]
fn ours_to_stellar_xdr_error_msg() {
    ours_to_stellar_xdr("ERROR_MSG", |rng, out| {
        // Up to 150 bytes of text with multi-byte characters, cut at 100 bytes.
        let alphabet = ['a', 'Z', ' ', '0', 'é', '€', '😀'];
        let mut text = String::new();
        let len = rng.below(151);
        while text.len() < len {
            text.push(alphabet[rng.below(alphabet.len())]);
        }
        let code = ours::ErrorCode::from_i32(rng.below(5) as i32).expect("ErrorCode");
        let e = ours::ErrorMsg::new(code, &text);
        *out = encode_checked(&ours::StellarMessage::ErrorMsg(e));
        let kept = &text.as_bytes()[..text.len().min(ours::ERROR_MSG_MAX)];
        x::StellarMessage::ErrorMsg(x::SError {
            code: x::ErrorCode::try_from(code as i32).expect("ErrorCode"),
            msg: kept.to_vec().try_into().expect("<= 100"),
        })
    });
}

#[test]
fn ours_to_stellar_xdr_hello() {
    ours_to_stellar_xdr("HELLO", |rng, out| {
        // Strings and signatures up to 30 bytes past their bounds, which we cut.
        let version_str: Vec<u8> = (0..rng.below(ours::VERSION_STR_MAX + 31))
            .map(|_| rng.next() as u8)
            .collect();
        let sig: Vec<u8> = (0..rng.below(ours::SIGNATURE_MAX + 31))
            .map(|_| rng.next() as u8)
            .collect();
        let [network_id, peer_id, pubkey, nonce] = [0; 4].map(|_| rng.array::<32>());
        let hello = ours::Hello {
            ledger_version: rng.next() as u32,
            overlay_version: rng.next() as u32,
            overlay_min_version: rng.next() as u32,
            network_id: &network_id,
            version_str: &version_str,
            listening_port: rng.next() as i32,
            peer_id: &peer_id,
            cert: ours::AuthCertView {
                pubkey: &pubkey,
                expiration: rng.next(),
                sig: &sig,
            },
            nonce: &nonce,
        };
        *out = encode_checked(&ours::StellarMessage::Hello(hello));
        let version_str = &version_str[..version_str.len().min(ours::VERSION_STR_MAX)];
        let sig = &sig[..sig.len().min(ours::SIGNATURE_MAX)];
        x::StellarMessage::Hello(x::Hello {
            ledger_version: hello.ledger_version,
            overlay_version: hello.overlay_version,
            overlay_min_version: hello.overlay_min_version,
            network_id: x::Hash(network_id),
            version_str: version_str.to_vec().try_into().expect("<= 100"),
            listening_port: hello.listening_port,
            peer_id: x_node(&peer_id),
            cert: x::AuthCert {
                pubkey: x::Curve25519Public { key: pubkey },
                expiration: hello.cert.expiration,
                sig: x::Signature(sig.to_vec().try_into().expect("<= 64")),
            },
            nonce: x::Uint256(nonce),
        })
    });
}

// ---------------------------------------------------------------------------------------
// Hand-built edge cases.

/// Whether stellar-xdr and we accept `bytes` as a `StellarMessage`.
fn message_verdicts(bytes: &[u8]) -> (bool, bool) {
    (
        x::StellarMessage::from_xdr(bytes, read_limits(bytes)).is_ok(),
        ours::StellarMessage::decode(bytes).is_ok(),
    )
}

/// Whether stellar-xdr and we accept `bytes` as a `SurveyResponseBody`.
fn body_verdicts(bytes: &[u8]) -> (bool, bool) {
    (
        x::SurveyResponseBody::from_xdr(bytes, read_limits(bytes)).is_ok(),
        ours::SurveyResponseBody::decode(bytes).is_ok(),
    )
}

/// A variable-length field written with `n` elements by `build`, the rest of the value
/// valid: both decoders must accept up to `bound` and reject past it.
struct BoundCase {
    what: &'static str,
    bound: usize,
    build: fn(usize) -> Vec<u8>,
    verdicts: fn(&[u8]) -> (bool, bool),
}

#[test]
fn length_bounds_agree() {
    let cases = [
        BoundCase {
            what: "ERROR_MSG msg<100>",
            bound: ours::ERROR_MSG_MAX,
            build: |n| {
                let mut v = tag(ours::MessageType::ErrorMsg);
                v.put_i32(1);
                v.put_var_opaque(&vec![b'e'; n]);
                v
            },
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "HELLO versionStr<100>",
            bound: ours::VERSION_STR_MAX,
            build: |n| raw_hello(n, 64),
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "HELLO cert.sig<64>",
            bound: ours::SIGNATURE_MAX,
            build: |n| raw_hello(0, n),
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "PEERS<100>",
            bound: ours::PEERS_MAX,
            build: |n| {
                let mut v = tag(ours::MessageType::Peers);
                v.put_u32(n as u32);
                for i in 0..n {
                    let ipv6 = i % 2 == 1;
                    v.put_u32(u32::from(ipv6));
                    v.put_fixed(&[i as u8; 16][..if ipv6 { 16 } else { 4 }]);
                    v.put_u32(11625);
                    v.put_u32(i as u32);
                }
                v
            },
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "FLOOD_ADVERT<1000>",
            bound: ours::TX_HASHES_MAX,
            build: |n| raw_hashes(ours::MessageType::FloodAdvert, n),
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "FLOOD_DEMAND<1000>",
            bound: ours::TX_HASHES_MAX,
            build: |n| raw_hashes(ours::MessageType::FloodDemand, n),
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "TIME_SLICED_SURVEY_REQUEST signature<64>",
            bound: ours::SIGNATURE_MAX,
            build: |n| {
                let mut v = tag(ours::MessageType::TimeSlicedSurveyRequest);
                v.put_var_opaque(&vec![7; n]);
                v.put_node_id(&[1; 32]);
                v.put_node_id(&[2; 32]);
                v.put_u32(100);
                v.put_fixed(&[3; 32]);
                for w in [1, 5, 0, 0] {
                    v.put_u32(w);
                }
                v
            },
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "TIME_SLICED_SURVEY_RESPONSE encryptedBody<64000>",
            bound: ours::ENCRYPTED_BODY_MAX,
            build: |n| {
                let mut v = tag(ours::MessageType::TimeSlicedSurveyResponse);
                v.put_var_opaque(&[7; 64]);
                v.put_node_id(&[1; 32]);
                v.put_node_id(&[2; 32]);
                v.put_u32(100);
                v.put_u32(1);
                v.put_var_opaque(&vec![9; n]);
                v.put_u32(5);
                v
            },
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "TIME_SLICED_SURVEY_STOP_COLLECTING signature<64>",
            bound: ours::SIGNATURE_MAX,
            build: |n| {
                let mut v = tag(ours::MessageType::TimeSlicedSurveyStopCollecting);
                v.put_var_opaque(&vec![7; n]);
                v.put_node_id(&[1; 32]);
                v.put_u32(5);
                v.put_u32(100);
                v
            },
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "SCP_MESSAGE signature<64>",
            bound: ours::SIGNATURE_MAX,
            build: |n| {
                let mut v = tag(ours::MessageType::ScpMessage);
                v.put_node_id(&[1; 32]);
                v.put_u64(77);
                v.put_i32(2); // EXTERNALIZE
                v.put_u32(1);
                v.put_var_opaque(b"value");
                v.put_u32(1);
                v.put_fixed(&[4; 32]);
                v.put_var_opaque(&vec![7; n]);
                v
            },
            verdicts: message_verdicts,
        },
        BoundCase {
            what: "SurveyResponseBody inboundPeers<25>",
            bound: ours::PEER_DATA_LIST_MAX,
            build: |n| raw_survey_body(n, 0, 1),
            verdicts: body_verdicts,
        },
        BoundCase {
            what: "SurveyResponseBody outboundPeers<25>",
            bound: ours::PEER_DATA_LIST_MAX,
            build: |n| raw_survey_body(0, n, 1),
            verdicts: body_verdicts,
        },
    ];
    for case in cases {
        for n in [
            0,
            1,
            case.bound - 1,
            case.bound,
            case.bound + 1,
            case.bound + 2,
        ] {
            let bytes = (case.build)(n);
            let ok = n <= case.bound;
            assert_eq!((case.verdicts)(&bytes), (ok, ok), "{} with {n}", case.what);
            // A length just past the bound with the data missing is rejected too.
            if !ok {
                let cut = &bytes[..bytes.len() - 4];
                assert_eq!((case.verdicts)(cut), (false, false), "{} cut", case.what);
            }
        }
    }
}

fn raw_hello(version_len: usize, sig_len: usize) -> Vec<u8> {
    let mut v = tag(ours::MessageType::Hello);
    for w in [23, 38, 35] {
        v.put_u32(w);
    }
    v.put_fixed(&[1; 32]);
    v.put_var_opaque(&vec![b'v'; version_len]);
    v.put_i32(11625);
    v.put_node_id(&[2; 32]);
    v.put_fixed(&[3; 32]);
    v.put_u64(1_700_000_000);
    v.put_var_opaque(&vec![4; sig_len]);
    v.put_fixed(&[5; 32]);
    v
}

fn raw_hashes(t: ours::MessageType, n: usize) -> Vec<u8> {
    let mut v = tag(t);
    v.put_u32(n as u32);
    for i in 0..n {
        v.put_fixed(&[i as u8; 32]);
    }
    v
}

/// A `SurveyResponseBody` with `inbound` and `outbound` peer entries, whose
/// `isValidator` word is `is_validator`.
fn raw_survey_body(inbound: usize, outbound: usize, is_validator: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.put_i32(ours::SURVEY_TOPOLOGY_RESPONSE_V2);
    for n in [inbound, outbound] {
        v.put_u32(n as u32);
        for i in 0..n {
            v.put_node_id(&[i as u8; 32]);
            v.put_var_opaque(b"stellar-core 23.0.0");
            for c in 0..13 {
                v.put_u64(c);
            }
            v.put_u32(42);
        }
    }
    for w in [1, 2, 3, 4, 5, 6, 7, is_validator, 8, 9] {
        v.put_u32(w);
    }
    v
}

/// XDR `bool` is read as stellar-xdr reads it: 1 is true, every other value false.
#[test]
fn bool_agrees_with_stellar_xdr() {
    for raw in [0, 1, 2, 3, 0x100, 0x0100_0000, 0x8000_0000, 0xffff_ffff] {
        let bytes = raw_survey_body(1, 2, raw);
        let theirs = x::SurveyResponseBody::from_xdr(&bytes, read_limits(&bytes))
            .expect("stellar-xdr accepts any bool word");
        let ours = ours::SurveyResponseBody::decode(&bytes).expect("we accept any bool word");
        let x::SurveyResponseBody::SurveyTopologyResponseV2(body) = &theirs;
        assert_eq!(ours.node_data.is_validator, raw == 1, "{raw:#x}");
        assert_eq!(body.node_data.is_validator, raw == 1, "{raw:#x}");
        assert_eq!(ours, survey_body(&theirs));
        // Both write it back canonically.
        same_bytes(&ours.to_vec(), &xdr(&theirs), format_args!("bool {raw:#x}"));
    }
}

// ---------------------------------------------------------------------------------------
// Golden bytes from the protocol description.

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|d| u8::from_str_radix(std::str::from_utf8(d).expect("ascii"), 16).expect("hex"))
        .collect()
}

#[test]
fn golden_auth_frame() {
    let mac: [u8; 32] = std::array::from_fn(|i| 0xa0 + i as u8);
    let message = ours::StellarMessage::Auth(ours::Auth {
        flags: ours::AUTH_FLAGS,
    });
    let mut frame = Vec::new();
    ours::write_frame(&mut frame, 0, &encode_checked(&message), |_| mac);
    let mut expected = unhex("80000034 00000000 0000000000000000 00000002 000000c8");
    expected.extend_from_slice(&mac);
    same_bytes(&frame, &expected, format_args!("AUTH frame"));

    let theirs = x::AuthenticatedMessage::V0(x::AuthenticatedMessageV0 {
        sequence: 0,
        message: x::StellarMessage::Auth(x::Auth { flags: 200 }),
        mac: x::HmacSha256Mac { mac },
    });
    same_bytes(&frame[4..], &xdr(&theirs), format_args!("AUTH envelope"));
}

#[test]
fn golden_send_more_extended() {
    let message = ours::StellarMessage::SendMoreExtended(ours::SendMoreExtended {
        num_messages: 200,
        num_bytes: 300_000,
    });
    let expected = unhex("00000014 000000c8 000493e0");
    same_bytes(&encode_checked(&message), &expected, format_args!("ours"));
    let theirs = x::StellarMessage::SendMoreExtended(x::SendMoreExtended {
        num_messages: 200,
        num_bytes: 300_000,
    });
    same_bytes(&xdr(&theirs), &expected, format_args!("stellar-xdr"));
    assert_eq!(ours::StellarMessage::decode(&expected), Ok(message));
}

/// A HELLO with a 64-byte cert signature is 232 + P bytes, type tag included, where P is
/// the padded length of `versionStr`.
#[test]
fn golden_hello_size() {
    for (version_len, padded) in [(0, 0), (1, 4), (4, 4), (5, 8), (100, 100)] {
        let bytes = raw_hello(version_len, 64);
        assert_eq!(bytes.len(), 232 + padded);
        let theirs = x::StellarMessage::from_xdr(&bytes, read_limits(&bytes)).expect("HELLO");
        assert_eq!(xdr(&theirs).len(), 232 + padded);
        let ours = ours::StellarMessage::decode(&bytes).expect("HELLO");
        assert_eq!(ours.encoded_len(), 232 + padded);
        same_bytes(
            &encode_checked(&ours),
            &bytes,
            format_args!("HELLO {version_len}"),
        );
        check_message(&theirs, &bytes);
    }
}

// ---------------------------------------------------------------------------------------
// Plumbing.

fn write_limits() -> Limits {
    Limits::depth(DEPTH)
}

/// Reading from a slice can never need more than its length; saying so keeps stellar-xdr
/// from allocating for hostile lengths.
fn read_limits(bytes: &[u8]) -> Limits {
    Limits {
        depth: DEPTH,
        len: bytes.len(),
    }
}

fn xdr(v: &impl WriteXdr) -> Vec<u8> {
    v.to_xdr(write_limits()).expect("stellar-xdr encodes")
}

/// Asserts two encodings are identical, showing both in hex when not.
#[track_caller]
fn same_bytes(ours: &[u8], theirs: &[u8], what: std::fmt::Arguments<'_>) {
    assert!(
        ours == theirs,
        "{what}: encodings differ\n ours:   {}\n theirs: {}",
        Hex(ours),
        Hex(theirs)
    );
}

/// Bytes shown in hex, formatted only when shown.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Runs `f` on a thread with room for deeply nested arbitrary values.
fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn test thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// SplitMix64: a deterministic source of test input.
struct Rng(u64);

impl Rng {
    /// Seeded from a name (FNV-1a), so each arm gets its own stream.
    fn seeded(name: &str) -> Self {
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Rng(hash)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        self.fill(&mut a);
        a
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
    }

    /// Fills `buf` with input for `arbitrary`. Its collections read a continue bit (the
    /// low bit of a byte) before each element, so on uniform bytes they stay short; most
    /// inputs therefore set those bits with probability 1 - 2^-k for a random k.
    fn arbitrary_input(&mut self, buf: &mut Vec<u8>) {
        buf.resize(self.below(MAX_INPUT + 1), 0);
        let k = self.below(9);
        for chunk in buf.chunks_mut(8) {
            let mut word = self.next();
            if k > 0 {
                let mut low_bits = u64::MAX;
                for _ in 0..k {
                    low_bits &= self.next();
                }
                word |= !low_bits & 0x0101_0101_0101_0101;
            }
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
    }
}
