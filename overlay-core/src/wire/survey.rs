//! The time-sliced survey messages and the (decrypted) survey response body.
//!
//! Signatures cover the raw XDR of the signed body; since these decoders are exact (every
//! value re-encodes to the bytes it came from), [`SignedSurveyRequest::body_xdr`] and its
//! siblings give the signed bytes back without keeping a second slice around.

use alloc::vec::Vec;

use super::DecodeError;
use super::messages::{SIGNATURE_MAX, VERSION_STR_MAX};
use super::xdr::{Reader, XdrWrite, padded};

/// `SurveyMessageCommandType::TIME_SLICED_SURVEY_TOPOLOGY`, the only command.
pub const TIME_SLICED_SURVEY_TOPOLOGY: i32 = 1;
/// `SurveyMessageResponseType::SURVEY_TOPOLOGY_RESPONSE_V2`, the only response body.
pub const SURVEY_TOPOLOGY_RESPONSE_V2: i32 = 2;
/// XDR bound of `EncryptedBody`.
pub const ENCRYPTED_BODY_MAX: usize = 64_000;
/// XDR bound of `TimeSlicedPeerDataList`.
pub const PEER_DATA_LIST_MAX: usize = 25;

fn command_type(r: &mut Reader<'_>) -> Result<i32, DecodeError> {
    let v = r.i32()?;
    if v != TIME_SLICED_SURVEY_TOPOLOGY {
        return Err(DecodeError::UnknownDiscriminant {
            what: "SurveyMessageCommandType",
            value: v,
        });
    }
    Ok(v)
}

/// `TimeSlicedSurveyStartCollectingMessage` / `TimeSlicedSurveyStopCollectingMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyCollecting<'a> {
    pub surveyor_id: &'a [u8; 32],
    pub nonce: u32,
    pub ledger_num: u32,
}

impl<'a> SurveyCollecting<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(SurveyCollecting {
            surveyor_id: r.node_id()?,
            nonce: r.u32()?,
            ledger_num: r.u32()?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_node_id(self.surveyor_id);
        out.put_u32(self.nonce);
        out.put_u32(self.ledger_num);
    }
}

/// `SignedTimeSlicedSurveyStartCollectingMessage` (and its STOP twin, same shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedSurveyCollecting<'a> {
    pub signature: &'a [u8],
    pub body: SurveyCollecting<'a>,
}

/// `SurveyRequestMessage` + the time-sliced fields around it
/// (`TimeSlicedSurveyRequestMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyRequest<'a> {
    pub surveyor_peer_id: &'a [u8; 32],
    pub surveyed_peer_id: &'a [u8; 32],
    pub ledger_num: u32,
    pub encryption_key: &'a [u8; 32],
    pub nonce: u32,
    pub inbound_peers_index: u32,
    pub outbound_peers_index: u32,
}

impl<'a> SurveyRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let surveyor_peer_id = r.node_id()?;
        let surveyed_peer_id = r.node_id()?;
        let ledger_num = r.u32()?;
        let encryption_key = r.array()?;
        command_type(r)?;
        Ok(SurveyRequest {
            surveyor_peer_id,
            surveyed_peer_id,
            ledger_num,
            encryption_key,
            nonce: r.u32()?,
            inbound_peers_index: r.u32()?,
            outbound_peers_index: r.u32()?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_node_id(self.surveyor_peer_id);
        out.put_node_id(self.surveyed_peer_id);
        out.put_u32(self.ledger_num);
        out.put_fixed(self.encryption_key);
        out.put_i32(TIME_SLICED_SURVEY_TOPOLOGY);
        out.put_u32(self.nonce);
        out.put_u32(self.inbound_peers_index);
        out.put_u32(self.outbound_peers_index);
    }
}

/// `SignedTimeSlicedSurveyRequestMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedSurveyRequest<'a> {
    pub signature: &'a [u8],
    pub request: SurveyRequest<'a>,
}

/// `SurveyResponseMessage` + nonce (`TimeSlicedSurveyResponseMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyResponse<'a> {
    pub surveyor_peer_id: &'a [u8; 32],
    pub surveyed_peer_id: &'a [u8; 32],
    pub ledger_num: u32,
    /// A sealed box holding a [`SurveyResponseBody`].
    pub encrypted_body: &'a [u8],
    pub nonce: u32,
}

