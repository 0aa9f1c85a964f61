//! Time-sliced overlay surveys (PROTOCOL.md §7): stellar-core's `SurveyManager`,
//! `SurveyDataManager` and `SurveyMessageLimiter`, and a driver that runs a whole survey
//! the way `scripts/OverlaySurvey.py` does.
//!
//! The [`crate::overlay::Overlay`] owns the survey state and routes the four survey messages
//! to it; the public API is on the overlay (`start_survey_collecting`, `survey_topology`,
//! `survey_results`, `run_survey`, ...). This module holds the state machines and the
//! types they report.
//!
//! ## Surveyed side
//! Phases go INACTIVE → COLLECTING (a valid START_COLLECTING) → REPORTING (a valid
//! STOP_COLLECTING, or [`SurveyConfig::collecting_max`]) → INACTIVE
//! ([`SurveyConfig::reporting_max`] after collecting ended), checked on each overlay tick.
//! START snapshots the authenticated peers' counters; the end of collecting turns the
//! deltas into `TimeSlicedPeerData` (peers authenticated at both moments only, ordered by
//! NodeID) and `TimeSlicedNodeData`. A REQUEST for us is answered with a RESPONSE whose
//! body is a libsodium sealed box of the XDR `SurveyResponseBody`, 25 peers per list from
//! the requested indices.
//!
//! ## Relaying
//! Every message is checked in stellar-core's order: surveyor permission (the
//! `SURVEYOR_KEYS` allowlist, or when it is empty the transitive quorum the application
//! supplies), the ±[`NUM_LEDGERS_BEFORE_IGNORE`] ledger window, the limiter, the phase and
//! nonce, and the signature last. A bad signature drops the sender
//! ([`DropReason::SurveyBadSignature`]). Accepted messages are recorded in the floodgate
//! and broadcast to the peers that do not have them; they are not flow-controlled.
//!
//! ## Surveyor side
//! A reporting run (a fresh X25519 key, wiped when the run stops) sends up to
//! [`MAX_REQUEST_LIMIT_PER_LEDGER`] queued requests every
//! [`SurveyConfig::throttle_timeout`], decrypts the responses addressed to us and keeps
//! them as [`SurveyResults`] (stellar-core's `/getsurveyresult`). [`SurveyPlan`] runs a
//! whole survey: collect, stop, page through every reachable node, retry silent ones, and
//! end with a [`SurveyReport`] listing the nodes that never answered.
//!
//! ## What the application tells the overlay
//! - the tracked ledger (`Overlay::set_ledger`): message windows and limiter pruning;
//! - the transitive quorum (`Overlay::set_survey_quorum`) when `SURVEYOR_KEYS` is empty —
//!   without it only allowlisted surveyors are served;
//! - externalizes (`Overlay::record_externalize`; by default EXTERNALIZE envelopes passed
//!   to `Overlay::broadcast` are recorded too), losses of sync (`Overlay::record_lost_sync`)
//!   and whether the node is in sync (`Overlay::set_synced`).
//!
//! ## Deviations from stellar-core
//! - stellar-core resets the whole survey state when a reporting run is started outside the
//!   reporting phase (an "inconsistency"); here the run is refused with
//!   [`SurveyError::NotReporting`] and nothing is reset.
//! - Queueing a node that is already queued is refused without touching its indices
//!   (stellar-core's release builds log the error and overwrite them; its test builds
//!   throw before, as here).
//! - Externalizes are recorded once per (slot, node): stellar-core records every valid
//!   EXTERNALIZE envelope, and a node rarely sends two for a slot. The application may
//!   report them ([`SurveyConfig::observe_externalize`] off) or let the overlay see the
//!   EXTERNALIZE envelopes it broadcasts.
//! - Unique/duplicate counting of survey messages uses a cache of the last
//!   [`SEEN_CACHE`] survey messages (stellar-core: one 65 535-entry cache for all types).
//! - Ping samples come from the connection's recent history ([`crate::peer::PING_HISTORY_MAX`]
//!   samples of the last 5 minutes) filtered to the collecting phase, then pass through the
//!   same sliding-window rules as libmedida's histogram.
//! - `/getsurveyresult` JSON ([`SurveyResults::to_json`]) writes empty lists as `null`
//!   (jsoncpp writes `null` or `[]` depending on whether the list ever held an entry).
//! - The run driver ([`SurveyPlan`]) follows `OverlaySurvey.py` but also asks silent nodes
//!   again (with a doubling wait), stops paging a node whose next page brings nothing new,
//!   and bounds the nodes it asks.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};
use core::time::Duration;

use crypto_box::aead::rand_core::{CryptoRng, Error as RandError, RngCore};
use crypto_box::{PublicKey as BoxPublic, SecretKey as BoxSecret};
use sha2::{Digest, Sha256};

use crate::ConnId;
use crate::auth::{LocalNode, NodeId, NodeKey, Role, verify_signature};
use crate::overlay::{ConnStats, OverlayEvent};
use crate::peer::DropReason;
use crate::peers::ConnectionLimits;
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire::{
    ENCRYPTED_BODY_MAX, Hash, PEER_DATA_LIST_MAX, PeerDataList, PeerStats as WirePeerStats,
    SignedSurveyCollecting, SignedSurveyRequest, SignedSurveyResponse, StellarMessage,
    SurveyCollecting, SurveyRequest, SurveyResponse, SurveyResponseBody, TimeSlicedNodeData,
    TimeSlicedPeerData, VERSION_STR_MAX,
};

/// Messages whose `ledgerNum` is more than this many ledgers from ours are ignored.
pub const NUM_LEDGERS_BEFORE_IGNORE: u32 = 6;
/// Distinct surveyors per ledger, and surveyed nodes per (ledger, surveyor), a relay
/// accepts; also the requests a surveyor sends per throttle period.
pub const MAX_REQUEST_LIMIT_PER_LEDGER: usize = 10;
/// `COLLECTING_PHASE_MAX_DURATION`.
pub const COLLECTING_PHASE_MAX_DURATION: Duration = Duration::from_secs(30 * 60);
/// `REPORTING_PHASE_MAX_DURATION`.
pub const REPORTING_PHASE_MAX_DURATION: Duration = Duration::from_secs(3 * 3600);
/// `SURVEY_THROTTLE_TIMEOUT_MS`: 3 × the pre-protocol-23 ledger close time (5 s).
pub const SURVEY_THROTTLE_TIMEOUT: Duration = Duration::from_secs(15);
/// libmedida's sliding-window histogram: samples kept at most.
pub const HISTOGRAM_WINDOW_SIZE: usize = 1028;
/// libmedida's sliding-window histogram: how far back samples are kept.
pub const HISTOGRAM_WINDOW_TIME: Duration = Duration::from_secs(5 * 60);
/// Bytes a sealed box adds to its plaintext: ephemeral public key and Poly1305 tag.
pub const SEAL_OVERHEAD: usize = 48;
/// Survey messages remembered for unique/duplicate counting.
pub const SEEN_CACHE: usize = 4096;
/// SCP slots whose externalize times are kept.
const SLOT_TIMINGS: usize = 32;
/// Nodes remembered per slot for externalize de-duplication.
const SLOT_NODES: usize = 1024;

/// Survey settings (stellar-core `Config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyConfig {
    /// Whether the node takes part in surveys. Off: survey messages are neither processed
    /// nor relayed; they go up as [`OverlayEvent::Message`] like any unhandled message.
    pub enabled: bool,
    /// `SURVEYOR_KEYS`: who may survey this node. Empty: the transitive quorum does
    /// (`Overlay::set_survey_quorum`).
    pub surveyor_keys: Vec<NodeId>,
    /// `NODE_IS_VALIDATOR`, reported in `TimeSlicedNodeData`.
    pub is_validator: bool,
    /// `SURVEY_THROTTLE_TIMEOUT_MS` (simulations may shorten it).
    pub throttle_timeout: Duration,
    /// `COLLECTING_PHASE_MAX_DURATION` (`ARTIFICIALLY_SET_SURVEY_PHASE_DURATION_FOR_TESTING`).
    pub collecting_max: Duration,
    /// `REPORTING_PHASE_MAX_DURATION`.
    pub reporting_max: Duration,
    /// Record EXTERNALIZE envelopes passed to `Overlay::broadcast` as externalize events
    /// (turn off if the application calls `Overlay::record_externalize` itself).
    pub observe_externalize: bool,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        SurveyConfig {
            enabled: true,
            surveyor_keys: Vec::new(),
            is_validator: false,
            throttle_timeout: SURVEY_THROTTLE_TIMEOUT,
            collecting_max: COLLECTING_PHASE_MAX_DURATION,
            reporting_max: REPORTING_PHASE_MAX_DURATION,
            observe_externalize: true,
        }
    }
}

/// The local survey phase (`SurveyPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SurveyPhase {
    #[default]
    Inactive,
    Collecting,
    Reporting,
}

/// Why a survey command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyError {
    /// A survey is already active on this node.
    SurveyActive,
    /// No survey is active on this node.
    NoSurvey,
    /// The node is not in the reporting phase of a survey.
    NotReporting,
    /// No reporting run is going on.
    NotRunning,
    /// The node is already queued, or is ourselves.
    AlreadyQueuedOrSelf,
    /// A survey run ([`SurveyPlan`]) is already going on.
    RunInProgress,
}

impl fmt::Display for SurveyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SurveyError::SurveyActive => "another survey is active on the network",
            SurveyError::NoSurvey => "no survey is active on the network",
            SurveyError::NotReporting => "the survey is not in its reporting phase",
            SurveyError::NotRunning => "survey is not running",
            SurveyError::AlreadyQueuedOrSelf => "node is already queued or is the self node",
            SurveyError::RunInProgress => "a survey run is already in progress",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SurveyError {}

/// Why a survey message was not accepted (counted in [`SurveyMetrics::rejected`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// The surveyor is neither in `SURVEYOR_KEYS` nor (when that is empty) in the quorum.
    NotPermitted,
    /// `ledgerNum` outside ±[`NUM_LEDGERS_BEFORE_IGNORE`] of ours.
    LedgerWindow,
    /// START while a survey is active.
    SurveyActive,
    /// STOP for a survey we are not collecting (other nonce or surveyor).
    NotCollecting,
    /// More than [`MAX_REQUEST_LIMIT_PER_LEDGER`] surveyors for the ledger.
    TooManySurveyors,
    /// More than [`MAX_REQUEST_LIMIT_PER_LEDGER`] surveyed nodes for (ledger, surveyor).
    TooManySurveyed,
    /// The request was seen already.
    Duplicate,
    /// A response to a request we never saw, or a second response.
    UnknownRequest,
    /// Not in the reporting phase of that nonce.
    NotReporting,
    BadSignature,
}

impl Reject {
    pub fn kind(self) -> &'static str {
        match self {
            Reject::NotPermitted => "not-permitted",
            Reject::LedgerWindow => "ledger-window",
            Reject::SurveyActive => "survey-active",
            Reject::NotCollecting => "not-collecting",
            Reject::TooManySurveyors => "too-many-surveyors",
            Reject::TooManySurveyed => "too-many-surveyed",
            Reject::Duplicate => "duplicate",
            Reject::UnknownRequest => "unknown-request",
            Reject::NotReporting => "not-reporting",
            Reject::BadSignature => "bad-signature",
        }
    }
}

/// Survey message counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurveyMetrics {
    /// Received from peers, per type.
    pub start_recv: u64,
    pub stop_recv: u64,
    pub request_recv: u64,
    pub response_recv: u64,
    /// Accepted from a peer and broadcast on, per type.
    pub start_relayed: u64,
    pub stop_relayed: u64,
    pub request_relayed: u64,
    pub response_relayed: u64,
    /// Our own requests that passed our limiter and went out.
    pub requests_sent: u64,
    /// Requests for us answered.
    pub responses_sent: u64,
    /// Responses for our run decrypted and stored.
    pub responses_stored: u64,
    /// Not accepted, by [`Reject::kind`].
    pub rejected: BTreeMap<&'static str, u64>,
}

impl SurveyMetrics {
    fn reject(&mut self, r: Reject) {
        *self.rejected.entry(r.kind()).or_default() += 1;
    }

    /// Messages not accepted for `reason`.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected.get(reason.kind()).copied().unwrap_or(0)
    }
}

// ----- statistics ------------------------------------------------------------------------

/// Quantile `q` (0..=1) of sorted samples by linear interpolation at index `q·(n−1)`
/// (Hyndman & Fan's R-7, libmedida's `Snapshot::getValue`); 0 when there are none.
pub fn quantile_r7(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    let max_idx = sorted.len() - 1;
    let ideal = q * max_idx as f64;
    // `ideal` is non-negative: truncation is the floor.
    let lo = (ideal as usize).min(max_idx);
    if lo + 1 > max_idx {
        return sorted[max_idx];
    }
    let delta = ideal - lo as f64;
    sorted[lo] + delta * (sorted[lo + 1] - sorted[lo])
}

/// `doubleToClampedUint32`: NaN → `u32::MAX`, otherwise clamped to `0..=u32::MAX` and
/// truncated toward zero.
pub fn clamp_to_u32(v: f64) -> u32 {
    if v.is_nan() {
        u32::MAX
    } else {
        // `as` saturates at both ends and truncates.
        v as u32
    }
}

/// libmedida's sliding-window sample: at most [`HISTOGRAM_WINDOW_SIZE`] values from the
/// [`HISTOGRAM_WINDOW_TIME`] before the newest one, one random survivor per time slice of
/// `window / size` (reservoir replacement with probability 1/k for the k-th value of a
/// slice). Old values are trimmed when a new one arrives, not when read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlidingWindow {
    values: VecDeque<(i64, Instant)>,
    in_slice: u64,
}

