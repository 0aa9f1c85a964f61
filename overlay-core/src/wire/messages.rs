//! `StellarMessage` and `AuthenticatedMessage`: types, decoders and encoders.

use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::scp::ScpEnvelope;
use super::survey::{SignedSurveyCollecting, SignedSurveyRequest, SignedSurveyResponse};
use super::xdr::{Reader, XdrWrite, padded};
use super::{DecodeError, Hash, record_mark};

/// `MessageType`, with stellar-core's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, core::hash::Hash)]
#[repr(i32)]
pub enum MessageType {
    ErrorMsg = 0,
    Auth = 2,
    DontHave = 3,
    Peers = 5,
    GetTxSet = 6,
    TxSet = 7,
    Transaction = 8,
    GetScpQuorumSet = 9,
    ScpQuorumSet = 10,
    ScpMessage = 11,
    GetScpState = 12,
    Hello = 13,
    SendMore = 16,
    GeneralizedTxSet = 17,
    FloodAdvert = 18,
    FloodDemand = 19,
    SendMoreExtended = 20,
    TimeSlicedSurveyRequest = 21,
    TimeSlicedSurveyResponse = 22,
    TimeSlicedSurveyStartCollecting = 23,
    TimeSlicedSurveyStopCollecting = 24,
}

impl MessageType {
    pub const ALL: [MessageType; 21] = [
        MessageType::ErrorMsg,
        MessageType::Auth,
        MessageType::DontHave,
        MessageType::Peers,
        MessageType::GetTxSet,
        MessageType::TxSet,
        MessageType::Transaction,
        MessageType::GetScpQuorumSet,
        MessageType::ScpQuorumSet,
        MessageType::ScpMessage,
        MessageType::GetScpState,
        MessageType::Hello,
        MessageType::SendMore,
        MessageType::GeneralizedTxSet,
        MessageType::FloodAdvert,
        MessageType::FloodDemand,
        MessageType::SendMoreExtended,
        MessageType::TimeSlicedSurveyRequest,
        MessageType::TimeSlicedSurveyResponse,
        MessageType::TimeSlicedSurveyStartCollecting,
        MessageType::TimeSlicedSurveyStopCollecting,
    ];

    pub fn from_i32(v: i32) -> Result<Self, DecodeError> {
        MessageType::ALL
            .iter()
            .copied()
            .find(|t| *t as i32 == v)
            .ok_or(DecodeError::UnknownDiscriminant {
                what: "MessageType",
                value: v,
            })
    }