impl<'a> SurveyResponse<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let surveyor_peer_id = r.node_id()?;
        let surveyed_peer_id = r.node_id()?;
        let ledger_num = r.u32()?;
        command_type(r)?;
        Ok(SurveyResponse {
            surveyor_peer_id,
            surveyed_peer_id,
            ledger_num,
            encrypted_body: r.var_opaque(ENCRYPTED_BODY_MAX as u32)?,
            nonce: r.u32()?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_node_id(self.surveyor_peer_id);
        out.put_node_id(self.surveyed_peer_id);
        out.put_u32(self.ledger_num);
        out.put_i32(TIME_SLICED_SURVEY_TOPOLOGY);
        out.put_var_opaque(
            &self.encrypted_body[..self.encrypted_body.len().min(ENCRYPTED_BODY_MAX)],
        );
        out.put_u32(self.nonce);
    }

    fn encoded_len(&self) -> usize {
        36 + 36 + 4 + 4 + 4 + padded(self.encrypted_body.len().min(ENCRYPTED_BODY_MAX)) + 4
    }
}

/// `SignedTimeSlicedSurveyResponseMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedSurveyResponse<'a> {
    pub signature: &'a [u8],
    pub response: SurveyResponse<'a>,
}

/// The signed wrappers share one shape: `Signature` first, then the signed body.
macro_rules! signed_message {
    ($signed:ident, $field:ident, $body:ident, $body_len:expr) => {
        impl<'a> $signed<'a> {
            pub(super) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
                let signature = r.var_opaque(SIGNATURE_MAX as u32)?;
                Ok($signed {
                    signature,
                    $field: $body::decode(r)?,
                })
            }

            pub fn encode(&self, out: &mut Vec<u8>) {
                out.put_var_opaque(&self.signature[..self.signature.len().min(SIGNATURE_MAX)]);
                self.$field.encode(out);
            }

            pub(super) fn encoded_len(&self) -> usize {
                let body_len: fn(&$body<'_>) -> usize = $body_len;
                4 + padded(self.signature.len().min(SIGNATURE_MAX)) + body_len(&self.$field)
            }

            /// The XDR bytes the signature covers.
            pub fn body_xdr(&self) -> Vec<u8> {
                let mut v = Vec::new();
                self.$field.encode(&mut v);
                v
            }
        }
    };
}

signed_message!(SignedSurveyCollecting, body, SurveyCollecting, |_| 44);
signed_message!(SignedSurveyRequest, request, SurveyRequest, |_| 36
    + 36
    + 4
    + 32
    + 4
    + 12);
signed_message!(SignedSurveyResponse, response, SurveyResponse, |r| r
    .encoded_len());

/// `PeerStats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerStats<'a> {
    pub id: [u8; 32],
    pub version_str: &'a [u8],
    pub messages_read: u64,
    pub messages_written: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub seconds_connected: u64,
    pub unique_flood_bytes_recv: u64,
    pub duplicate_flood_bytes_recv: u64,
    pub unique_fetch_bytes_recv: u64,
    pub duplicate_fetch_bytes_recv: u64,
    pub unique_flood_message_recv: u64,
    pub duplicate_flood_message_recv: u64,
    pub unique_fetch_message_recv: u64,
    pub duplicate_fetch_message_recv: u64,
}

/// `TimeSlicedPeerData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeSlicedPeerData<'a> {
    pub peer_stats: PeerStats<'a>,
    pub average_latency_ms: u32,
}

impl<'a> TimeSlicedPeerData<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let id = *r.node_id()?;
        let version_str = r.var_opaque(VERSION_STR_MAX as u32)?;
        let mut n = [0u64; 13];
        for v in &mut n {
            *v = r.u64()?;
        }
        let peer_stats = PeerStats {
            id,
            version_str,
            messages_read: n[0],
            messages_written: n[1],
            bytes_read: n[2],
            bytes_written: n[3],
            seconds_connected: n[4],
            unique_flood_bytes_recv: n[5],
            duplicate_flood_bytes_recv: n[6],
            unique_fetch_bytes_recv: n[7],
            duplicate_fetch_bytes_recv: n[8],
            unique_flood_message_recv: n[9],
            duplicate_flood_message_recv: n[10],
            unique_fetch_message_recv: n[11],
            duplicate_fetch_message_recv: n[12],
        };
        Ok(TimeSlicedPeerData {
            peer_stats,
            average_latency_ms: r.u32()?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let s = &self.peer_stats;
        out.put_node_id(&s.id);
        out.put_var_opaque(&s.version_str[..s.version_str.len().min(VERSION_STR_MAX)]);
        for v in [
            s.messages_read,
            s.messages_written,
            s.bytes_read,
            s.bytes_written,
            s.seconds_connected,
            s.unique_flood_bytes_recv,
            s.duplicate_flood_bytes_recv,
            s.unique_fetch_bytes_recv,
            s.duplicate_fetch_bytes_recv,
            s.unique_flood_message_recv,
            s.duplicate_flood_message_recv,
            s.unique_fetch_message_recv,
            s.duplicate_fetch_message_recv,
        ] {
            out.put_u64(v);
        }
        out.put_u32(self.average_latency_ms);
    }
}