impl SlidingWindow {
    fn slice_micros() -> u64 {
        HISTOGRAM_WINDOW_TIME.as_micros() as u64 / HISTOGRAM_WINDOW_SIZE as u64
    }

    pub fn update(&mut self, value: i64, at: Instant, rng: &mut Rng) {
        let slice = Self::slice_micros();
        let t = at.as_micros();
        if let Some(&(_, last)) = self.values.back() {
            if t > last.as_micros().saturating_add(slice) {
                self.in_slice = 0;
            }
            let expiry = t.saturating_sub(HISTOGRAM_WINDOW_TIME.as_micros() as u64);
            while self
                .values
                .front()
                .is_some_and(|(_, ts)| ts.as_micros() < expiry)
            {
                self.values.pop_front();
            }
        }
        let same_slice = self
            .values
            .back()
            .is_some_and(|(_, last)| t <= last.as_micros().saturating_add(slice));
        if same_slice {
            // Keep one random value of the slice: replace the survivor with chance 1/k.
            self.in_slice += 1;
            let r = u64::from(rng.next_u32());
            if r.saturating_mul(self.in_slice) <= u64::from(u32::MAX)
                && let Some((v, _)) = self.values.back_mut()
            {
                *v = value;
            }
        } else {
            self.values.push_back((value, at));
            self.in_slice = 1;
            if self.values.len() > HISTOGRAM_WINDOW_SIZE {
                self.values.pop_front();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The kept values, sorted.
    pub fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.values.iter().map(|(x, _)| *x as f64).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn quantile(&self, q: f64) -> f64 {
        quantile_r7(&self.sorted(), q)
    }

    /// The 75th percentile as a survey reports it.
    pub fn p75(&self) -> u32 {
        clamp_to_u32(self.quantile(0.75))
    }

    /// The median as a survey reports it.
    pub fn median(&self) -> u32 {
        clamp_to_u32(self.quantile(0.5))
    }
}

/// Whole milliseconds (`duration_cast<milliseconds>` truncates).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

// ----- sealed boxes ----------------------------------------------------------------------

/// A deterministic CSPRNG (SHA-256 in counter mode over a secret seed): how the sealed
/// box's ephemeral key is drawn from the overlay's seeded secret stream.
struct SeedRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeedRng {
    fn new(seed: [u8; 32]) -> Self {
        SeedRng {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }
}

impl Drop for SeedRng {
    fn drop(&mut self) {
        self.seed = [0; 32];
        self.block = [0; 32];
    }
}

impl RngCore for SeedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == 32 {
                self.block = Sha256::new()
                    .chain_update(self.seed)
                    .chain_update(self.counter.to_be_bytes())
                    .finalize()
                    .into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RandError> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for SeedRng {}

/// `crypto_box_seal`: a sealed box of `plaintext` for the X25519 public key `recipient`
/// (ephemeral public key ‖ XSalsa20-Poly1305 ciphertext, [`SEAL_OVERHEAD`] bytes more than
/// the plaintext). The ephemeral secret is derived from `ephemeral_seed`, which must be
/// fresh secret randomness.
pub fn seal(recipient: &[u8; 32], plaintext: &[u8], ephemeral_seed: [u8; 32]) -> Vec<u8> {
    let mut rng = SeedRng::new(ephemeral_seed);
    // Encryption fails only for plaintexts beyond any XDR bound.
    BoxPublic::from_bytes(*recipient)
        .seal(&mut rng, plaintext)
        .unwrap_or_default()
}

/// `crypto_box_seal_open` with the X25519 secret `secret`; `None` if the box does not
/// open (too short, wrong key, tampered).
pub fn open(secret: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < SEAL_OVERHEAD {
        return None;
    }
    BoxSecret::from_bytes(*secret).unseal(sealed).ok()
}

/// The X25519 public key of a secret (clamped as libsodium does).
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    BoxSecret::from_bytes(*secret).public_key().to_bytes()
}

// ----- messages --------------------------------------------------------------------------

/// A signed TIME_SLICED_SURVEY_START_COLLECTING (StellarMessage XDR).
pub fn start_collecting_message(key: &NodeKey, nonce: u32, ledger_num: u32) -> Vec<u8> {
    collecting_message(key, nonce, ledger_num, true)
}

/// A signed TIME_SLICED_SURVEY_STOP_COLLECTING (StellarMessage XDR).
pub fn stop_collecting_message(key: &NodeKey, nonce: u32, ledger_num: u32) -> Vec<u8> {
    collecting_message(key, nonce, ledger_num, false)
}

fn collecting_message(key: &NodeKey, nonce: u32, ledger_num: u32, start: bool) -> Vec<u8> {
    let id = key.node_id().0;
    let body = SurveyCollecting {
        surveyor_id: &id,
        nonce,
        ledger_num,
    };
    let mut signed = Vec::new();
    body.encode(&mut signed);
    let sig = key.sign(&signed);
    let s = SignedSurveyCollecting {
        signature: &sig,
        body,
    };
    if start {
        StellarMessage::SurveyStartCollecting(s).to_vec()
    } else {
        StellarMessage::SurveyStopCollecting(s).to_vec()
    }
}

/// A signed TIME_SLICED_SURVEY_REQUEST (StellarMessage XDR) from `key`'s node.
pub fn request_message(
    key: &NodeKey,
    surveyed: &NodeId,
    ledger_num: u32,
    encryption_key: &[u8; 32],
    nonce: u32,
    inbound_peers_index: u32,
    outbound_peers_index: u32,
) -> Vec<u8> {
    let id = key.node_id().0;
    let request = SurveyRequest {
        surveyor_peer_id: &id,
        surveyed_peer_id: &surveyed.0,
        ledger_num,
        encryption_key,
        nonce,
        inbound_peers_index,
        outbound_peers_index,
    };
    let mut signed = Vec::new();
    request.encode(&mut signed);
    let sig = key.sign(&signed);
    StellarMessage::SurveyRequest(SignedSurveyRequest {
        signature: &sig,
        request,
    })
    .to_vec()
}

/// A signed TIME_SLICED_SURVEY_RESPONSE (StellarMessage XDR) from `key`'s node.
pub fn response_message(
    key: &NodeKey,
    surveyor: &NodeId,
    ledger_num: u32,
    encrypted_body: &[u8],
    nonce: u32,
) -> Vec<u8> {
    let id = key.node_id().0;
    let response = SurveyResponse {
        surveyor_peer_id: &surveyor.0,
        surveyed_peer_id: &id,
        ledger_num,
        encrypted_body,
        nonce,
    };
    let mut signed = Vec::new();
    response.encode(&mut signed);
    let sig = key.sign(&signed);
    StellarMessage::SurveyResponse(SignedSurveyResponse {
        signature: &sig,
        response,
    })
    .to_vec()
}

// ----- the limiter -----------------------------------------------------------------------

/// Whether a message's `ledgerNum` is within the window around our tracked ledger
/// (`surveyLedgerNumValid`).
pub fn ledger_in_window(ledger_num: u32, local: u32) -> bool {
    let n = NUM_LEDGERS_BEFORE_IGNORE as u64;
    let (m, l) = (u64::from(ledger_num), u64::from(local));
    m + n >= l && m <= l + n.max(1)
}

/// `SurveyMessageLimiter`: requests seen per ledger, surveyor and surveyed node, and
/// whether their response was seen. Records only exist for ledgers within the window, so
/// at most 13 ledgers × 11 surveyors × 10 surveyed nodes (plus our own requests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limiter {
    records: BTreeMap<u32, BTreeMap<NodeId, BTreeMap<NodeId, bool>>>,
}

impl Limiter {
    /// `addAndValidateRequest`: window, rate limits (not for our own requests), duplicates;
    /// then `validate` (nonce, signature), and only if everything passed the request is
    /// recorded.
    pub fn add_request(
        &mut self,
        local_ledger: u32,
        me: &NodeId,
        ledger_num: u32,
        surveyor: NodeId,
        surveyed: NodeId,
        validate: impl FnOnce() -> Result<(), Reject>,
    ) -> Result<(), Reject> {
        if !ledger_in_window(ledger_num, local_ledger) {
            return Err(Reject::LedgerWindow);
        }
        let own = surveyor == *me;
        let Some(surveyors) = self.records.get_mut(&ledger_num) else {
            validate()?;
            let mut surveyed_map = BTreeMap::new();
            surveyed_map.insert(surveyed, false);
            let mut surveyors = BTreeMap::new();
            surveyors.insert(surveyor, surveyed_map);
            self.records.insert(ledger_num, surveyors);
            return Ok(());
        };
        let Some(surveyed_map) = surveyors.get_mut(&surveyor) else {
            if !own && surveyors.len() >= MAX_REQUEST_LIMIT_PER_LEDGER {
                return Err(Reject::TooManySurveyors);
            }
            validate()?;
            let mut surveyed_map = BTreeMap::new();
            surveyed_map.insert(surveyed, false);
            surveyors.insert(surveyor, surveyed_map);
            return Ok(());
        };
        if !own && surveyed_map.len() >= MAX_REQUEST_LIMIT_PER_LEDGER {
            return Err(Reject::TooManySurveyed);
        }
        if surveyed_map.contains_key(&surveyed) {
            return Err(Reject::Duplicate);
        }
        validate()?;
        surveyed_map.insert(surveyed, false);
        Ok(())
    }

    /// `recordAndValidateResponse`: window, a matching request seen and no response for it
    /// yet; then `validate` (nonce, signature), and the response is marked seen.
    pub fn record_response(
        &mut self,
        local_ledger: u32,
        ledger_num: u32,
        surveyor: &NodeId,
        surveyed: &NodeId,
        validate: impl FnOnce() -> Result<(), Reject>,
    ) -> Result<(), Reject> {
        if !ledger_in_window(ledger_num, local_ledger) {
            return Err(Reject::LedgerWindow);
        }
        let seen = self
            .records
            .get_mut(&ledger_num)
            .and_then(|s| s.get_mut(surveyor))
            .and_then(|s| s.get_mut(surveyed))
            .ok_or(Reject::UnknownRequest)?;
        if *seen {
            return Err(Reject::UnknownRequest);
        }
        validate()?;
        *seen = true;
        Ok(())
    }

    /// `clearOldLedgers`: forgets ledgers `l` with `l + 6 < lcl`.
    pub fn clear_old_ledgers(&mut self, lcl: u32) {
        self.records
            .retain(|l, _| u64::from(*l) + u64::from(NUM_LEDGERS_BEFORE_IGNORE) >= u64::from(lcl));
    }

    /// Ledgers with records.
    pub fn ledgers(&self) -> usize {
        self.records.len()
    }
}

// ----- collected data --------------------------------------------------------------------

/// A connection's counters at one moment (stellar-core's `PeerMetrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub messages_read: u64,
    pub messages_written: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// What the connection brought that was new or already known.
    pub recv: ConnStats,
}

impl Counters {
    fn since(&self, start: &Counters) -> Counters {
        Counters {
            messages_read: self.messages_read.saturating_sub(start.messages_read),
            messages_written: self.messages_written.saturating_sub(start.messages_written),
            bytes_read: self.bytes_read.saturating_sub(start.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(start.bytes_written),
            recv: self.recv.since(&start.recv),
        }
    }
}

/// An authenticated connection as the survey sees it.
#[derive(Debug, Clone)]
pub(crate) struct PeerSnapshot {
    pub node: NodeId,
    pub role: Role,
    pub counters: Counters,
    pub connected_at: Instant,
    pub version: heapless::Vec<u8, VERSION_STR_MAX>,
    pub pings: Vec<(Instant, Duration)>,
}

/// One peer's finalized data (`TimeSlicedPeerData`), owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeerEntry {
    id: NodeId,
    version: heapless::Vec<u8, VERSION_STR_MAX>,
    counters: Counters,
    seconds_connected: u64,
    average_latency_ms: u32,
}

impl PeerEntry {
    fn wire(&self) -> TimeSlicedPeerData<'_> {
        let c = &self.counters;
        TimeSlicedPeerData {
            peer_stats: WirePeerStats {
                id: self.id.0,
                version_str: &self.version,
                messages_read: c.messages_read,
                messages_written: c.messages_written,
                bytes_read: c.bytes_read,
                bytes_written: c.bytes_written,
                seconds_connected: self.seconds_connected,
                unique_flood_bytes_recv: c.recv.unique_flood_bytes_recv,
                duplicate_flood_bytes_recv: c.recv.duplicate_flood_bytes_recv,
                unique_fetch_bytes_recv: c.recv.unique_fetch_bytes_recv,
                duplicate_fetch_bytes_recv: c.recv.duplicate_fetch_bytes_recv,
                unique_flood_message_recv: c.recv.unique_flood_message_recv,
                duplicate_flood_message_recv: c.recv.duplicate_flood_message_recv,
                unique_fetch_message_recv: c.recv.unique_fetch_message_recv,
                duplicate_fetch_message_recv: c.recv.duplicate_fetch_message_recv,
            },
            average_latency_ms: self.average_latency_ms,
        }
    }
}

/// `CollectingNodeData`.
#[derive(Debug, Clone, Default)]
struct CollectingNode {
    added: u32,
    dropped: u32,
    first_to_self: SlidingWindow,
    self_to_other: SlidingWindow,
    initial_lost_sync: u64,
    initially_out_of_sync: bool,
}

/// What finalizing needs from the node.
struct NodeFacts {
    is_validator: bool,
    max_inbound: u32,
    max_outbound: u32,
    lost_sync: u64,
}

/// `SurveyDataManager`.
#[derive(Debug, Clone, Default)]
struct DataManager {
    phase: SurveyPhase,
    collect_start: Option<Instant>,
    collect_end: Option<Instant>,
    nonce: Option<u32>,
    surveyor: Option<NodeId>,
    node: Option<CollectingNode>,
    inbound: BTreeMap<NodeId, Counters>,
    outbound: BTreeMap<NodeId, Counters>,
    final_node: Option<TimeSlicedNodeData>,
    final_inbound: Vec<PeerEntry>,
    final_outbound: Vec<PeerEntry>,
}

impl DataManager {
    fn is_active(&self) -> bool {
        self.phase != SurveyPhase::Inactive
    }