    /// The XDR name, as stellar-core prints it in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::ErrorMsg => "ERROR_MSG",
            MessageType::Auth => "AUTH",
            MessageType::DontHave => "DONT_HAVE",
            MessageType::Peers => "PEERS",
            MessageType::GetTxSet => "GET_TX_SET",
            MessageType::TxSet => "TX_SET",
            MessageType::Transaction => "TRANSACTION",
            MessageType::GetScpQuorumSet => "GET_SCP_QUORUMSET",
            MessageType::ScpQuorumSet => "SCP_QUORUMSET",
            MessageType::ScpMessage => "SCP_MESSAGE",
            MessageType::GetScpState => "GET_SCP_STATE",
            MessageType::Hello => "HELLO",
            MessageType::SendMore => "SEND_MORE",
            MessageType::GeneralizedTxSet => "GENERALIZED_TX_SET",
            MessageType::FloodAdvert => "FLOOD_ADVERT",
            MessageType::FloodDemand => "FLOOD_DEMAND",
            MessageType::SendMoreExtended => "SEND_MORE_EXTENDED",
            MessageType::TimeSlicedSurveyRequest => "TIME_SLICED_SURVEY_REQUEST",
            MessageType::TimeSlicedSurveyResponse => "TIME_SLICED_SURVEY_RESPONSE",
            MessageType::TimeSlicedSurveyStartCollecting => "TIME_SLICED_SURVEY_START_COLLECTING",
            MessageType::TimeSlicedSurveyStopCollecting => "TIME_SLICED_SURVEY_STOP_COLLECTING",
        }
    }

    /// Flood messages consume flow-control credit and wait in the outbound priority
    /// queues (`OverlayManager::isFloodMessage`).
    pub fn is_flood(self) -> bool {
        matches!(
            self,
            MessageType::ScpMessage
                | MessageType::Transaction
                | MessageType::FloodDemand
                | MessageType::FloodAdvert
        )
    }

    /// HELLO and ERROR_MSG are sent with sequence 0 and a zero MAC and are never checked.
    pub fn is_unauthenticated(self) -> bool {
        matches!(self, MessageType::Hello | MessageType::ErrorMsg)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `ErrorCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, core::hash::Hash)]
#[repr(i32)]
pub enum ErrorCode {
    Misc = 0,
    Data = 1,
    Conf = 2,
    Auth = 3,
    Load = 4,
}

impl ErrorCode {
    pub fn from_i32(v: i32) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => ErrorCode::Misc,
            1 => ErrorCode::Data,
            2 => ErrorCode::Conf,
            3 => ErrorCode::Auth,
            4 => ErrorCode::Load,
            _ => {
                return Err(DecodeError::UnknownDiscriminant {
                    what: "ErrorCode",
                    value: v,
                });
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Misc => "ERR_MISC",
            ErrorCode::Data => "ERR_DATA",
            ErrorCode::Conf => "ERR_CONF",
            ErrorCode::Auth => "ERR_AUTH",
            ErrorCode::Load => "ERR_LOAD",
        }
    }
}

/// XDR bound of `Error.msg`.
pub const ERROR_MSG_MAX: usize = 100;
/// XDR bound of `Hello.versionStr` and `PeerStats.versionStr`.
pub const VERSION_STR_MAX: usize = 100;
/// XDR bound of `PEERS`.
pub const PEERS_MAX: usize = 100;
/// XDR bound of `TxAdvertVector` / `TxDemandVector` (`TX_ADVERT_VECTOR_MAX_SIZE`).
pub const TX_HASHES_MAX: usize = 1000;
/// XDR bound of `Signature`.
pub const SIGNATURE_MAX: usize = 64;
/// `AUTH_MSG_FLAG_FLOW_CONTROL_BYTES_REQUESTED`: the only AUTH flags value accepted.
pub const AUTH_FLAGS: i32 = 200;

/// `Error { code, msg<100> }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMsg<'a> {
    pub code: ErrorCode,
    pub msg: &'a [u8],
}

impl<'a> ErrorMsg<'a> {
    /// An error whose text is cut to the XDR bound of 100 bytes.
    pub fn new(code: ErrorCode, msg: &'a str) -> Self {
        let bytes = msg.as_bytes();
        ErrorMsg {
            code,
            msg: &bytes[..bytes.len().min(ERROR_MSG_MAX)],
        }
    }
}

/// `AuthCert { pubkey, expiration, sig<64> }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthCertView<'a> {
    pub pubkey: &'a [u8; 32],
    pub expiration: u64,
    pub sig: &'a [u8],
}

/// `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello<'a> {
    pub ledger_version: u32,
    pub overlay_version: u32,
    pub overlay_min_version: u32,
    pub network_id: &'a Hash,
    pub version_str: &'a [u8],
    pub listening_port: i32,
    pub peer_id: &'a [u8; 32],
    pub cert: AuthCertView<'a>,
    pub nonce: &'a [u8; 32],
}

/// `Auth { flags }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth {
    pub flags: i32,
}

/// `DontHave { type, reqHash }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DontHave<'a> {
    pub message_type: MessageType,
    pub req_hash: &'a Hash,
}

/// `SendMore { numMessages }`: obsolete; receiving it drops the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendMore {
    pub num_messages: u32,
}

/// `SendMoreExtended { numMessages, numBytes }`: flow-control credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendMoreExtended {
    pub num_messages: u32,
    pub num_bytes: u32,
}

/// One `PeerAddress` of a PEERS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, core::hash::Hash)]
pub struct PeerAddress {
    pub ip: IpAddr,
    pub port: u32,
    pub num_failures: u32,
}