/// `TimeSlicedNodeData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeSlicedNodeData {
    pub added_authenticated_peers: u32,
    pub dropped_authenticated_peers: u32,
    pub total_inbound_peer_count: u32,
    pub total_outbound_peer_count: u32,
    pub p75_scp_first_to_self_latency_ms: u32,
    pub p75_scp_self_to_other_latency_ms: u32,
    pub lost_sync_count: u32,
    pub is_validator: bool,
    pub max_inbound_peer_count: u32,
    pub max_outbound_peer_count: u32,
}

impl TimeSlicedNodeData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TimeSlicedNodeData {
            added_authenticated_peers: r.u32()?,
            dropped_authenticated_peers: r.u32()?,
            total_inbound_peer_count: r.u32()?,
            total_outbound_peer_count: r.u32()?,
            p75_scp_first_to_self_latency_ms: r.u32()?,
            p75_scp_self_to_other_latency_ms: r.u32()?,
            lost_sync_count: r.u32()?,
            is_validator: r.bool()?,
            max_inbound_peer_count: r.u32()?,
            max_outbound_peer_count: r.u32()?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.added_authenticated_peers);
        out.put_u32(self.dropped_authenticated_peers);
        out.put_u32(self.total_inbound_peer_count);
        out.put_u32(self.total_outbound_peer_count);
        out.put_u32(self.p75_scp_first_to_self_latency_ms);
        out.put_u32(self.p75_scp_self_to_other_latency_ms);
        out.put_u32(self.lost_sync_count);
        out.put_bool(self.is_validator);
        out.put_u32(self.max_inbound_peer_count);
        out.put_u32(self.max_outbound_peer_count);
    }
}

/// `TimeSlicedPeerDataList`: at most 25 entries.
pub type PeerDataList<'a> = heapless::Vec<TimeSlicedPeerData<'a>, PEER_DATA_LIST_MAX>;

/// `SurveyResponseBody` (arm `SURVEY_TOPOLOGY_RESPONSE_V2`, `TopologyResponseBodyV2`):
/// what a surveyed node encrypts to the surveyor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyResponseBody<'a> {
    pub inbound_peers: PeerDataList<'a>,
    pub outbound_peers: PeerDataList<'a>,
    pub node_data: TimeSlicedNodeData,
}

impl<'a> SurveyResponseBody<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let ty = r.i32()?;
        if ty != SURVEY_TOPOLOGY_RESPONSE_V2 {
            return Err(DecodeError::UnknownDiscriminant {
                what: "SurveyMessageResponseType",
                value: ty,
            });
        }
        let inbound_peers = Self::list(&mut r)?;
        let outbound_peers = Self::list(&mut r)?;
        let node_data = TimeSlicedNodeData::decode(&mut r)?;
        r.finish()?;
        Ok(SurveyResponseBody {
            inbound_peers,
            outbound_peers,
            node_data,
        })
    }

    fn list(r: &mut Reader<'a>) -> Result<PeerDataList<'a>, DecodeError> {
        // Smallest entry: node id 36, empty string 4, 13 counters, latency 4.
        let n = r.count(PEER_DATA_LIST_MAX as u32, 36 + 4 + 13 * 8 + 4)?;
        let mut list = PeerDataList::new();
        for _ in 0..n {
            // Cannot overflow: n is at most the list's capacity.
            let _ = list.push(TimeSlicedPeerData::decode(r)?);
        }
        Ok(list)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_i32(SURVEY_TOPOLOGY_RESPONSE_V2);
        for list in [&self.inbound_peers, &self.outbound_peers] {
            out.put_u32(list.len() as u32);
            for p in list {
                p.encode(out);
            }
        }
        self.node_data.encode(out);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}