    fn nonce_is_reporting(&self, nonce: u32) -> bool {
        self.phase == SurveyPhase::Reporting && self.nonce == Some(nonce)
    }

    fn reset(&mut self) {
        *self = DataManager::default();
    }

    fn start_collecting(
        &mut self,
        now: Instant,
        nonce: u32,
        surveyor: NodeId,
        peers: &[PeerSnapshot],
        lost_sync: u64,
        out_of_sync: bool,
    ) -> bool {
        if self.phase != SurveyPhase::Inactive {
            return false;
        }
        if !self.inbound.is_empty() || !self.outbound.is_empty() {
            // stellar-core's "inconsistency": reset, refuse.
            self.reset();
            return false;
        }
        self.phase = SurveyPhase::Collecting;
        self.collect_start = Some(now);
        self.nonce = Some(nonce);
        self.surveyor = Some(surveyor);
        self.node = Some(CollectingNode {
            initial_lost_sync: lost_sync,
            initially_out_of_sync: out_of_sync,
            ..CollectingNode::default()
        });
        for p in peers {
            let map = match p.role {
                Role::Acceptor => &mut self.inbound,
                Role::Initiator => &mut self.outbound,
            };
            map.insert(p.node, p.counters);
        }
        true
    }

    fn stop_collecting(
        &mut self,
        now: Instant,
        nonce: u32,
        surveyor: &NodeId,
        peers: &[PeerSnapshot],
        facts: &NodeFacts,
        rng: &mut Rng,
    ) -> bool {
        if self.phase == SurveyPhase::Collecting
            && self.nonce == Some(nonce)
            && self.surveyor.as_ref() == Some(surveyor)
        {
            return self.start_reporting(now, peers, facts, rng);
        }
        false
    }

    /// `startReportingPhase`: finalizes peer and node data.
    fn start_reporting(
        &mut self,
        now: Instant,
        peers: &[PeerSnapshot],
        facts: &NodeFacts,
        rng: &mut Rng,
    ) -> bool {
        if self.phase != SurveyPhase::Collecting
            || !self.final_inbound.is_empty()
            || !self.final_outbound.is_empty()
        {
            self.reset();
            return false;
        }
        let (Some(start), Some(node)) = (self.collect_start, self.node.take()) else {
            self.reset();
            return false;
        };
        self.phase = SurveyPhase::Reporting;
        self.collect_end = Some(now);
        let by_role = |role: Role| -> BTreeMap<NodeId, &PeerSnapshot> {
            peers
                .iter()
                .filter(|p| p.role == role)
                .map(|p| (p.node, p))
                .collect()
        };
        self.final_inbound =
            finalize_peers(now, start, &by_role(Role::Acceptor), &self.inbound, rng);
        self.final_outbound =
            finalize_peers(now, start, &by_role(Role::Initiator), &self.outbound, rng);
        self.inbound.clear();
        self.outbound.clear();
        let out_of_sync = u32::from(node.initially_out_of_sync);
        self.final_node = Some(TimeSlicedNodeData {
            added_authenticated_peers: node.added,
            dropped_authenticated_peers: node.dropped,
            total_inbound_peer_count: self.final_inbound.len() as u32,
            total_outbound_peer_count: self.final_outbound.len() as u32,
            p75_scp_first_to_self_latency_ms: node.first_to_self.p75(),
            p75_scp_self_to_other_latency_ms: node.self_to_other.p75(),
            lost_sync_count: (facts.lost_sync.saturating_sub(node.initial_lost_sync) as u32)
                .wrapping_add(out_of_sync),
            is_validator: facts.is_validator,
            max_inbound_peer_count: facts.max_inbound,
            max_outbound_peer_count: facts.max_outbound,
        });
        true
    }

    /// `updateSurveyPhase`. Returns true if the phase changed.
    fn update_phase(
        &mut self,
        now: Instant,
        config: &SurveyConfig,
        peers: impl FnOnce() -> Vec<PeerSnapshot>,
        facts: impl FnOnce() -> NodeFacts,
        rng: &mut Rng,
    ) -> bool {
        match self.phase {
            SurveyPhase::Collecting => match self.collect_start {
                Some(start) if self.collect_end.is_none() => {
                    if now > start + config.collecting_max {
                        let peers = peers();
                        self.start_reporting(now, &peers, &facts(), rng);
                        return true;
                    }
                    false
                }
                _ => {
                    self.reset();
                    true
                }
            },
            SurveyPhase::Reporting => match (self.collect_start, self.collect_end) {
                (Some(_), Some(end)) => {
                    if now > end + config.reporting_max {
                        self.reset();
                        return true;
                    }
                    false
                }
                _ => {
                    self.reset();
                    true
                }
            },
            SurveyPhase::Inactive => {
                if self.collect_start.is_some() || self.collect_end.is_some() {
                    self.reset();
                }
                false
            }
        }
    }

    /// `fillSurveyData`: the reporting-phase answer to `request`, if it is for this survey.
    fn fill(
        &self,
        surveyor: &NodeId,
        nonce: u32,
        inbound: u32,
        outbound: u32,
    ) -> Option<SurveyResponseBody<'_>> {
        if self.phase != SurveyPhase::Reporting
            || self.nonce != Some(nonce)
            || self.surveyor.as_ref() != Some(surveyor)
        {
            return None;
        }
        let node_data = self.final_node?;
        Some(SurveyResponseBody {
            inbound_peers: page(&self.final_inbound, inbound),
            outbound_peers: page(&self.final_outbound, outbound),
            node_data,
        })
    }
}

/// Final data of the peers authenticated at both ends of collecting, NodeID order.
fn finalize_peers(
    now: Instant,
    start: Instant,
    peers: &BTreeMap<NodeId, &PeerSnapshot>,
    collecting: &BTreeMap<NodeId, Counters>,
    rng: &mut Rng,
) -> Vec<PeerEntry> {
    peers
        .iter()
        .filter_map(|(id, p)| {
            let initial = collecting.get(id)?;
            let mut latency = SlidingWindow::default();
            for &(at, rtt) in p.pings.iter().filter(|(at, _)| *at >= start && *at <= now) {
                latency.update(millis(rtt), at, rng);
            }
            Some(PeerEntry {
                id: *id,
                version: p.version.clone(),
                counters: p.counters.since(initial),
                seconds_connected: (now - p.connected_at).as_secs(),
                average_latency_ms: latency.median(),
            })
        })
        .collect()
}

/// `fillTimeSlicedPeerDataList`: up to 25 entries from `index`; empty past the end.
fn page(list: &[PeerEntry], index: u32) -> PeerDataList<'_> {
    let mut out = PeerDataList::new();
    let start = index as usize;
    if start < list.len() {
        for p in list[start..].iter().take(PEER_DATA_LIST_MAX) {
            // Cannot overflow: at most the list's capacity is taken.
            let _ = out.push(p.wire());
        }
    }
    out
}

// ----- results ---------------------------------------------------------------------------

/// One peer of a surveyed node, as `/getsurveyresult` shows it (JSON names in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerResult {
    /// `nodeId`
    pub node_id: NodeId,
    /// `version` (the peer's `versionStr`)
    pub version: String,
    /// `messagesRead`
    pub messages_read: u64,
    /// `messagesWritten`
    pub messages_written: u64,
    /// `bytesRead`
    pub bytes_read: u64,
    /// `bytesWritten`
    pub bytes_written: u64,
    /// `secondsConnected`
    pub seconds_connected: u64,
    /// `uniqueFloodBytesRecv`
    pub unique_flood_bytes_recv: u64,
    /// `duplicateFloodBytesRecv`
    pub duplicate_flood_bytes_recv: u64,
    /// `uniqueFetchBytesRecv`
    pub unique_fetch_bytes_recv: u64,
    /// `duplicateFetchBytesRecv`
    pub duplicate_fetch_bytes_recv: u64,
    /// `uniqueFloodMessageRecv`
    pub unique_flood_message_recv: u64,
    /// `duplicateFloodMessageRecv`
    pub duplicate_flood_message_recv: u64,
    /// `uniqueFetchMessageRecv`
    pub unique_fetch_message_recv: u64,
    /// `duplicateFetchMessageRecv`
    pub duplicate_fetch_message_recv: u64,
    /// `averageLatencyMs` (the median of the ping samples)
    pub average_latency_ms: u32,
}

impl PeerResult {
    fn from_wire(p: &TimeSlicedPeerData<'_>) -> Self {
        let s = &p.peer_stats;
        PeerResult {
            node_id: NodeId(s.id),
            version: String::from_utf8_lossy(s.version_str).into_owned(),
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
            average_latency_ms: p.average_latency_ms,
        }
    }

    fn write_json(&self, out: &mut String) {
        let _ = write!(
            out,
            "{{\"averageLatencyMs\":{},\"bytesRead\":{},\"bytesWritten\":{},\
             \"duplicateFetchBytesRecv\":{},\"duplicateFetchMessageRecv\":{},\
             \"duplicateFloodBytesRecv\":{},\"duplicateFloodMessageRecv\":{},\
             \"messagesRead\":{},\"messagesWritten\":{},\"nodeId\":\"{}\",\
             \"secondsConnected\":{},\"uniqueFetchBytesRecv\":{},\"uniqueFetchMessageRecv\":{},\
             \"uniqueFloodBytesRecv\":{},\"uniqueFloodMessageRecv\":{},\"version\":",
            self.average_latency_ms,
            self.bytes_read,
            self.bytes_written,
            self.duplicate_fetch_bytes_recv,
            self.duplicate_fetch_message_recv,
            self.duplicate_flood_bytes_recv,
            self.duplicate_flood_message_recv,
            self.messages_read,
            self.messages_written,
            self.node_id,
            self.seconds_connected,
            self.unique_fetch_bytes_recv,
            self.unique_fetch_message_recv,
            self.unique_flood_bytes_recv,
            self.unique_flood_message_recv,
        );
        json_string(out, &self.version);
        out.push('}');
    }
}

/// One surveyed node's answer, as `/getsurveyresult` shows it under `topology`. The
/// `TimeSlicedNodeData` fields map to `addedAuthenticatedPeers`,
/// `droppedAuthenticatedPeers`, `numTotalInboundPeers`, `numTotalOutboundPeers`,
/// `p75SCPFirstToSelfLatencyMs`, `p75SCPSelfToOtherLatencyMs`, `lostSyncCount`,
/// `isValidator`, `maxInboundPeerCount`, `maxOutboundPeerCount`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeResult {
    pub node_data: TimeSlicedNodeData,
    /// `inboundPeers`
    pub inbound_peers: Vec<PeerResult>,
    /// `outboundPeers`
    pub outbound_peers: Vec<PeerResult>,
}

impl NodeResult {
    fn write_json(&self, out: &mut String) {
        let d = &self.node_data;
        let _ = write!(
            out,
            "{{\"addedAuthenticatedPeers\":{},\"droppedAuthenticatedPeers\":{},\"inboundPeers\":",
            d.added_authenticated_peers, d.dropped_authenticated_peers
        );
        json_list(out, &self.inbound_peers, PeerResult::write_json);
        let _ = write!(
            out,
            ",\"isValidator\":{},\"lostSyncCount\":{},\"maxInboundPeerCount\":{},\
             \"maxOutboundPeerCount\":{},\"numTotalInboundPeers\":{},\
             \"numTotalOutboundPeers\":{},\"outboundPeers\":",
            d.is_validator,
            d.lost_sync_count,
            d.max_inbound_peer_count,
            d.max_outbound_peer_count,
            d.total_inbound_peer_count,
            d.total_outbound_peer_count,
        );
        json_list(out, &self.outbound_peers, PeerResult::write_json);
        let _ = write!(
            out,
            ",\"p75SCPFirstToSelfLatencyMs\":{},\"p75SCPSelfToOtherLatencyMs\":{}}}",
            d.p75_scp_first_to_self_latency_ms, d.p75_scp_self_to_other_latency_ms
        );
    }
}

/// `/getsurveyresult`: the surveyor's view of its current (or last) reporting run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyResults {
    /// `backlog`: nodes queued and not yet asked, in sending order.
    pub backlog: Vec<NodeId>,
    /// `badResponseNodes`: nodes whose response did not decrypt or parse.
    pub bad_response_nodes: Vec<NodeId>,
    /// `surveyInProgress`: whether the reporting run is going on.
    pub survey_in_progress: bool,
    /// `topology`: every node asked (`None` = no answer yet, JSON `null`) and the surveyor
    /// itself. A node asked again is reset to `None` until it answers again.
    pub topology: BTreeMap<NodeId, Option<NodeResult>>,
}