impl PeerAddress {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ip = match r.i32()? {
            0 => IpAddr::V4(Ipv4Addr::from(*r.array::<4>()?)),
            1 => IpAddr::V6(Ipv6Addr::from(*r.array::<16>()?)),
            v => {
                return Err(DecodeError::UnknownDiscriminant {
                    what: "IPAddrType",
                    value: v,
                });
            }
        };
        Ok(PeerAddress {
            ip,
            port: r.u32()?,
            num_failures: r.u32()?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self.ip {
            IpAddr::V4(ip) => {
                out.put_u32(0);
                out.put_fixed(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.put_u32(1);
                out.put_fixed(&ip.octets());
            }
        }
        out.put_u32(self.port);
        out.put_u32(self.num_failures);
    }
}

/// `PeerAddress peers<100>`, kept as its validated XDR so decoding does not allocate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Peers<'a> {
    count: usize,
    entries: &'a [u8],
}

impl<'a> Peers<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        // The smallest entry is an IPv4 address: 4 + 4 + 4 + 4 bytes.
        let count = r.count(PEERS_MAX as u32, 16)?;
        let start = r.rest();
        let before = r.remaining();
        for _ in 0..count {
            PeerAddress::decode(r)?;
        }
        Ok(Peers {
            count,
            entries: &start[..before - r.remaining()],
        })
    }

    /// Encodes a PEERS list; at most [`PEERS_MAX`] addresses are taken.
    pub fn encode_list(addrs: &[PeerAddress], out: &mut Vec<u8>) {
        let addrs = &addrs[..addrs.len().min(PEERS_MAX)];
        out.put_u32(addrs.len() as u32);
        for a in addrs {
            a.encode(out);
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = PeerAddress> + use<'a> {
        let mut r = Reader::new(self.entries);
        // Validated when decoded, so each entry decodes again.
        core::iter::from_fn(move || PeerAddress::decode(&mut r).ok())
    }
}

impl fmt::Debug for Peers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// `Hash txHashes<1000>` of FLOOD_ADVERT and FLOOD_DEMAND.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TxHashes<'a> {
    raw: &'a [u8],
}

impl<'a> TxHashes<'a> {
    /// Hashes to send; at most [`TX_HASHES_MAX`] are taken.
    pub fn new(hashes: &'a [Hash]) -> Self {
        let hashes = &hashes[..hashes.len().min(TX_HASHES_MAX)];
        TxHashes {
            raw: hashes.as_flattened(),
        }
    }

    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let n = r.count(TX_HASHES_MAX as u32, 32)?;
        Ok(TxHashes {
            raw: r.bytes(n * 32)?,
        })
    }

    pub fn len(&self) -> usize {
        self.raw.len() / 32
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a Hash> + use<'a> {
        self.raw.chunks_exact(32).filter_map(|c| c.try_into().ok())
    }
}

impl fmt::Debug for TxHashes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHashes({})", self.len())
    }
}

/// Checks what can be checked of an XDR value the overlay does not interpret: it is
/// non-empty and 4-byte aligned.
fn opaque_body(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    if bytes.is_empty() {
        Err(DecodeError::Truncated)
    } else if !bytes.len().is_multiple_of(4) {
        Err(DecodeError::Misaligned)
    } else {
        Ok(bytes)
    }
}