impl SurveyResults {
    /// The `/getsurveyresult` JSON (compact, keys sorted as stellar-core's writer sorts
    /// them). Empty lists are `null`, as stellar-core's are when nothing was appended; an
    /// empty `topology` is left out, as stellar-core leaves it out before any run.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        out.push_str("{\"backlog\":");
        json_list(&mut out, &self.backlog, |id, o| json_node(o, id));
        out.push_str(",\"badResponseNodes\":");
        json_list(&mut out, &self.bad_response_nodes, |id, o| json_node(o, id));
        let _ = write!(out, ",\"surveyInProgress\":{}", self.survey_in_progress);
        // stellar-core has no `topology` member until a reporting run adds a node.
        if !self.topology.is_empty() {
            out.push_str(",\"topology\":{");
            for (i, (id, r)) in self.topology.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_node(&mut out, id);
                out.push(':');
                match r {
                    Some(r) => r.write_json(&mut out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
        out.push('}');
        out
    }
}

fn json_node(out: &mut String, id: &NodeId) {
    let _ = write!(out, "\"{id}\"");
}

fn json_list<T>(out: &mut String, items: &[T], mut f: impl FnMut(&T, &mut String)) {
    if items.is_empty() {
        out.push_str("null");
        return;
    }
    out.push('[');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        f(it, out);
    }
    out.push(']');
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ----- the survey run driver -------------------------------------------------------------

/// A whole survey, run by the overlay from start to report (`OverlaySurvey.py survey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyPlan {
    pub nonce: u32,
    /// How long to collect (the script takes 1–30 minutes).
    pub collect_for: Duration,
    /// Wait after STOP_COLLECTING before asking (the script waits 60 s).
    pub stop_wait: Duration,
    /// Time between rounds of looking at results and queueing requests (the script's
    /// 15 s batch duration).
    pub round: Duration,
    /// Rounds without any new data before the survey ends (the script's 8), once every
    /// silent node has had its retries.
    pub max_inactive_rounds: u32,
    /// A node asked but silent for this long is asked again; the wait doubles each time.
    pub response_timeout: Duration,
    /// How many times a silent node is asked again before it is given up on (reported
    /// missing).
    pub max_retries: u32,
    /// Nodes to ask besides our peers and those found in answers (the script's `-nl`).
    pub extra_nodes: Vec<NodeId>,
    /// Nodes asked at most (answers may name any number of node ids).
    pub max_nodes: usize,
}

impl SurveyPlan {
    /// stellar-core's script settings with a `collect_for` collecting phase.
    pub fn new(nonce: u32, collect_for: Duration) -> Self {
        SurveyPlan {
            nonce,
            collect_for,
            stop_wait: Duration::from_secs(60),
            round: SURVEY_THROTTLE_TIMEOUT,
            max_inactive_rounds: 8,
            response_timeout: 2 * SURVEY_THROTTLE_TIMEOUT,
            max_retries: 2,
            extra_nodes: Vec::new(),
            max_nodes: 10_000,
        }
    }
}

/// Where a survey run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyStage {
    /// START_COLLECTING sent; collecting until the plan's time is up.
    Collecting,
    /// STOP_COLLECTING sent; letting it propagate.
    Stopping,
    /// Asking nodes, round after round.
    Reporting,
    /// Over; the report is ready.
    Finished,
}

/// A survey run's progress ([`OverlayEvent::SurveyProgress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyProgress {
    pub nonce: u32,
    pub stage: SurveyStage,
    /// Reporting rounds done.
    pub round: u32,
    /// Nodes known (ourselves excluded).
    pub known: usize,
    /// Nodes that answered (ourselves excluded).
    pub responded: usize,
    /// Nodes asked and not answered yet (or given up on).
    pub waiting: usize,
    /// Requests queued and not sent yet.
    pub backlog: usize,
    /// Consecutive rounds with nothing new.
    pub inactive_rounds: u32,
}

/// A node's merged answers in a [`SurveyReport`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeReport {
    /// The node data of its latest answer.
    pub node_data: TimeSlicedNodeData,
    /// Every inbound peer reported on any page, by node id.
    pub inbound: BTreeMap<NodeId, PeerResult>,
    /// Every outbound peer reported on any page, by node id.
    pub outbound: BTreeMap<NodeId, PeerResult>,
}

impl NodeReport {
    /// Whether every page was collected.
    pub fn is_complete(&self) -> bool {
        self.inbound.len() as u64 >= u64::from(self.node_data.total_inbound_peer_count)
            && self.outbound.len() as u64 >= u64::from(self.node_data.total_outbound_peer_count)
    }
}

/// The outcome of a survey run: the merged topology and who never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyReport {
    pub surveyor: NodeId,
    pub nonce: u32,
    /// Every node that answered (the surveyor included), pages merged.
    pub nodes: BTreeMap<NodeId, NodeReport>,
    /// Nodes known (our peers, peers named in answers, the plan's extra nodes) that never
    /// answered.
    pub missing: BTreeSet<NodeId>,
    /// Nodes whose answer did not decrypt or parse.
    pub bad_response: BTreeSet<NodeId>,
    /// Reporting rounds it took.
    pub rounds: u32,
}

impl SurveyReport {
    /// Directed edges as `OverlaySurvey.py` draws them: (inbound peer → node) and
    /// (node → outbound peer), i.e. (initiator, acceptor) for each connection seen from
    /// either end.
    pub fn edges(&self) -> BTreeSet<(NodeId, NodeId)> {
        let mut e = BTreeSet::new();
        for (id, n) in &self.nodes {
            for p in n.inbound.keys() {
                e.insert((*p, *id));
            }
            for p in n.outbound.keys() {
                e.insert((*id, *p));
            }
        }
        e
    }
}

#[derive(Debug, Clone, Default)]
struct Tracked {
    attempts: u32,
    /// Indices of the outstanding request.
    awaiting: Option<(u32, u32)>,
    /// When the outstanding request was queued.
    queued_at: Option<Instant>,
    /// A further page brought no new peer: the node is not paged any more.
    stalled: bool,
}

#[derive(Debug, Clone)]
struct Driver {
    plan: SurveyPlan,
    stage: SurveyStage,
    deadline: Instant,
    round: u32,
    inactive_rounds: u32,
    known: BTreeSet<NodeId>,
    tracked: BTreeMap<NodeId, Tracked>,
    heard: BTreeSet<NodeId>,
    merged: BTreeMap<NodeId, NodeReport>,
}

// ----- the engine ------------------------------------------------------------------------

/// What the survey needs from the node around it. The overlay implements it; tests fake it.
pub(crate) trait SurveyHost {
    fn local(&self) -> &LocalNode;
    fn ledger(&self) -> u32;
    fn survey_config(&self) -> &SurveyConfig;
    fn limits(&self) -> &ConnectionLimits;
    /// The live authenticated connections.
    fn peers(&self) -> Vec<PeerSnapshot>;
    /// Floods a survey message to every authenticated peer that does not have it.
    fn broadcast(&mut self, now: Instant, message: &[u8]);
    /// `recvFloodedMsg`: `from` has the message.
    fn record_flood(&mut self, message: &[u8], from: ConnId);
    fn drop_peer(&mut self, now: Instant, conn: ConnId, reason: DropReason);
    /// 32 fresh secret bytes.
    fn secret32(&mut self) -> [u8; 32];
    fn emit(&mut self, event: OverlayEvent<'static>);
}

/// Externalize times of one slot (`HerderSCPDriver`'s SCP timing).
#[derive(Debug, Clone)]
struct SlotTiming {
    first: Instant,
    own: Option<Instant>,
    others: Vec<NodeId>,
}

/// The surveyor's reporting run: the key responses are encrypted to.
struct Run {
    secret: BoxSecret,
    public: [u8; 32],
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").finish_non_exhaustive()
    }
}

/// One node's survey state: surveyed side, limiter, surveyor side and the run driver.
#[derive(Debug)]
pub(crate) struct Survey {
    data: DataManager,
    limiter: Limiter,
    quorum: BTreeSet<NodeId>,
    run: Option<Run>,
    backlog: VecDeque<NodeId>,
    queued: BTreeSet<NodeId>,
    indices: BTreeMap<NodeId, (u32, u32)>,
    bad: BTreeSet<NodeId>,
    topology: BTreeMap<NodeId, Option<NodeResult>>,
    next_top_off: Option<Instant>,
    driver: Option<Driver>,
    report: Option<SurveyReport>,
    timings: BTreeMap<u64, SlotTiming>,
    lost_sync: u64,
    out_of_sync: bool,
    seen: BTreeSet<Hash>,
    seen_order: VecDeque<Hash>,
    rng: Rng,
    pub metrics: SurveyMetrics,
}

impl Default for Survey {
    fn default() -> Self {
        Survey::new([0; 32])
    }
}

impl Survey {
    /// `seed` feeds the histograms' reservoir choices (not secret).
    pub fn new(seed: [u8; 32]) -> Self {
        Survey {
            data: DataManager::default(),
            limiter: Limiter::default(),
            quorum: BTreeSet::new(),
            run: None,
            backlog: VecDeque::new(),
            queued: BTreeSet::new(),
            indices: BTreeMap::new(),
            bad: BTreeSet::new(),
            topology: BTreeMap::new(),
            next_top_off: None,
            driver: None,
            report: None,
            timings: BTreeMap::new(),
            lost_sync: 0,
            out_of_sync: false,
            seen: BTreeSet::new(),
            seen_order: VecDeque::new(),
            rng: Rng::from_seed(seed),
            metrics: SurveyMetrics::default(),
        }
    }

    // ----- inspection --------------------------------------------------------------------

    pub fn phase(&self) -> SurveyPhase {
        self.data.phase
    }

    pub fn nonce(&self) -> Option<u32> {
        self.data.nonce
    }

    pub fn surveyor(&self) -> Option<NodeId> {
        self.data.surveyor
    }

    pub fn is_reporting(&self, nonce: u32) -> bool {
        self.data.nonce_is_reporting(nonce)
    }

    pub fn run_in_progress(&self) -> bool {
        self.run.is_some()
    }

    pub fn report(&self) -> Option<&SurveyReport> {
        self.report.as_ref()
    }

    /// The finalized node data (reporting phase only).
    pub fn final_node_data(&self) -> Option<TimeSlicedNodeData> {
        self.data.final_node
    }

    pub fn results(&self) -> SurveyResults {
        SurveyResults {
            backlog: self.backlog.iter().copied().collect(),
            bad_response_nodes: self.bad.iter().copied().collect(),
            survey_in_progress: self.run.is_some(),
            topology: self.topology.clone(),
        }
    }

    pub fn set_quorum(&mut self, nodes: impl IntoIterator<Item = NodeId>) {
        self.quorum = nodes.into_iter().collect();
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_top_off, self.driver.as_ref().map(|d| d.deadline)]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- hooks from the overlay --------------------------------------------------------

    /// A survey message arrived: whether it is new (unique/duplicate counting).
    pub fn note_received(&mut self, key: Hash) -> bool {
        if self.seen.contains(&key) {
            return false;
        }
        self.seen.insert(key);
        self.seen_order.push_back(key);
        while self.seen_order.len() > SEEN_CACHE {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// A connection authenticated (`moveToAuthenticated`).
    pub fn peer_authenticated(&mut self) {
        if self.data.phase == SurveyPhase::Collecting
            && let Some(n) = &mut self.data.node
        {
            n.added = n.added.saturating_add(1);
        }
    }

    /// An authenticated connection to `node` dropped (`recordDroppedPeer`).
    pub fn peer_dropped(&mut self, node: &NodeId) {
        if self.data.phase != SurveyPhase::Collecting {
            return;
        }
        if self.data.inbound.remove(node).is_none() {
            self.data.outbound.remove(node);
        }
        match &mut self.data.node {
            Some(n) => n.dropped = n.dropped.saturating_add(1),
            None => self.data.reset(),
        }
    }

    /// `recordSCPExternalizeEvent` (without `forceUpdateSelf`, which never adds a sample).
    pub fn record_externalize(&mut self, now: Instant, slot: u64, node: NodeId, me: NodeId) {
        let t = self.timings.entry(slot).or_insert(SlotTiming {
            first: now,
            own: None,
            others: Vec::new(),
        });
        let collecting = self.data.phase == SurveyPhase::Collecting;
        let sample = millis(now - t.first);
        if node == me {
            if t.own.is_none() {
                t.own = Some(now);
                if collecting && let Some(n) = &mut self.data.node {
                    n.first_to_self.update(sample, now, &mut self.rng);
                }
            }
        } else {
            if t.others.contains(&node) || t.others.len() >= SLOT_NODES {
                return;
            }
            t.others.push(node);
            if t.own.is_some()
                && collecting
                && let Some(n) = &mut self.data.node
            {
                n.self_to_other.update(sample, now, &mut self.rng);
            }
        }
        while self.timings.len() > SLOT_TIMINGS {
            self.timings.pop_first();
        }
    }

    /// The `scp.sync.lost` meter.
    pub fn record_lost_sync(&mut self) {
        self.lost_sync += 1;
    }

    /// Whether the node is tracking consensus; a survey starting while it is not counts
    /// one lost sync.
    pub fn set_synced(&mut self, synced: bool) {
        self.out_of_sync = !synced;
    }

    /// `clearOldLedgers`.
    pub fn clear_old_ledgers(&mut self, lcl: u32) {
        self.limiter.clear_old_ledgers(lcl);
    }

    fn facts(&self, host: &dyn SurveyHost) -> NodeFacts {
        let limits = host.limits();
        NodeFacts {
            is_validator: host.survey_config().is_validator,
            max_inbound: u32::try_from(limits.max_additional_peer_connections).unwrap_or(u32::MAX),
            max_outbound: u32::try_from(limits.target_peer_connections).unwrap_or(u32::MAX),
            lost_sync: self.lost_sync,
        }
    }

    /// The overlay tick: phase timeouts (`updateSurveyPhase`).
    pub fn tick(&mut self, now: Instant, host: &mut dyn SurveyHost) {
        let facts = self.facts(host);
        let host_ref: &dyn SurveyHost = host;
        self.data.update_phase(
            now,
            host_ref.survey_config(),
            || host_ref.peers(),
            || facts,
            &mut self.rng,
        );
    }

    pub fn handle_timeout(&mut self, now: Instant, host: &mut dyn SurveyHost) {
        if self.next_top_off.is_some_and(|t| t <= now) {
            self.next_top_off = None;
            self.top_off(now, host);
        }
        if self.driver.as_ref().is_some_and(|d| d.deadline <= now) {
            self.drive(now, host);
        }
    }

    // ----- received messages -------------------------------------------------------------

    /// A survey message (StellarMessage XDR) from an authenticated connection.
    pub fn handle_message(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
        from: ConnId,
        message: &[u8],
    ) {
        let Ok(m) = StellarMessage::decode(message) else {
            return;
        };
        match m {
            StellarMessage::SurveyStartCollecting(s) => {
                self.metrics.start_recv += 1;
                self.relay_collecting(now, host, Some(from), message, &s, true);
            }
            StellarMessage::SurveyStopCollecting(s) => {
                self.metrics.stop_recv += 1;
                self.relay_collecting(now, host, Some(from), message, &s, false);
            }
            StellarMessage::SurveyRequest(r) => {
                self.metrics.request_recv += 1;
                self.relay_request(now, host, Some(from), message, &r);
            }
            StellarMessage::SurveyResponse(r) => {
                self.metrics.response_recv += 1;
                self.relay_response(now, host, from, message, &r);
            }
            _ => {}
        }
    }

    fn permitted(&self, host: &dyn SurveyHost, surveyor: &NodeId) -> bool {
        let keys = &host.survey_config().surveyor_keys;
        if keys.is_empty() {
            self.quorum.contains(surveyor)
        } else {
            keys.contains(surveyor)
        }
    }

    /// `dropPeerIfSigInvalid`.
    fn bad_signature(&mut self, now: Instant, host: &mut dyn SurveyHost, from: Option<ConnId>) {
        if let Some(conn) = from {
            host.drop_peer(now, conn, DropReason::SurveyBadSignature);
        }
    }

    fn reject(&mut self, r: Reject) -> bool {
        self.metrics.reject(r);
        false
    }

    /// `relayStartSurveyCollecting` (`start`) and `relayStopSurveyCollecting`: stellar-core's
    /// checks in its order (a start is also refused while a survey is active, before the
    /// signature is checked), the phase change, then the relay.
    fn relay_collecting(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
        from: Option<ConnId>,
        raw: &[u8],
        s: &SignedSurveyCollecting<'_>,
        start: bool,
    ) -> bool {
        let me = host.local().node_id();
        let surveyor = NodeId(*s.body.surveyor_id);
        if surveyor != me && !self.permitted(host, &surveyor) {
            return self.reject(Reject::NotPermitted);
        }
        if !ledger_in_window(s.body.ledger_num, host.ledger()) {
            return self.reject(Reject::LedgerWindow);
        }
        if start && self.data.is_active() {
            return self.reject(Reject::SurveyActive);
        }
        if !verify_signature(&surveyor.0, &s.body_xdr(), s.signature) {
            self.bad_signature(now, host, from);
            return self.reject(Reject::BadSignature);
        }
        let peers = host.peers();
        let changed = if start {
            let (lost, oos) = (self.lost_sync, self.out_of_sync);
            self.data
                .start_collecting(now, s.body.nonce, surveyor, &peers, lost, oos)
        } else {
            let facts = self.facts(host);
            self.data
                .stop_collecting(now, s.body.nonce, &surveyor, &peers, &facts, &mut self.rng)
        };
        if !changed {
            return self.reject(if start {
                Reject::SurveyActive
            } else {
                Reject::NotCollecting
            });
        }
        if let Some(c) = from {
            host.record_flood(raw, c);
            if start {
                self.metrics.start_relayed += 1;
            } else {
                self.metrics.stop_relayed += 1;
            }
        }
        host.broadcast(now, raw);
        true
    }

    /// `relayOrProcessRequest`.
    fn relay_request(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
        from: Option<ConnId>,
        raw: &[u8],
        r: &SignedSurveyRequest<'_>,
    ) -> bool {
        let me = host.local().node_id();
        let q = r.request;
        let surveyor = NodeId(*q.surveyor_peer_id);
        let surveyed = NodeId(*q.surveyed_peer_id);
        if surveyor != me && !self.permitted(host, &surveyor) {
            return self.reject(Reject::NotPermitted);
        }
        let data = &self.data;
        let verdict =
            self.limiter
                .add_request(host.ledger(), &me, q.ledger_num, surveyor, surveyed, || {
                    if !data.nonce_is_reporting(q.nonce) {
                        Err(Reject::NotReporting)
                    } else if !verify_signature(&surveyor.0, &r.body_xdr(), r.signature) {
                        Err(Reject::BadSignature)
                    } else {
                        Ok(())
                    }
                });
        if let Err(e) = verdict {
            if e == Reject::BadSignature {
                self.bad_signature(now, host, from);
            }
            return self.reject(e);
        }
        if let Some(c) = from {
            host.record_flood(raw, c);
        }
        if surveyed == me {
            self.answer(now, host, &q);
        } else {
            host.broadcast(now, raw);
            if from.is_some() {
                self.metrics.request_relayed += 1;
            }
        }
        true
    }

    /// `processTimeSlicedTopologyRequest`: our encrypted, signed answer, flooded.
    fn answer(&mut self, now: Instant, host: &mut dyn SurveyHost, q: &SurveyRequest<'_>) {
        let surveyor = NodeId(*q.surveyor_peer_id);
        let Some(body) = self.data.fill(
            &surveyor,
            q.nonce,
            q.inbound_peers_index,
            q.outbound_peers_index,
        ) else {
            return;
        };
        let sealed = seal(q.encryption_key, &body.to_vec(), host.secret32());
        if sealed.is_empty() || sealed.len() > ENCRYPTED_BODY_MAX {
            return;
        }
        let message =
            response_message(&host.local().key, &surveyor, q.ledger_num, &sealed, q.nonce);
        host.broadcast(now, &message);
        self.metrics.responses_sent += 1;
    }

    /// `relayOrProcessResponse`.
    fn relay_response(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
        from: ConnId,
        raw: &[u8],
        r: &SignedSurveyResponse<'_>,
    ) -> bool {
        let me = host.local().node_id();
        let p = r.response;
        let surveyor = NodeId(*p.surveyor_peer_id);
        let surveyed = NodeId(*p.surveyed_peer_id);
        let data = &self.data;
        let verdict =
            self.limiter
                .record_response(host.ledger(), p.ledger_num, &surveyor, &surveyed, || {
                    if !data.nonce_is_reporting(p.nonce) {
                        Err(Reject::NotReporting)
                    } else if !verify_signature(&surveyed.0, &r.body_xdr(), r.signature) {
                        Err(Reject::BadSignature)
                    } else {
                        Ok(())
                    }
                });
        if let Err(e) = verdict {
            if e == Reject::BadSignature {
                self.bad_signature(now, host, Some(from));
            }
            return self.reject(e);
        }
        host.record_flood(raw, from);
        if surveyor == me {
            // Only while our run goes on, with its key.
            let Some(opened) = self.run.as_ref().map(|run| {
                if p.encrypted_body.len() < SEAL_OVERHEAD {
                    return None;
                }
                run.secret.unseal(p.encrypted_body).ok()
            }) else {
                return true;
            };
            match opened
                .as_deref()
                .and_then(|b| SurveyResponseBody::decode(b).ok())
            {
                Some(b) => {
                    self.store(surveyed, &b);
                    self.metrics.responses_stored += 1;
                }
                None => {
                    self.bad.insert(surveyed);
                }
            }
        } else {
            host.broadcast(now, raw);
            self.metrics.response_relayed += 1;
        }
        true
    }

    /// `processTimeSlicedTopologyResponse`: node data replaced, peers appended.
    fn store(&mut self, surveyed: NodeId, body: &SurveyResponseBody<'_>) {
        let r = self
            .topology
            .entry(surveyed)
            .or_insert(None)
            .get_or_insert_with(NodeResult::default);
        r.node_data = body.node_data;
        r.inbound_peers
            .extend(body.inbound_peers.iter().map(PeerResult::from_wire));
        r.outbound_peers
            .extend(body.outbound_peers.iter().map(PeerResult::from_wire));
    }

    // ----- commands ----------------------------------------------------------------------

    /// `broadcastStartSurveyCollecting`.
    pub fn start_collecting(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
        nonce: u32,
    ) -> Result<(), SurveyError> {
        if self.data.is_active() {
            return Err(SurveyError::SurveyActive);
        }
        let message = start_collecting_message(&host.local().key, nonce, host.ledger());
        if let Ok(StellarMessage::SurveyStartCollecting(s)) = StellarMessage::decode(&message) {
            self.relay_collecting(now, host, None, &message, &s, true);
        }
        Ok(())
    }

    /// `broadcastStopSurveyCollecting` (with the active survey's nonce).
    pub fn stop_collecting(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
    ) -> Result<(), SurveyError> {
        let nonce = self.data.nonce.ok_or(SurveyError::NoSurvey)?;
        let message = stop_collecting_message(&host.local().key, nonce, host.ledger());
        if let Ok(StellarMessage::SurveyStopCollecting(s)) = StellarMessage::decode(&message) {
            self.relay_collecting(now, host, None, &message, &s, false);
        }
        Ok(())
    }

    /// `startSurveyReporting`: clears the previous results, puts our own data first, draws
    /// the run's key and starts sending. Refused outside the reporting phase.
    pub fn start_reporting(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
    ) -> Result<bool, SurveyError> {
        if self.run.is_some() {
            return Ok(false);
        }
        if !self
            .data
            .nonce
            .is_some_and(|n| self.data.nonce_is_reporting(n))
        {
            return Err(SurveyError::NotReporting);
        }
        self.topology.clear();
        if let Some(node_data) = self.data.final_node {
            let conv = |l: &[PeerEntry]| -> Vec<PeerResult> {
                l.iter().map(|p| PeerResult::from_wire(&p.wire())).collect()
            };
            self.topology.insert(
                host.local().node_id(),
                Some(NodeResult {
                    node_data,
                    inbound_peers: conv(&self.data.final_inbound),
                    outbound_peers: conv(&self.data.final_outbound),
                }),
            );
        }
        self.bad.clear();
        self.backlog.clear();
        self.queued.clear();
        let secret = BoxSecret::from_bytes(host.secret32());
        let public = secret.public_key().to_bytes();
        self.run = Some(Run { secret, public });
        self.top_off(now, host);
        Ok(true)
    }

    /// `stopSurveyReporting`: ends the run and wipes its key. Results stay readable.
    pub fn stop_reporting(&mut self) {
        // Dropping the secret zeroizes it.
        self.run = None;
        self.next_top_off = None;
    }

    /// `addNodeToRunningSurveyBacklog`.
    pub fn add_to_backlog(
        &mut self,
        host: &dyn SurveyHost,
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> Result<(), SurveyError> {
        if self.run.is_none() {
            return Err(SurveyError::NotRunning);
        }
        if self.queued.contains(&node) || node == host.local().node_id() {
            return Err(SurveyError::AlreadyQueuedOrSelf);
        }
        self.bad.remove(&node);
        self.topology.insert(node, None);
        self.queued.insert(node);
        self.backlog.push_back(node);
        self.indices.insert(node, (inbound_index, outbound_index));
        Ok(())
    }

    fn finished_reporting(&self) -> bool {
        self.run.is_none()
            || self
                .data
                .nonce
                .is_none_or(|n| !self.data.nonce_is_reporting(n))
    }

    /// `topOffRequests`: up to 10 queued requests, then again after the throttle timeout.
    fn top_off(&mut self, now: Instant, host: &mut dyn SurveyHost) {
        if self.finished_reporting() {
            self.stop_reporting();
            return;
        }
        let mut sent = 0;
        while sent < MAX_REQUEST_LIMIT_PER_LEDGER {
            let Some(node) = self.backlog.pop_front() else {
                break;
            };
            self.queued.remove(&node);
            self.send_request(now, host, node);
            sent += 1;
        }
        self.next_top_off = Some(now + host.survey_config().throttle_timeout);
    }

    /// `sendTopologyRequest`: through our own limiter, then flooded.
    fn send_request(&mut self, now: Instant, host: &mut dyn SurveyHost, node: NodeId) {
        let (Some(run), Some(nonce)) = (&self.run, self.data.nonce) else {
            return;
        };
        let (inbound, outbound) = self.indices.get(&node).copied().unwrap_or((0, 0));
        let message = request_message(
            &host.local().key,
            &node,
            host.ledger(),
            &run.public,
            nonce,
            inbound,
            outbound,
        );
        if let Some(d) = &mut self.driver
            && let Some(t) = d.tracked.get_mut(&node)
        {
            t.queued_at = Some(now);
        }
        if let Ok(StellarMessage::SurveyRequest(r)) = StellarMessage::decode(&message)
            && self.relay_request(now, host, None, &message, &r)
        {
            self.metrics.requests_sent += 1;
        }
    }

    // ----- the driver --------------------------------------------------------------------

    /// Starts a whole survey run (see [`SurveyPlan`]).
    pub fn run(
        &mut self,
        now: Instant,
        host: &mut dyn SurveyHost,
        plan: SurveyPlan,
    ) -> Result<(), SurveyError> {
        if self.driver.is_some() {
            return Err(SurveyError::RunInProgress);
        }
        self.start_collecting(now, host, plan.nonce)?;
        if self.data.nonce != Some(plan.nonce) {
            return Err(SurveyError::SurveyActive);
        }
        self.report = None;
        self.driver = Some(Driver {
            deadline: now + plan.collect_for,
            plan,
            stage: SurveyStage::Collecting,
            round: 0,
            inactive_rounds: 0,
            known: BTreeSet::new(),
            tracked: BTreeMap::new(),
            heard: BTreeSet::new(),
            merged: BTreeMap::new(),
        });
        self.progress(host);
        Ok(())
    }

    /// Abandons the run (the report is built from what arrived).
    pub fn cancel_run(&mut self, host: &mut dyn SurveyHost) {
        if let Some(d) = self.driver.take() {
            self.finish(host, d);
        }
    }

    fn progress(&self, host: &mut dyn SurveyHost) {
        let Some(d) = &self.driver else { return };
        let me = host.local().node_id();
        let responded = d.heard.iter().filter(|n| **n != me).count();
        let waiting = d.tracked.values().filter(|t| t.awaiting.is_some()).count();
        host.emit(OverlayEvent::SurveyProgress(SurveyProgress {
            nonce: d.plan.nonce,
            stage: d.stage,
            round: d.round,
            known: d.known.len(),
            responded,
            waiting,
            backlog: self.backlog.len(),
            inactive_rounds: d.inactive_rounds,
        }));
    }

    fn ask(
        &mut self,
        host: &dyn SurveyHost,
        d: &mut Driver,
        now: Instant,
        node: NodeId,
        idx: (u32, u32),
    ) {
        if self.add_to_backlog(host, node, idx.0, idx.1).is_ok() {
            let t = d.tracked.entry(node).or_default();
            t.attempts += 1;
            t.awaiting = Some(idx);
            t.queued_at = Some(now);
        }
    }

    fn drive(&mut self, now: Instant, host: &mut dyn SurveyHost) {
        let Some(mut d) = self.driver.take() else {
            return;
        };
        match d.stage {
            SurveyStage::Collecting => {
                // Our own STOP moves us to reporting; a collecting phase that timed out
                // already did.
                let _ = self.stop_collecting(now, host);
                d.stage = SurveyStage::Stopping;
                d.deadline = now + d.plan.stop_wait;
            }
            SurveyStage::Stopping => {
                if self.start_reporting(now, host).is_err() || self.run.is_none() {
                    self.finish(host, d);
                    return;
                }
                let me = host.local().node_id();
                let seeds: Vec<NodeId> = host
                    .peers()
                    .iter()
                    .map(|p| p.node)
                    .chain(d.plan.extra_nodes.iter().copied())
                    .filter(|n| *n != me)
                    .collect();
                for n in seeds {
                    if d.known.len() < d.plan.max_nodes && d.known.insert(n) {
                        self.ask(host, &mut d, now, n, (0, 0));
                    }
                }
                d.stage = SurveyStage::Reporting;
                d.deadline = now + d.plan.round;
            }
            SurveyStage::Reporting => {
                d.round += 1;
                let active = self.round(now, &*host, &mut d);
                d.inactive_rounds = if active { 0 } else { d.inactive_rounds + 1 };
                // Quiet for long enough, and every silent node was given its retries.
                let waiting = d.tracked.values().any(|t| t.awaiting.is_some());
                if (d.inactive_rounds >= d.plan.max_inactive_rounds && !waiting)
                    || self.run.is_none()
                {
                    self.finish(host, d);
                    return;
                }
                d.deadline = now + d.plan.round;
            }
            SurveyStage::Finished => {
                self.finish(host, d);
                return;
            }
        }
        self.driver = Some(d);
        self.progress(host);
    }

    /// One reporting round: merge answers, ask newly found nodes, page through incomplete
    /// ones, ask silent ones again. Returns whether anything new arrived.
    fn round(&mut self, now: Instant, host: &dyn SurveyHost, d: &mut Driver) -> bool {
        let me = host.local().node_id();
        let mut active = false;
        for (id, r) in &self.topology {
            let Some(r) = r else { continue };
            let m = d.merged.entry(*id).or_default();
            let before = m.inbound.len() + m.outbound.len();
            m.node_data = r.node_data;
            for p in &r.inbound_peers {
                m.inbound.insert(p.node_id, p.clone());
            }
            for p in &r.outbound_peers {
                m.outbound.insert(p.node_id, p.clone());
            }
            let grew = m.inbound.len() + m.outbound.len() > before;
            if d.heard.insert(*id) || grew {
                active = true;
            }
            if let Some(t) = d.tracked.get_mut(id)
                && let Some((i, o)) = t.awaiting.take()
                && (i, o) != (0, 0)
                && !grew
            {
                // A page past what it listed before: it claims more peers than it shows.
                t.stalled = true;
            }
        }
        // Newly discovered nodes.
        let found: Vec<NodeId> = d
            .merged
            .values()
            .flat_map(|m| m.inbound.keys().chain(m.outbound.keys()))
            .copied()
            .filter(|n| *n != me)
            .collect();
        for n in found {
            if d.known.len() < d.plan.max_nodes && d.known.insert(n) {
                self.ask(host, d, now, n, (0, 0));
            }
        }
        // Pages still missing.
        let incomplete: Vec<(NodeId, (u32, u32))> = d
            .merged
            .iter()
            .filter(|(id, m)| **id != me && !m.is_complete())
            .filter(|(id, _)| {
                d.tracked
                    .get(*id)
                    .is_none_or(|t| t.awaiting.is_none() && !t.stalled)
            })
            .map(|(id, m)| (*id, (m.inbound.len() as u32, m.outbound.len() as u32)))
            .collect();
        for (n, idx) in incomplete {
            if let Some(t) = d.tracked.get_mut(&n) {
                t.attempts = 0;
            }
            self.ask(host, d, now, n, idx);
        }
        // Silent nodes: asked again with a doubling wait, then given up on.
        let silent: Vec<(NodeId, (u32, u32), bool)> = d
            .tracked
            .iter()
            .filter(|(n, _)| !self.queued.contains(*n))
            .filter_map(|(n, t)| {
                let idx = t.awaiting?;
                let since = t.queued_at?;
                let wait = d
                    .plan
                    .response_timeout
                    .saturating_mul(1 << t.attempts.saturating_sub(1).min(16));
                (now - since >= wait).then_some((*n, idx, t.attempts <= d.plan.max_retries))
            })
            .collect();
        for (n, idx, retry) in silent {
            if retry {
                self.ask(host, d, now, n, idx);
            } else if let Some(t) = d.tracked.get_mut(&n) {
                t.awaiting = None;
            }
        }
        active
    }

    fn finish(&mut self, host: &mut dyn SurveyHost, mut d: Driver) {
        d.stage = SurveyStage::Finished;
        // Take in whatever arrived since the last round.
        let now_known = self.topology.clone();
        for (id, r) in now_known {
            let Some(r) = r else { continue };
            let m = d.merged.entry(id).or_default();
            m.node_data = r.node_data;
            for p in r.inbound_peers {
                m.inbound.insert(p.node_id, p);
            }
            for p in r.outbound_peers {
                m.outbound.insert(p.node_id, p);
            }
            d.heard.insert(id);
        }
        self.stop_reporting();
        let me = host.local().node_id();
        let missing: BTreeSet<NodeId> = d
            .known
            .iter()
            .filter(|n| **n != me && !d.heard.contains(*n) && !self.bad.contains(*n))
            .copied()
            .collect();
        let report = SurveyReport {
            surveyor: me,
            nonce: d.plan.nonce,
            nodes: d.merged,
            missing,
            bad_response: self.bad.clone(),
            rounds: d.round,
        };
        let responded = report.nodes.keys().filter(|n| **n != me).count();
        host.emit(OverlayEvent::SurveyFinished {
            nonce: report.nonce,
            responded,
            missing: report.missing.len(),
        });
        self.report = Some(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::NetworkId;

    fn id(b: u8) -> NodeId {
        NodeId([b; 32])
    }

    #[test]
    fn r7_quantiles_match_r_and_empty_is_zero() {
        assert_eq!(quantile_r7(&[], 0.75), 0.0);
        assert_eq!(quantile_r7(&[7.0], 0.5), 7.0);
        // R: quantile(c(1,2,3,4), c(.5,.75), type=7) = 2.5 3.25
        assert_eq!(quantile_r7(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile_r7(&[1.0, 2.0, 3.0, 4.0], 0.75), 3.25);
        // R: quantile(c(10,20,30), .75, type=7) = 25
        assert_eq!(quantile_r7(&[10.0, 20.0, 30.0], 0.75), 25.0);
        assert_eq!(quantile_r7(&[10.0, 20.0, 30.0], 1.0), 30.0);
        assert_eq!(quantile_r7(&[10.0, 20.0, 30.0], 0.0), 10.0);
        // R: quantile(1:10, .75, type=7) = 7.75
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile_r7(&v, 0.75), 7.75);
        assert_eq!(quantile_r7(&v, 0.5), 5.5);
    }

    #[test]
    fn results_before_any_run_have_no_topology_member() {
        assert_eq!(
            Survey::default().results().to_json(),
            "{\"backlog\":null,\"badResponseNodes\":null,\"surveyInProgress\":false}"
        );
    }

    #[test]
    fn clamping_to_u32_truncates_and_saturates() {
        assert_eq!(clamp_to_u32(f64::NAN), u32::MAX);
        assert_eq!(clamp_to_u32(-3.0), 0);
        assert_eq!(clamp_to_u32(3.99), 3);
        assert_eq!(clamp_to_u32(5e12), u32::MAX);
        assert_eq!(clamp_to_u32(f64::INFINITY), u32::MAX);
    }

    #[test]
    fn the_sliding_window_keeps_five_minutes_and_one_value_per_slice() {
        let mut rng = Rng::from_u64(1);
        let mut w = SlidingWindow::default();
        assert_eq!(w.median(), 0);
        assert_eq!(w.p75(), 0);
        // One sample a second for 10 minutes: only the last 5 minutes survive.
        for s in 0..600u64 {
            w.update(s as i64, Instant::from_secs(s), &mut rng);
        }
        assert_eq!(w.len(), 301);
        assert_eq!(w.sorted()[0], 299.0);
        // Many samples in one slice (~292 ms) leave one of them.
        let mut w = SlidingWindow::default();
        for i in 0..100u64 {
            w.update(i as i64, Instant::from_micros(1_000_000 + i), &mut rng);
        }
        assert_eq!(w.len(), 1);
        let v = w.sorted()[0];
        assert!((0.0..100.0).contains(&v));
        // Never more than the window size, even with a slice's worth of spacing.
        let mut w = SlidingWindow::default();
        let slice = SlidingWindow::slice_micros() + 1;
        for i in 0..3000u64 {
            w.update(1, Instant::from_micros(i * slice), &mut rng);
        }
        assert!(w.len() <= HISTOGRAM_WINDOW_SIZE);
    }

    #[test]
    fn the_ledger_window_is_six_either_side() {
        assert!(ledger_in_window(100, 106));
        assert!(!ledger_in_window(99, 106));
        assert!(ledger_in_window(112, 106));
        assert!(!ledger_in_window(113, 106));
        assert!(ledger_in_window(0, 0));
        assert!(ledger_in_window(6, 0));
        assert!(!ledger_in_window(7, 0));
        assert!(ledger_in_window(u32::MAX, u32::MAX));
    }

    #[test]
    fn the_limiter_bounds_surveyors_and_surveyed_and_rejects_duplicates() {
        let me = id(0);
        let mut l = Limiter::default();
        let ok = || Ok(());
        // 10 surveyors for ledger 50, the 11th refused; ourselves always allowed.
        for s in 1..=10 {
            assert_eq!(l.add_request(50, &me, 50, id(s), id(100), ok), Ok(()));
        }
        let mut called = false;
        let r = l.add_request(50, &me, 50, id(11), id(100), || {
            called = true;
            Ok(())
        });
        assert_eq!(r, Err(Reject::TooManySurveyors));
        assert!(!called, "validation runs only when the limits pass");
        assert_eq!(l.add_request(50, &me, 50, me, id(100), ok), Ok(()));
        // 10 surveyed nodes per surveyor and ledger.
        for t in 101..110 {
            assert_eq!(l.add_request(50, &me, 50, id(1), id(t), ok), Ok(()));
        }
        assert_eq!(
            l.add_request(50, &me, 50, id(1), id(110), ok),
            Err(Reject::TooManySurveyed)
        );
        for t in 101..130 {
            assert_eq!(l.add_request(50, &me, 50, me, id(t), ok), Ok(()));
        }
        // Duplicates.
        assert_eq!(
            l.add_request(50, &me, 50, id(2), id(100), ok),
            Err(Reject::Duplicate)
        );
        assert_eq!(
            l.add_request(50, &me, 50, me, id(101), ok),
            Err(Reject::Duplicate)
        );
        // A failed validation records nothing.
        assert_eq!(
            l.add_request(50, &me, 50, id(3), id(140), || Err(Reject::BadSignature)),
            Err(Reject::BadSignature)
        );
        assert_eq!(l.add_request(50, &me, 50, id(3), id(140), ok), Ok(()));
        // Other ledgers are counted apart; outside the window, nothing.
        assert_eq!(l.add_request(50, &me, 51, id(11), id(100), ok), Ok(()));
        assert_eq!(
            l.add_request(50, &me, 57, id(11), id(100), ok),
            Err(Reject::LedgerWindow)
        );
        assert_eq!(
            l.add_request(50, &me, 43, id(11), id(100), ok),
            Err(Reject::LedgerWindow)
        );
    }

    #[test]
    fn responses_need_a_request_and_count_once() {
        let me = id(0);
        let mut l = Limiter::default();
        let ok = || Ok(());
        assert_eq!(
            l.record_response(50, 50, &id(1), &id(2), ok),
            Err(Reject::UnknownRequest)
        );
        l.add_request(50, &me, 50, id(1), id(2), ok).unwrap();
        assert_eq!(
            l.record_response(50, 50, &id(1), &id(3), ok),
            Err(Reject::UnknownRequest)
        );
        assert_eq!(
            l.record_response(50, 50, &id(1), &id(2), || Err(Reject::NotReporting)),
            Err(Reject::NotReporting)
        );
        assert_eq!(l.record_response(50, 50, &id(1), &id(2), ok), Ok(()));
        assert_eq!(
            l.record_response(50, 50, &id(1), &id(2), ok),
            Err(Reject::UnknownRequest)
        );
        // Pruned once ledgerNum + 6 < LCL.
        l.add_request(50, &me, 51, id(1), id(2), ok).unwrap();
        l.clear_old_ledgers(56);
        assert_eq!(l.ledgers(), 2);
        l.clear_old_ledgers(57);
        assert_eq!(l.ledgers(), 1);
        l.clear_old_ledgers(58);
        assert_eq!(l.ledgers(), 0);
    }

    fn entry(b: u8) -> PeerEntry {
        let mut version = heapless::Vec::new();
        let _ = version.extend_from_slice(&[b'a'; VERSION_STR_MAX]);
        PeerEntry {
            id: id(b),
            version,
            counters: Counters {
                messages_read: u64::from(b),
                ..Counters::default()
            },
            seconds_connected: 1,
            average_latency_ms: 2,
        }
    }

    #[test]
    fn pages_hold_25_peers_from_the_index() {
        let list: Vec<PeerEntry> = (0..30).map(entry).collect();
        let p = page(&list, 0);
        assert_eq!(p.len(), 25);
        assert_eq!(p[0].peer_stats.id, [0; 32]);
        let p = page(&list, 25);
        assert_eq!(p.len(), 5);
        assert_eq!(p[0].peer_stats.messages_read, 25);
        assert!(page(&list, 30).is_empty());
        assert!(page(&list, u32::MAX).is_empty());
    }

    #[test]
    fn sealed_boxes_round_trip_and_a_full_body_fits() {
        let secret = [7u8; 32];
        let public = x25519_public(&secret);
        let sealed = seal(&public, b"hello survey", [9; 32]);
        assert_eq!(sealed.len(), 12 + SEAL_OVERHEAD);
        assert_eq!(
            open(&secret, &sealed).as_deref(),
            Some(&b"hello survey"[..])
        );
        // Deterministic for a given ephemeral seed, different for another.
        assert_eq!(sealed, seal(&public, b"hello survey", [9; 32]));
        assert_ne!(sealed, seal(&public, b"hello survey", [10; 32]));
        assert!(open(&[8; 32], &sealed).is_none(), "another key");
        let mut bad = sealed.clone();
        bad[40] ^= 1;
        assert!(open(&secret, &bad).is_none(), "tampered");
        assert!(open(&secret, &sealed[..47]).is_none(), "too short");
        // "topology encrypted response memory check": 25 + 25 peers with 100-byte versions.
        let list: Vec<PeerEntry> = (0..25).map(entry).collect();
        let body = SurveyResponseBody {
            inbound_peers: page(&list, 0),
            outbound_peers: page(&list, 0),
            node_data: TimeSlicedNodeData::default(),
        };
        let xdr = body.to_vec();
        let sealed = seal(&public, &xdr, [1; 32]);
        assert!(sealed.len() <= ENCRYPTED_BODY_MAX, "{}", sealed.len());
        let opened = open(&secret, &sealed).unwrap();
        assert_eq!(SurveyResponseBody::decode(&opened).unwrap(), body);
    }

    #[test]
    fn built_messages_decode_and_verify() {
        let key = NodeKey::from_seed([3; 32]);
        let m = start_collecting_message(&key, 77, 9);
        let Ok(StellarMessage::SurveyStartCollecting(s)) = StellarMessage::decode(&m) else {
            panic!("not a START");
        };
        assert_eq!((s.body.nonce, s.body.ledger_num), (77, 9));
        assert!(verify_signature(
            &key.node_id().0,
            &s.body_xdr(),
            s.signature
        ));
        let m = request_message(&key, &id(4), 9, &[5; 32], 77, 25, 0);
        let Ok(StellarMessage::SurveyRequest(r)) = StellarMessage::decode(&m) else {
            panic!("not a REQUEST");
        };
        assert_eq!(r.request.inbound_peers_index, 25);
        assert!(verify_signature(
            &key.node_id().0,
            &r.body_xdr(),
            r.signature
        ));
        let m = response_message(&key, &id(4), 9, &[1, 2, 3], 77);
        let Ok(StellarMessage::SurveyResponse(r)) = StellarMessage::decode(&m) else {
            panic!("not a RESPONSE");
        };
        assert_eq!(r.response.encrypted_body, &[1, 2, 3]);
        assert!(verify_signature(
            &key.node_id().0,
            &r.body_xdr(),
            r.signature
        ));
    }

    // ----- the engine against a fake node ------------------------------------------------

    struct Fake {
        local: LocalNode,
        ledger: u32,
        config: SurveyConfig,
        limits: ConnectionLimits,
        peers: Vec<PeerSnapshot>,
        broadcasts: Vec<Vec<u8>>,
        floods: Vec<ConnId>,
        drops: Vec<(ConnId, DropReason)>,
        counter: u8,
        events: Vec<OverlayEvent<'static>>,
    }

    impl Fake {
        fn new(seed: u8) -> Self {
            Fake {
                local: LocalNode::new(
                    NodeKey::from_seed([seed; 32]),
                    NetworkId::from_passphrase("survey"),
                    [seed; 32],
                ),
                ledger: 100,
                config: SurveyConfig::default(),
                limits: ConnectionLimits::default(),
                peers: Vec::new(),
                broadcasts: Vec::new(),
                floods: Vec::new(),
                drops: Vec::new(),
                counter: 0,
                events: Vec::new(),
            }
        }
    }

    impl SurveyHost for Fake {
        fn local(&self) -> &LocalNode {
            &self.local
        }
        fn ledger(&self) -> u32 {
            self.ledger
        }
        fn survey_config(&self) -> &SurveyConfig {
            &self.config
        }
        fn limits(&self) -> &ConnectionLimits {
            &self.limits
        }
        fn peers(&self) -> Vec<PeerSnapshot> {
            self.peers.clone()
        }
        fn broadcast(&mut self, _: Instant, message: &[u8]) {
            self.broadcasts.push(message.to_vec());
        }
        fn record_flood(&mut self, _: &[u8], from: ConnId) {
            self.floods.push(from);
        }
        fn drop_peer(&mut self, _: Instant, conn: ConnId, reason: DropReason) {
            self.drops.push((conn, reason));
        }
        fn secret32(&mut self) -> [u8; 32] {
            self.counter += 1;
            [self.counter; 32]
        }
        fn emit(&mut self, event: OverlayEvent<'static>) {
            self.events.push(event);
        }
    }

    fn snapshot(node: NodeId, role: Role, read: u64, pings: &[(u64, u64)]) -> PeerSnapshot {
        PeerSnapshot {
            node,
            role,
            counters: Counters {
                messages_read: read,
                bytes_read: read * 100,
                ..Counters::default()
            },
            connected_at: Instant::ZERO,
            version: heapless::Vec::new(),
            pings: pings
                .iter()
                .map(|(at, ms)| (Instant::from_secs(*at), Duration::from_millis(*ms)))
                .collect(),
        }
    }

    const FROM: ConnId = ConnId(1);

    #[test]
    fn a_surveyed_node_collects_reports_and_answers() {
        let surveyor = NodeKey::from_seed([50; 32]);
        let sid = surveyor.node_id();
        let mut host = Fake::new(1);
        let me = host.local.node_id();
        host.config.surveyor_keys = alloc::vec![sid];
        host.peers = alloc::vec![
            snapshot(id(9), Role::Acceptor, 10, &[]),
            snapshot(id(3), Role::Acceptor, 10, &[]),
            snapshot(id(5), Role::Initiator, 10, &[]),
            snapshot(id(7), Role::Initiator, 10, &[]),
        ];
        let mut s = Survey::default();
        let t0 = Instant::from_secs(60);
        s.handle_message(
            t0,
            &mut host,
            FROM,
            &start_collecting_message(&surveyor, 42, 99),
        );
        assert_eq!(s.phase(), SurveyPhase::Collecting);
        assert_eq!(host.broadcasts.len(), 1, "relayed");
        assert_eq!(host.floods, [FROM]);
        // During collecting: 7 drops, a new peer arrives, SCP latencies.
        s.peer_dropped(&id(7));
        s.peer_authenticated();
        s.record_externalize(t0 + Duration::from_secs(1), 5, id(20), me);
        s.record_externalize(t0 + Duration::from_millis(1300), 5, me, me);
        s.record_externalize(t0 + Duration::from_millis(1500), 5, id(21), me);
        s.record_externalize(t0 + Duration::from_millis(1500), 5, id(21), me);
        s.record_lost_sync();
        // At the end: counters moved, 7 gone, 8 new (not reported).
        let t1 = t0 + Duration::from_secs(100);
        host.peers = alloc::vec![
            snapshot(
                id(9),
                Role::Acceptor,
                25,
                &[(70, 30), (80, 10), (90, 20), (30, 999)]
            ),
            snapshot(id(3), Role::Acceptor, 11, &[]),
            snapshot(id(5), Role::Initiator, 14, &[]),
            snapshot(id(8), Role::Initiator, 3, &[]),
        ];
        let stop = stop_collecting_message(&surveyor, 42, 100);
        s.handle_message(t1, &mut host, FROM, &stop);
        assert_eq!(s.phase(), SurveyPhase::Reporting);
        assert!(s.is_reporting(42));
        let nd = s.final_node_data().unwrap();
        assert_eq!(nd.added_authenticated_peers, 1);
        assert_eq!(nd.dropped_authenticated_peers, 1);
        assert_eq!(
            (nd.total_inbound_peer_count, nd.total_outbound_peer_count),
            (2, 1)
        );
        assert_eq!(nd.p75_scp_first_to_self_latency_ms, 300);
        assert_eq!(
            nd.p75_scp_self_to_other_latency_ms, 500,
            "measured from the first"
        );
        assert_eq!(nd.lost_sync_count, 1);
        assert_eq!(
            (nd.max_inbound_peer_count, nd.max_outbound_peer_count),
            (64, 8)
        );

        // A request for us, encrypted to a key we hold.
        let secret = [33u8; 32];
        let public = x25519_public(&secret);
        let req = request_message(&surveyor, &me, 100, &public, 42, 0, 0);
        s.handle_message(t1, &mut host, FROM, &req);
        let resp = host.broadcasts.last().unwrap().clone();
        let Ok(StellarMessage::SurveyResponse(r)) = StellarMessage::decode(&resp) else {
            panic!("no response broadcast");
        };
        assert!(verify_signature(&me.0, &r.body_xdr(), r.signature));
        assert_eq!(r.response.ledger_num, 100);
        let plain = open(&secret, r.response.encrypted_body).unwrap();
        let body = SurveyResponseBody::decode(&plain).unwrap();
        assert_eq!(body.node_data, nd);
        // NodeID order; deltas; median latency of the pings taken while collecting.
        let inbound: Vec<[u8; 32]> = body.inbound_peers.iter().map(|p| p.peer_stats.id).collect();
        assert_eq!(inbound, [[3; 32], [9; 32]]);
        let p9 = &body.inbound_peers[1];
        assert_eq!(p9.peer_stats.messages_read, 15);
        assert_eq!(p9.peer_stats.bytes_read, 1500);
        assert_eq!(p9.peer_stats.seconds_connected, 160);
        assert_eq!(p9.average_latency_ms, 20);
        assert_eq!(body.outbound_peers.len(), 1);
        assert_eq!(body.outbound_peers[0].peer_stats.id, [5; 32]);

        // The same request again is a duplicate; a request for another node is relayed.
        let n = host.broadcasts.len();
        s.handle_message(t1, &mut host, FROM, &req);
        assert_eq!(host.broadcasts.len(), n);
        s.handle_message(
            t1,
            &mut host,
            FROM,
            &request_message(&surveyor, &id(4), 100, &public, 42, 0, 0),
        );
        assert_eq!(host.broadcasts.len(), n + 1);
        assert_eq!(s.metrics.request_relayed, 1);
        assert_eq!(s.metrics.responses_sent, 1);

        // Reporting ends 3 h after collecting ended (checked on ticks).
        s.tick(t1 + REPORTING_PHASE_MAX_DURATION, &mut host);
        assert_eq!(s.phase(), SurveyPhase::Reporting);
        s.tick(
            t1 + REPORTING_PHASE_MAX_DURATION + Duration::from_secs(1),
            &mut host,
        );
        assert_eq!(s.phase(), SurveyPhase::Inactive);
        assert_eq!(s.nonce(), None);
    }

    #[test]
    fn unpermitted_badly_signed_and_out_of_window_messages_are_not_relayed() {
        let surveyor = NodeKey::from_seed([50; 32]);
        let stranger = NodeKey::from_seed([51; 32]);
        let mut host = Fake::new(1);
        let mut s = Survey::default();
        s.set_quorum([surveyor.node_id()]);
        let t = Instant::from_secs(1);
        s.handle_message(
            t,
            &mut host,
            FROM,
            &start_collecting_message(&stranger, 1, 100),
        );
        assert_eq!(s.metrics.rejected(Reject::NotPermitted), 1);
        s.handle_message(
            t,
            &mut host,
            FROM,
            &start_collecting_message(&surveyor, 1, 93),
        );
        assert_eq!(s.metrics.rejected(Reject::LedgerWindow), 1);
        let mut forged = start_collecting_message(&surveyor, 1, 100);
        let n = forged.len();
        forged[n - 1] ^= 1; // the ledger number: the signature no longer matches
        s.handle_message(t, &mut host, FROM, &forged);
        assert_eq!(s.metrics.rejected(Reject::BadSignature), 1);
        assert_eq!(host.drops, [(FROM, DropReason::SurveyBadSignature)]);
        assert_eq!(s.phase(), SurveyPhase::Inactive);
        assert!(host.broadcasts.is_empty());
        // A request while not reporting: no relay.
        let req = request_message(&surveyor, &id(4), 100, &[1; 32], 1, 0, 0);
        s.handle_message(t, &mut host, FROM, &req);
        assert_eq!(s.metrics.rejected(Reject::NotReporting), 1);
        assert!(host.broadcasts.is_empty());
    }

    #[test]
    fn collecting_times_out_after_30_minutes() {
        let mut host = Fake::new(1);
        let mut s = Survey::default();
        let t0 = Instant::from_secs(10);
        // Out of sync when it starts: one lost sync, plus one lost while collecting.
        s.set_synced(false);
        s.start_collecting(t0, &mut host, 5).unwrap();
        s.record_lost_sync();
        assert_eq!(
            s.start_collecting(t0, &mut host, 6),
            Err(SurveyError::SurveyActive)
        );
        s.tick(t0 + COLLECTING_PHASE_MAX_DURATION, &mut host);
        assert_eq!(s.phase(), SurveyPhase::Collecting);
        s.tick(
            t0 + COLLECTING_PHASE_MAX_DURATION + Duration::from_secs(3),
            &mut host,
        );
        assert!(s.is_reporting(5));
        assert_eq!(s.final_node_data().unwrap().lost_sync_count, 2);
    }

    #[test]
    fn the_surveyor_queues_sends_and_stores_answers() {
        let mut host = Fake::new(1);
        let me = host.local.node_id();
        let mut s = Survey::default();
        let t0 = Instant::from_secs(10);
        assert_eq!(
            s.start_reporting(t0, &mut host),
            Err(SurveyError::NotReporting)
        );
        s.start_collecting(t0, &mut host, 5).unwrap();
        s.stop_collecting(t0, &mut host).unwrap();
        assert!(s.start_reporting(t0, &mut host).unwrap());
        assert!(
            !s.start_reporting(t0, &mut host).unwrap(),
            "already running"
        );
        assert_eq!(
            s.add_to_backlog(&host, me, 0, 0),
            Err(SurveyError::AlreadyQueuedOrSelf)
        );
        for b in 10..25 {
            s.add_to_backlog(&host, id(b), 0, 0).unwrap();
        }
        assert_eq!(
            s.add_to_backlog(&host, id(10), 1, 1),
            Err(SurveyError::AlreadyQueuedOrSelf)
        );
        let r = s.results();
        assert!(r.survey_in_progress);
        assert_eq!(r.backlog.len(), 15);
        assert_eq!(r.topology.len(), 16, "us and 15 pending nodes");
        assert!(r.topology[&me].is_some());
        let before = host.broadcasts.len();
        let due = s.poll_timeout().unwrap();
        assert_eq!(due, t0 + SURVEY_THROTTLE_TIMEOUT);
        s.handle_timeout(due, &mut host);
        assert_eq!(host.broadcasts.len() - before, 10, "10 per throttle period");
        assert_eq!(s.results().backlog.len(), 5);

        // An answer from node 12, sealed to the run's key.
        let surveyed = NodeKey::from_seed([12; 32]);
        let sid = surveyed.node_id();
        s.add_to_backlog(&host, sid, 0, 0).unwrap();
        s.handle_timeout(due + SURVEY_THROTTLE_TIMEOUT, &mut host);
        let key = request_key(&host.broadcasts, &sid).expect("request sent");
        let body = SurveyResponseBody {
            node_data: TimeSlicedNodeData {
                total_inbound_peer_count: 3,
                ..TimeSlicedNodeData::default()
            },
            ..SurveyResponseBody::default()
        };
        let sealed = seal(&key, &body.to_vec(), [4; 32]);
        let resp = response_message(&surveyed, &me, host.ledger, &sealed, 5);
        s.handle_message(due, &mut host, FROM, &resp);
        let r = s.results();
        assert_eq!(
            r.topology[&sid]
                .as_ref()
                .unwrap()
                .node_data
                .total_inbound_peer_count,
            3
        );
        // A second copy is not stored twice, and garbage is a bad response.
        s.handle_message(due, &mut host, FROM, &resp);
        assert_eq!(s.metrics.responses_stored, 1);
        let junk = NodeKey::from_seed([13; 32]);
        s.add_to_backlog(&host, junk.node_id(), 0, 0).unwrap();
        s.handle_timeout(due + 2 * SURVEY_THROTTLE_TIMEOUT, &mut host);
        let resp = response_message(&junk, &me, host.ledger, &[0; 60], 5);
        s.handle_message(due, &mut host, FROM, &resp);
        assert_eq!(s.results().bad_response_nodes, [junk.node_id()]);
        // So is a body that opens with the run's key but does not parse (stellar-core's
        // badResponseNodes takes both).
        let garbled = NodeKey::from_seed([14; 32]);
        s.add_to_backlog(&host, garbled.node_id(), 0, 0).unwrap();
        s.handle_timeout(due + 3 * SURVEY_THROTTLE_TIMEOUT, &mut host);
        let key = request_key(&host.broadcasts, &garbled.node_id()).expect("request sent");
        let mut xdr = body.to_vec();
        xdr.extend_from_slice(&[0; 4]);
        assert!(SurveyResponseBody::decode(&xdr).is_err());
        let resp = response_message(&garbled, &me, host.ledger, &seal(&key, &xdr, [5; 32]), 5);
        s.handle_message(due, &mut host, FROM, &resp);
        let bad = s.results().bad_response_nodes;
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad.contains(&garbled.node_id()), "{bad:?}");
        assert!(s.results().topology[&garbled.node_id()].is_none());
        assert_eq!(s.metrics.responses_stored, 1);
        let json = s.results().to_json();
        assert!(json.starts_with("{\"backlog\":"), "{json}");
        assert!(json.contains("\"numTotalInboundPeers\":3"), "{json}");
        assert!(json.contains("\"badResponseNodes\":[\""), "{json}");

        // A request out to node 15 when the run stops...
        let late = NodeKey::from_seed([15; 32]);
        let lid = late.node_id();
        s.add_to_backlog(&host, lid, 0, 0).unwrap();
        s.handle_timeout(due + 4 * SURVEY_THROTTLE_TIMEOUT, &mut host);
        let key = request_key(&host.broadcasts, &lid).expect("request sent");
        // Stopping wipes the key: later answers are not stored.
        s.stop_reporting();
        assert!(!s.results().survey_in_progress);
        assert_eq!(s.poll_timeout(), None);
        // ...answers properly afterwards: accepted as a survey message (it passes the
        // limiter and counts as flooded), but neither stored nor a bad response.
        let late_body = SurveyResponseBody {
            node_data: TimeSlicedNodeData {
                total_inbound_peer_count: 9,
                ..TimeSlicedNodeData::default()
            },
            ..SurveyResponseBody::default()
        };
        let sealed = seal(&key, &late_body.to_vec(), [6; 32]);
        let resp = response_message(&late, &me, host.ledger, &sealed, 5);
        let floods = host.floods.len();
        s.handle_message(due, &mut host, FROM, &resp);
        assert_eq!(host.floods.len(), floods + 1, "the answer was accepted");
        assert_eq!(s.metrics.responses_stored, 1, "and not stored");
        let r = s.results();
        assert!(r.topology[&lid].is_none(), "{:?}", r.topology[&lid]);
        assert!(!r.bad_response_nodes.contains(&lid));
        assert!(!r.to_json().contains("\"numTotalInboundPeers\":9"));
    }

    /// The encryption key of the last request broadcast to `node`.
    fn request_key(broadcasts: &[Vec<u8>], node: &NodeId) -> Option<[u8; 32]> {
        broadcasts
            .iter()
            .rev()
            .find_map(|m| match StellarMessage::decode(m) {
                Ok(StellarMessage::SurveyRequest(r)) if r.request.surveyed_peer_id == &node.0 => {
                    Some(*r.request.encryption_key)
                }
                _ => None,
            })
    }

    #[test]
    fn the_driver_waits_twice_as_long_before_each_retry() {
        // One peer that never answers; rounds and top-offs every second, so each wait is
        // seen within two seconds of when it ends.
        let mut host = Fake::new(1);
        let silent = id(40);
        host.peers = alloc::vec![snapshot(silent, Role::Initiator, 0, &[])];
        host.config.throttle_timeout = Duration::from_secs(1);
        let timeout = Duration::from_secs(4);
        let slack = Duration::from_secs(2);
        let plan = SurveyPlan {
            stop_wait: Duration::from_secs(1),
            round: Duration::from_secs(1),
            response_timeout: timeout,
            max_retries: 3,
            ..SurveyPlan::new(3, Duration::from_secs(5))
        };
        let mut s = Survey::default();
        s.run(Instant::ZERO, &mut host, plan).unwrap();
        let mut sent_at: Vec<Instant> = Vec::new();
        let mut given_up_at = None;
        let (mut seen, mut events) = (0, 0);
        for sec in 1..600u64 {
            let now = Instant::from_secs(sec);
            // A new ledger each second: a retry is not a duplicate request.
            host.ledger = 100 + sec as u32;
            s.tick(now, &mut host);
            s.handle_timeout(now, &mut host);
            for m in &host.broadcasts[seen..] {
                if let Ok(StellarMessage::SurveyRequest(r)) = StellarMessage::decode(m)
                    && r.request.surveyed_peer_id == &silent.0
                {
                    sent_at.push(now);
                }
            }
            seen = host.broadcasts.len();
            // Nobody waited for any more: the run goes on without it, or (here, every
            // round having been idle) ends at once.
            for e in &host.events[events..] {
                let done = match e {
                    OverlayEvent::SurveyProgress(p) => {
                        p.stage == SurveyStage::Reporting && p.waiting == 0
                    }
                    OverlayEvent::SurveyFinished { .. } => true,
                    _ => false,
                };
                if done && given_up_at.is_none() {
                    given_up_at = Some(now);
                }
            }
            events = host.events.len();
            if s.report().is_some() {
                break;
            }
        }
        let report = s.report().expect("the run ends");
        assert!(report.missing.contains(&silent));
        // The first request and 3 retries, each after twice the previous wait.
        assert_eq!(sent_at.len(), 4, "{sent_at:?}");
        let mut wait = timeout;
        for pair in sent_at.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= wait && gap <= wait + slack,
                "waited {gap:?}, expected {wait:?} (+{slack:?}): {sent_at:?}"
            );
            wait *= 2;
        }
        // Given up on after the fourth wait, 8 × the timeout.
        let last = *sent_at.last().unwrap();
        let gave_up = given_up_at.expect("given up on") - last;
        assert_eq!(wait, 8 * timeout);
        assert!(
            gave_up >= wait && gave_up <= wait + slack,
            "gave up {gave_up:?} after the last request, expected {wait:?}"
        );
    }

    #[test]
    fn the_driver_stops_paging_a_node_that_claims_more_than_it_lists() {
        let mut host = Fake::new(1);
        let me = host.local.node_id();
        let liar = NodeKey::from_seed([12; 32]);
        let lid = liar.node_id();
        host.peers = alloc::vec![snapshot(lid, Role::Initiator, 0, &[])];
        let mut s = Survey::default();
        let plan = SurveyPlan {
            stop_wait: Duration::from_secs(1),
            round: Duration::from_secs(3),
            response_timeout: Duration::from_secs(6),
            ..SurveyPlan::new(9, Duration::from_secs(10))
        };
        s.run(Instant::ZERO, &mut host, plan).unwrap();
        let mut asked = 0;
        let mut seen = 0;
        for sec in 1..600u64 {
            let now = Instant::from_secs(sec);
            host.ledger = 100 + (sec / 5) as u32;
            s.tick(now, &mut host);
            s.handle_timeout(now, &mut host);
            let new: Vec<Vec<u8>> = host.broadcasts[seen..].to_vec();
            seen = host.broadcasts.len();
            for m in new {
                let Ok(StellarMessage::SurveyRequest(r)) = StellarMessage::decode(&m) else {
                    continue;
                };
                if r.request.surveyed_peer_id != &lid.0 {
                    continue;
                }
                asked += 1;
                // Always the same single peer, while claiming 100.
                let list: Vec<PeerEntry> = alloc::vec![entry(7)];
                let body = SurveyResponseBody {
                    inbound_peers: page(&list, 0),
                    outbound_peers: PeerDataList::new(),
                    node_data: TimeSlicedNodeData {
                        total_inbound_peer_count: 100,
                        ..TimeSlicedNodeData::default()
                    },
                };
                let sealed = seal(r.request.encryption_key, &body.to_vec(), [sec as u8; 32]);
                let resp = response_message(&liar, &me, r.request.ledger_num, &sealed, 9);
                s.handle_message(now, &mut host, FROM, &resp);
            }
            if s.report().is_some() {
                break;
            }
        }
        let report = s.report().expect("the run ends");
        assert_eq!(asked, 2, "the first page, one more, then no more");
        assert!(!report.nodes[&lid].is_complete());
        assert!(
            report.missing.contains(&id(7)),
            "a named peer that never answered"
        );
        assert!(matches!(
            host.events.last(),
            Some(OverlayEvent::SurveyFinished { nonce: 9, .. })
        ));
    }
}