/// A `StellarMessage`, borrowing from the bytes it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StellarMessage<'a> {
    ErrorMsg(ErrorMsg<'a>),
    Hello(Hello<'a>),
    Auth(Auth),
    DontHave(DontHave<'a>),
    Peers(Peers<'a>),
    GetTxSet(&'a Hash),
    /// Legacy `TransactionSet` XDR.
    TxSet(&'a [u8]),
    /// `GeneralizedTransactionSet` XDR.
    GeneralizedTxSet(&'a [u8]),
    /// `TransactionEnvelope` XDR.
    Transaction(&'a [u8]),
    SurveyRequest(SignedSurveyRequest<'a>),
    SurveyResponse(SignedSurveyResponse<'a>),
    SurveyStartCollecting(SignedSurveyCollecting<'a>),
    SurveyStopCollecting(SignedSurveyCollecting<'a>),
    GetScpQuorumSet(&'a Hash),
    /// `SCPQuorumSet` XDR.
    ScpQuorumSet(&'a [u8]),
    ScpMessage(ScpEnvelope<'a>),
    GetScpState(u32),
    SendMore(SendMore),
    SendMoreExtended(SendMoreExtended),
    FloodAdvert(TxHashes<'a>),
    FloodDemand(TxHashes<'a>),
}

impl<'a> StellarMessage<'a> {
    pub fn message_type(&self) -> MessageType {
        match self {
            StellarMessage::ErrorMsg(_) => MessageType::ErrorMsg,
            StellarMessage::Hello(_) => MessageType::Hello,
            StellarMessage::Auth(_) => MessageType::Auth,
            StellarMessage::DontHave(_) => MessageType::DontHave,
            StellarMessage::Peers(_) => MessageType::Peers,
            StellarMessage::GetTxSet(_) => MessageType::GetTxSet,
            StellarMessage::TxSet(_) => MessageType::TxSet,
            StellarMessage::GeneralizedTxSet(_) => MessageType::GeneralizedTxSet,
            StellarMessage::Transaction(_) => MessageType::Transaction,
            StellarMessage::SurveyRequest(_) => MessageType::TimeSlicedSurveyRequest,
            StellarMessage::SurveyResponse(_) => MessageType::TimeSlicedSurveyResponse,
            StellarMessage::SurveyStartCollecting(_) => {
                MessageType::TimeSlicedSurveyStartCollecting
            }
            StellarMessage::SurveyStopCollecting(_) => MessageType::TimeSlicedSurveyStopCollecting,
            StellarMessage::GetScpQuorumSet(_) => MessageType::GetScpQuorumSet,
            StellarMessage::ScpQuorumSet(_) => MessageType::ScpQuorumSet,
            StellarMessage::ScpMessage(_) => MessageType::ScpMessage,
            StellarMessage::GetScpState(_) => MessageType::GetScpState,
            StellarMessage::SendMore(_) => MessageType::SendMore,
            StellarMessage::SendMoreExtended(_) => MessageType::SendMoreExtended,
            StellarMessage::FloodAdvert(_) => MessageType::FloodAdvert,
            StellarMessage::FloodDemand(_) => MessageType::FloodDemand,
        }
    }

    /// Decodes a whole `StellarMessage` XDR value; trailing bytes are an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let ty = MessageType::from_i32(r.i32()?)?;
        let msg = match ty {
            MessageType::ErrorMsg => {
                let code = ErrorCode::from_i32(r.i32()?)?;
                let msg = r.var_opaque(ERROR_MSG_MAX as u32)?;
                StellarMessage::ErrorMsg(ErrorMsg { code, msg })
            }
            MessageType::Hello => StellarMessage::Hello(Hello {
                ledger_version: r.u32()?,
                overlay_version: r.u32()?,
                overlay_min_version: r.u32()?,
                network_id: r.array()?,
                version_str: r.var_opaque(VERSION_STR_MAX as u32)?,
                listening_port: r.i32()?,
                peer_id: r.node_id()?,
                cert: AuthCertView {
                    pubkey: r.array()?,
                    expiration: r.u64()?,
                    sig: r.var_opaque(SIGNATURE_MAX as u32)?,
                },
                nonce: r.array()?,
            }),
            MessageType::Auth => StellarMessage::Auth(Auth { flags: r.i32()? }),
            MessageType::DontHave => StellarMessage::DontHave(DontHave {
                message_type: MessageType::from_i32(r.i32()?)?,
                req_hash: r.array()?,
            }),
            MessageType::Peers => StellarMessage::Peers(Peers::decode(&mut r)?),
            MessageType::GetTxSet => StellarMessage::GetTxSet(r.array()?),
            MessageType::GetScpQuorumSet => StellarMessage::GetScpQuorumSet(r.array()?),
            MessageType::GetScpState => StellarMessage::GetScpState(r.u32()?),
            MessageType::SendMore => StellarMessage::SendMore(SendMore {
                num_messages: r.u32()?,
            }),
            MessageType::SendMoreExtended => StellarMessage::SendMoreExtended(SendMoreExtended {
                num_messages: r.u32()?,
                num_bytes: r.u32()?,
            }),
            MessageType::FloodAdvert => StellarMessage::FloodAdvert(TxHashes::decode(&mut r)?),
            MessageType::FloodDemand => StellarMessage::FloodDemand(TxHashes::decode(&mut r)?),
            MessageType::TimeSlicedSurveyRequest => {
                StellarMessage::SurveyRequest(SignedSurveyRequest::decode(&mut r)?)
            }
            MessageType::TimeSlicedSurveyResponse => {
                StellarMessage::SurveyResponse(SignedSurveyResponse::decode(&mut r)?)
            }
            MessageType::TimeSlicedSurveyStartCollecting => {
                StellarMessage::SurveyStartCollecting(SignedSurveyCollecting::decode(&mut r)?)
            }
            MessageType::TimeSlicedSurveyStopCollecting => {
                StellarMessage::SurveyStopCollecting(SignedSurveyCollecting::decode(&mut r)?)
            }
            MessageType::TxSet => StellarMessage::TxSet(opaque_body(r.bytes(r.remaining())?)?),
            MessageType::GeneralizedTxSet => {
                StellarMessage::GeneralizedTxSet(opaque_body(r.bytes(r.remaining())?)?)
            }
            MessageType::Transaction => {
                StellarMessage::Transaction(opaque_body(r.bytes(r.remaining())?)?)
            }
            MessageType::ScpQuorumSet => {
                StellarMessage::ScpQuorumSet(opaque_body(r.bytes(r.remaining())?)?)
            }
            MessageType::ScpMessage => {
                StellarMessage::ScpMessage(ScpEnvelope::decode_from(&mut r)?)
            }
        };
        r.finish()?;
        Ok(msg)
    }

    /// Appends the XDR of this message (type tag included).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_i32(self.message_type() as i32);
        match self {
            StellarMessage::ErrorMsg(e) => {
                out.put_i32(e.code as i32);
                out.put_var_opaque(&e.msg[..e.msg.len().min(ERROR_MSG_MAX)]);
            }
            StellarMessage::Hello(h) => {
                out.put_u32(h.ledger_version);
                out.put_u32(h.overlay_version);
                out.put_u32(h.overlay_min_version);
                out.put_fixed(h.network_id);
                out.put_var_opaque(&h.version_str[..h.version_str.len().min(VERSION_STR_MAX)]);
                out.put_i32(h.listening_port);
                out.put_node_id(h.peer_id);
                out.put_fixed(h.cert.pubkey);
                out.put_u64(h.cert.expiration);
                out.put_var_opaque(&h.cert.sig[..h.cert.sig.len().min(SIGNATURE_MAX)]);
                out.put_fixed(h.nonce);
            }
            StellarMessage::Auth(a) => out.put_i32(a.flags),
            StellarMessage::DontHave(d) => {
                out.put_i32(d.message_type as i32);
                out.put_fixed(d.req_hash);
            }
            StellarMessage::Peers(p) => {
                out.put_u32(p.count as u32);
                out.put_fixed(p.entries);
            }
            StellarMessage::GetTxSet(h) | StellarMessage::GetScpQuorumSet(h) => out.put_fixed(*h),
            StellarMessage::TxSet(b)
            | StellarMessage::GeneralizedTxSet(b)
            | StellarMessage::Transaction(b)
            | StellarMessage::ScpQuorumSet(b) => out.put_fixed(b),
            StellarMessage::ScpMessage(e) => out.put_fixed(e.bytes),
            StellarMessage::GetScpState(s) => out.put_u32(*s),
            StellarMessage::SendMore(s) => out.put_u32(s.num_messages),
            StellarMessage::SendMoreExtended(s) => {
                out.put_u32(s.num_messages);
                out.put_u32(s.num_bytes);
            }
            StellarMessage::FloodAdvert(h) | StellarMessage::FloodDemand(h) => {
                out.put_u32(h.len() as u32);
                out.put_fixed(h.raw);
            }
            StellarMessage::SurveyRequest(s) => s.encode(out),
            StellarMessage::SurveyResponse(s) => s.encode(out),
            StellarMessage::SurveyStartCollecting(s) | StellarMessage::SurveyStopCollecting(s) => {
                s.encode(out)
            }
        }
    }

    /// The XDR size of this message, type tag included: what flow control counts.
    pub fn encoded_len(&self) -> usize {
        4 + match self {
            StellarMessage::ErrorMsg(e) => 8 + padded(e.msg.len().min(ERROR_MSG_MAX)),
            StellarMessage::Hello(h) => {
                164 + padded(h.version_str.len().min(VERSION_STR_MAX))
                    + padded(h.cert.sig.len().min(SIGNATURE_MAX))
            }
            StellarMessage::Auth(_)
            | StellarMessage::GetScpState(_)
            | StellarMessage::SendMore(_) => 4,
            StellarMessage::SendMoreExtended(_) => 8,
            StellarMessage::DontHave(_) => 36,
            StellarMessage::GetTxSet(_) | StellarMessage::GetScpQuorumSet(_) => 32,
            StellarMessage::Peers(p) => 4 + p.entries.len(),
            StellarMessage::FloodAdvert(h) | StellarMessage::FloodDemand(h) => 4 + h.raw.len(),
            StellarMessage::TxSet(b)
            | StellarMessage::GeneralizedTxSet(b)
            | StellarMessage::Transaction(b)
            | StellarMessage::ScpQuorumSet(b) => b.len(),
            StellarMessage::ScpMessage(e) => e.bytes.len(),
            StellarMessage::SurveyRequest(s) => s.encoded_len(),
            StellarMessage::SurveyResponse(s) => s.encoded_len(),
            StellarMessage::SurveyStartCollecting(s) | StellarMessage::SurveyStopCollecting(s) => {
                s.encoded_len()
            }
        }
    }

    /// Encodes into a fresh vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }
}

/// Bytes of an `AuthenticatedMessage` around its `StellarMessage`: `v` (4), `sequence` (8)
/// before it and the MAC (32) after it.
pub const AUTH_MESSAGE_OVERHEAD: usize = 4 + 8 + 32;

/// An in-place view of a received `AuthenticatedMessage` (v0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedMessage<'a> {
    pub sequence: u64,
    /// The `StellarMessage` XDR, type tag first.
    pub message: &'a [u8],
    /// The bytes the MAC covers: sequence then message.
    pub mac_input: &'a [u8],
    pub mac: &'a [u8; 32],
}

impl<'a> AuthenticatedMessage<'a> {
    /// Splits a frame body into its parts. The message itself is decoded separately with
    /// [`AuthenticatedMessage::decode`].
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        if body.len() < AUTH_MESSAGE_OVERHEAD + 4 {
            return Err(DecodeError::Truncated);
        }
        let mut r = Reader::new(body);
        let v = r.i32()?;
        if v != 0 {
            return Err(DecodeError::UnknownDiscriminant {
                what: "AuthenticatedMessage",
                value: v,
            });
        }
        let (mac_input, mac) = body[4..].split_at(body.len() - 4 - 32);
        Ok(AuthenticatedMessage {
            sequence: r.u64()?,
            message: &mac_input[8..],
            mac_input,
            mac: mac.try_into().map_err(|_| DecodeError::Truncated)?,
        })
    }

    pub fn message_type(&self) -> Result<MessageType, DecodeError> {
        let tag: [u8; 4] = self.message[..4]
            .try_into()
            .map_err(|_| DecodeError::Truncated)?;
        MessageType::from_i32(i32::from_be_bytes(tag))
    }

    pub fn decode(&self) -> Result<StellarMessage<'a>, DecodeError> {
        StellarMessage::decode(self.message)
    }
}

/// Appends one record-marked `AuthenticatedMessage` frame whose `StellarMessage` (of
/// `len` bytes) is written by `body`. `mac` computes the MAC over `sequence ‖ message`;
/// HELLO and ERROR_MSG pass [`zero_mac`].
pub fn write_frame_with(
    out: &mut Vec<u8>,
    sequence: u64,
    len: usize,
    body: impl FnOnce(&mut Vec<u8>),
    mac: impl FnOnce(&[u8]) -> [u8; 32],
) {
    out.reserve(4 + AUTH_MESSAGE_OVERHEAD + len);
    out.extend_from_slice(&record_mark(AUTH_MESSAGE_OVERHEAD + len));
    out.put_u32(0);
    let mac_from = out.len();
    out.put_u64(sequence);
    body(out);
    debug_assert_eq!(
        out.len(),
        mac_from + 8 + len,
        "encoded_len disagrees with encode"
    );
    let tag = mac(&out[mac_from..]);
    out.extend_from_slice(&tag);
}

/// [`write_frame_with`] for an already-encoded `StellarMessage`.
pub fn write_frame(
    out: &mut Vec<u8>,
    sequence: u64,
    message: &[u8],
    mac: impl FnOnce(&[u8]) -> [u8; 32],
) {
    write_frame_with(
        out,
        sequence,
        message.len(),
        |o| o.extend_from_slice(message),
        mac,
    );
}

/// The MAC of messages that carry none (HELLO, ERROR_MSG).
pub fn zero_mac(_: &[u8]) -> [u8; 32] {
    [0; 32]
}
