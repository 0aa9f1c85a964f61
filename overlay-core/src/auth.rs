//! Authentication: node identity, AuthCerts, the X25519 + HKDF derivation of per-connection
//! MAC keys, and HMAC-SHA256 message MACs (PROTOCOL.md §2, stellar-core `PeerAuth.cpp`,
//! `Hmac.cpp`).

use core::fmt;
use core::str::FromStr;

use ed25519_dalek::SigningKey;
#[cfg(not(fuzzing))]
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};

use crate::wire::{AuthCertView, SIGNATURE_MAX};

type HmacSha256 = Hmac<Sha256>;

/// `ENVELOPE_TYPE_AUTH`, part of what an AuthCert signs.
const ENVELOPE_TYPE_AUTH: i32 = 3;
/// A cert is issued for an hour (`PeerAuth::getAuthCert`).
pub const CERT_LIFETIME_SECS: u64 = 3600;
/// A cert with less than half its life left is re-signed.
pub const CERT_REFRESH_SECS: u64 = CERT_LIFETIME_SECS / 2;

/// SHA-256 of the network passphrase.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkId(pub [u8; 32]);

impl NetworkId {
    pub fn from_passphrase(passphrase: &str) -> Self {
        NetworkId(Sha256::digest(passphrase.as_bytes()).into())
    }
}

impl fmt::Debug for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkId({})", Hex(&self.0[..4]))
    }
}

/// Lower-case hex of a byte slice.
#[derive(Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A node's public identity: its Ed25519 public key. Displays as a `G…` strkey.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; 32]);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&stellar_strkey::ed25519::PublicKey(self.0), f)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = stellar_strkey::ed25519::PublicKey(self.0).to_string();
        f.write_str(&s[..s.len().min(8)])
    }
}

/// A strkey that did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadStrkey;

impl fmt::Display for BadStrkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a valid Stellar strkey of the expected kind")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BadStrkey {}

impl FromStr for NodeId {
    type Err = BadStrkey;
    fn from_str(s: &str) -> Result<Self, BadStrkey> {
        stellar_strkey::ed25519::PublicKey::from_string(s)
            .map(|k| NodeId(k.0))
            .map_err(|_| BadStrkey)
    }
}

/// A node's secret identity (`NODE_SEED`).
#[derive(Clone)]
pub struct NodeKey {
    signing: SigningKey,
    id: NodeId,
}

impl NodeKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let id = NodeId(signing.verifying_key().to_bytes());
        NodeKey { signing, id }
    }

    /// Parses an `S…` secret seed strkey.
    pub fn from_strkey(s: &str) -> Result<Self, BadStrkey> {
        stellar_strkey::ed25519::PrivateKey::from_string(s)
            .map(|k| NodeKey::from_seed(k.0))
            .map_err(|_| BadStrkey)
    }

    pub fn node_id(&self) -> NodeId {
        self.id
    }

    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The `S…` strkey of the seed.
    pub fn seed_strkey(&self) -> heapless::String<56> {
        let s = stellar_strkey::ed25519::PrivateKey(self.seed())
            .as_unredacted()
            .to_string();
        let mut out = heapless::String::new();
        // A seed strkey is always 56 characters.
        let _ = out.push_str(&s);
        out
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        #[cfg(fuzzing)]
        {
            fuzzing::signature(&self.id.0, msg)
        }
        #[cfg(not(fuzzing))]
        {
            self.signing.sign(msg).to_bytes()
        }
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({:?})", self.id)
    }
}

/// Ed25519 verification with `verify_strict` semantics (stellar-core from protocol 25);
/// signatures that are not exactly 64 bytes fail.
pub fn verify_signature(signer: &[u8; 32], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    #[cfg(fuzzing)]
    {
        sig == fuzzing::signature(signer, msg)
    }
    #[cfg(not(fuzzing))]
    {
        let Ok(key) = VerifyingKey::from_bytes(signer) else {
            return false;
        };
        key.verify_strict(msg, &Signature::from_bytes(&sig)).is_ok()
    }
}

/// The fuzz-only crypto shortcut, compiled only under `--cfg fuzzing` (which `cargo fuzz`
/// sets; no other build does). Ed25519 and X25519 cost about 100 µs per handshake, which
/// would hold the fuzz targets that complete handshakes to a few thousand runs a second.
/// Under the shortcut:
/// - a "signature" is SHA-512 of a domain tag, the signer's public key and the message, so
///   [`NodeKey::sign`] and [`verify_signature`] still agree with each other and every
///   other signature (wrong key, wrong message, tampered bytes) is still refused;
/// - the X25519 shared secret is SHA-256 of a domain tag and both public keys in a fixed
///   order, so both ends of a connection still derive the same MAC keys (an all-zero
///   remote key is refused as a low-order point);
/// - everything after them (HKDF, HMAC-SHA256, sequence numbers) is the real code.
///
/// The harness (overlay-core/fuzz) derives its MAC keys through the same functions, so
/// the frames it writes carry MACs that verify.
#[cfg(fuzzing)]
mod fuzzing {
    use sha2::{Digest, Sha256, Sha512};

    pub fn signature(signer: &[u8; 32], msg: &[u8]) -> [u8; 64] {
        Sha512::new()
            .chain_update(b"overlay-core fuzzing signature")
            .chain_update(signer)
            .chain_update(msg)
            .finalize()
            .into()
    }

    pub fn shared_secret(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
        if *a == [0; 32] || *b == [0; 32] {
            return None;
        }
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Some(
            Sha256::new()
                .chain_update(b"overlay-core fuzzing x25519")
                .chain_update(lo)
                .chain_update(hi)
                .finalize()
                .into(),
        )
    }
}

/// An AuthCert we issued: our X25519 public key, signed by the node key until `expiration`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthCert {
    pub pubkey: [u8; 32],
    pub expiration: u64,
    pub sig: [u8; 64],
}

impl fmt::Debug for AuthCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthCert(expires {})", self.expiration)
    }
}

/// Why a remote AuthCert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertError {
    Expired { expiration: u64, now: u64 },
    BadSignature,
}

impl AuthCert {
    /// SHA-256 of `networkID ‖ ENVELOPE_TYPE_AUTH ‖ expiration ‖ pubkey`: what the node key
    /// signs (the digest, not the 76-byte buffer).
    pub fn signing_digest(network: &NetworkId, expiration: u64, pubkey: &[u8; 32]) -> [u8; 32] {
        Sha256::new()
            .chain_update(network.0)
            .chain_update(ENVELOPE_TYPE_AUTH.to_be_bytes())
            .chain_update(expiration.to_be_bytes())
            .chain_update(pubkey)
            .finalize()
            .into()
    }

    /// Issues a cert valid for an hour from `unix_now`.
    pub fn issue(key: &NodeKey, network: &NetworkId, pubkey: [u8; 32], unix_now: u64) -> Self {
        let expiration = unix_now + CERT_LIFETIME_SECS;
        let sig = key.sign(&Self::signing_digest(network, expiration, &pubkey));
        AuthCert {
            pubkey,
            expiration,
            sig,
        }
    }

    /// Whether the cert should be re-signed before it is handed out again.
    pub fn needs_refresh(&self, unix_now: u64) -> bool {
        self.expiration < unix_now + CERT_REFRESH_SECS
    }

    pub fn view(&self) -> AuthCertView<'_> {
        AuthCertView {
            pubkey: &self.pubkey,
            expiration: self.expiration,
            sig: &self.sig,
        }
    }

    /// Checks a remote cert as stellar-core does: not expired (an expiration equal to now
    /// is still valid; far-future ones are accepted), signed by `signer` over the digest.
    pub fn verify(
        cert: &AuthCertView<'_>,
        network: &NetworkId,
        signer: &[u8; 32],
        unix_now: u64,
    ) -> Result<(), CertError> {
        if cert.expiration < unix_now {
            return Err(CertError::Expired {
                expiration: cert.expiration,
                now: unix_now,
            });
        }
        if cert.sig.len() != SIGNATURE_MAX {
            return Err(CertError::BadSignature);
        }
        let digest = Self::signing_digest(network, cert.expiration, cert.pubkey);
        if verify_signature(signer, &digest, cert.sig) {
            Ok(())
        } else {
            Err(CertError::BadSignature)
        }
    }
}

/// The node's X25519 key for MAC-key agreement: one per process, not rotated with the cert.
#[derive(Clone)]
pub struct EcdhKey {
    // Unread under the fuzz crypto shortcut.
    #[cfg_attr(fuzzing, allow(dead_code))]
    secret: StaticSecret,
    public: [u8; 32],
}

impl EcdhKey {
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let secret = StaticSecret::from(secret);
        let public = X25519Public::from(&secret).to_bytes();
        EcdhKey { secret, public }
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }
}

impl fmt::Debug for EcdhKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcdhKey({})", Hex(&self.public[..4]))
    }
}

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We dialled (`WE_CALLED_REMOTE`, "A").
    Initiator,
    /// They dialled (`REMOTE_CALLED_US`, "B").
    Acceptor,
}

/// A keyed HMAC-SHA256: the key schedule runs once, each message clones the state.
#[derive(Clone)]
pub struct MacKey(HmacSha256);

impl MacKey {
    pub fn new(key: &[u8; 32]) -> Self {
        // HMAC takes keys of any length.
        MacKey(HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!()))
    }

    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut m = self.0.clone();
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Constant-time check of a MAC.
    pub fn verify(&self, data: &[u8], tag: &[u8; 32]) -> bool {
        let mut m = self.0.clone();
        m.update(data);
        m.verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(..)")
    }
}

/// The two MAC keys of a connection.
#[derive(Clone, Debug)]
pub struct MacKeys {
    pub send: MacKey,
    pub recv: MacKey,
    /// Raw key bytes, kept for test vectors and diagnostics (fingerprints).
    pub send_raw: [u8; 32],
    pub recv_raw: [u8; 32],
}

/// The X25519 shared secret was all zeros: the remote sent a low-order point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowOrderKey;

/// `K = HKDF-Extract(zero salt, Q ‖ pubA ‖ pubB)` with the public keys in initiator,
/// acceptor order on both sides.
pub fn shared_key(
    role: Role,
    local: &EcdhKey,
    remote_pub: &[u8; 32],
) -> Result<[u8; 32], LowOrderKey> {
    let mut ikm = [0u8; 96];
    #[cfg(fuzzing)]
    ikm[..32]
        .copy_from_slice(&fuzzing::shared_secret(&local.public, remote_pub).ok_or(LowOrderKey)?);
    #[cfg(not(fuzzing))]
    {
        let q = local
            .secret
            .diffie_hellman(&X25519Public::from(*remote_pub));
        if !q.was_contributory() {
            return Err(LowOrderKey);
        }
        ikm[..32].copy_from_slice(q.as_bytes());
    }
    let (a, b) = match role {
        Role::Initiator => (&local.public, remote_pub),
        Role::Acceptor => (remote_pub, &local.public),
    };
    ikm[32..64].copy_from_slice(a);
    ikm[64..].copy_from_slice(b);
    let (prk, _) = Hkdf::<Sha256>::extract(None, &ikm);
    Ok(prk.into())
}

/// `Expand(K, prefix ‖ senderNonce ‖ receiverNonce)`: one HKDF-Expand block.
fn expand(
    k: &[u8; 32],
    prefix: u8,
    sender_nonce: &[u8; 32],
    receiver_nonce: &[u8; 32],
) -> [u8; 32] {
    let mut info = [0u8; 65];
    info[0] = prefix;
    info[1..33].copy_from_slice(sender_nonce);
    info[33..].copy_from_slice(receiver_nonce);
    let mut okm = [0u8; 32];
    // 32 bytes is one block, always a valid output length; the PRK is a full hash.
    if let Ok(h) = Hkdf::<Sha256>::from_prk(k) {
        let _ = h.expand(&info, &mut okm);
    }
    okm
}

/// Derives both MAC keys of a connection (PROTOCOL.md §2.4): prefix 0 for A→B, 1 for B→A,
/// the sender's nonce first.
pub fn derive_mac_keys(
    role: Role,
    local: &EcdhKey,
    remote_pub: &[u8; 32],
    local_nonce: &[u8; 32],
    remote_nonce: &[u8; 32],
) -> Result<MacKeys, LowOrderKey> {
    let k = shared_key(role, local, remote_pub)?;
    let (send_prefix, recv_prefix) = match role {
        Role::Initiator => (0, 1),
        Role::Acceptor => (1, 0),
    };
    let send_raw = expand(&k, send_prefix, local_nonce, remote_nonce);
    let recv_raw = expand(&k, recv_prefix, remote_nonce, local_nonce);
    Ok(MacKeys {
        send: MacKey::new(&send_raw),
        recv: MacKey::new(&recv_raw),
        send_raw,
        recv_raw,
    })
}

/// What a node presents in HELLO. Shared by all its connections.
#[derive(Clone, Debug)]
pub struct LocalNode {
    pub key: NodeKey,
    pub network_id: NetworkId,
    pub ecdh: EcdhKey,
    /// `LEDGER_PROTOCOL_VERSION` announced in HELLO (not checked by peers).
    pub ledger_version: u32,
    pub overlay_min_version: u32,
    pub overlay_version: u32,
    pub version_str: heapless::String<100>,
    /// Our `PEER_PORT`, announced as `listeningPort`.
    pub listening_port: u16,
}

/// stellar-core v25.2's `LEDGER_PROTOCOL_VERSION`.
pub const DEFAULT_LEDGER_VERSION: u32 = 25;
/// stellar-core v25.2's `OVERLAY_PROTOCOL_MIN_VERSION`.
pub const DEFAULT_OVERLAY_MIN_VERSION: u32 = 38;
/// stellar-core v25.2's `OVERLAY_PROTOCOL_VERSION`.
pub const DEFAULT_OVERLAY_VERSION: u32 = 39;
/// stellar-core's default `PEER_PORT`.
pub const DEFAULT_PEER_PORT: u16 = 11625;

impl LocalNode {
    /// A node with stellar-core v25.2's versions. `ecdh_secret` must be fresh randomness.
    pub fn new(key: NodeKey, network_id: NetworkId, ecdh_secret: [u8; 32]) -> Self {
        let mut version_str = heapless::String::new();
        let _ = version_str.push_str(concat!("stellar-overlay-rs ", env!("CARGO_PKG_VERSION")));
        LocalNode {
            key,
            network_id,
            ecdh: EcdhKey::from_secret(ecdh_secret),
            ledger_version: DEFAULT_LEDGER_VERSION,
            overlay_min_version: DEFAULT_OVERLAY_MIN_VERSION,
            overlay_version: DEFAULT_OVERLAY_VERSION,
            version_str,
            listening_port: DEFAULT_PEER_PORT,
        }
    }

    pub fn node_id(&self) -> NodeId {
        self.key.node_id()
    }

    /// Issues a fresh cert for our X25519 key.
    pub fn issue_cert(&self, unix_now: u64) -> AuthCert {
        AuthCert::issue(&self.key, &self.network_id, self.ecdh.public(), unix_now)
    }
}

/// Keeps the node's current cert, re-signing it when less than half its life is left.
#[derive(Debug, Clone, Default)]
pub struct CertCache {
    cert: Option<AuthCert>,
}

impl CertCache {
    pub fn get(&mut self, local: &LocalNode, unix_now: u64) -> AuthCert {
        match self.cert {
            Some(c) if !c.needs_refresh(unix_now) => c,
            _ => {
                let c = local.issue_cert(unix_now);
                self.cert = Some(c);
                c
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;

    fn hex(b: &[u8]) -> String {
        format!("{}", Hex(b))
    }

    /// PROTOCOL.md §2.5, computed independently with Python `cryptography`.
    #[test]
    fn mac_key_derivation_golden_vector() {
        let a = EcdhKey::from_secret([1; 32]);
        let b = EcdhKey::from_secret([2; 32]);
        assert_eq!(
            hex(&a.public()),
            "a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c9df9dc2b4409f8a209"
        );
        assert_eq!(
            hex(&b.public()),
            "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59"
        );
        let k = shared_key(Role::Initiator, &a, &b.public()).unwrap();
        assert_eq!(
            hex(&k),
            "e87ec4ddb9076e01e9dc2b8fc419d89253eb5db6c5f5115dfc07ef72e8a14fa7"
        );
        assert_eq!(shared_key(Role::Acceptor, &b, &a.public()).unwrap(), k);

        let (na, nb) = ([0xaa; 32], [0xbb; 32]);
        let ka = derive_mac_keys(Role::Initiator, &a, &b.public(), &na, &nb).unwrap();
        let kb = derive_mac_keys(Role::Acceptor, &b, &a.public(), &nb, &na).unwrap();
        let k_ab = "574afef75feec9c087649e6eb78ebd9875991df9c9351983863dc367a866efcf";
        let k_ba = "d8b8816d6e94f51f81a3c3a11ae3ff20a22943e08b4e85ff641a1ce1a9d34a64";
        assert_eq!(hex(&ka.send_raw), k_ab);
        assert_eq!(hex(&ka.recv_raw), k_ba);
        assert_eq!(hex(&kb.send_raw), k_ba);
        assert_eq!(hex(&kb.recv_raw), k_ab);

        // A's AUTH (seq 0, flags 200) and SEND_MORE_EXTENDED (seq 1).
        let auth_input = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0xc8];
        assert_eq!(
            hex(&ka.send.mac(&auth_input)),
            "79bc6bd9e24532977fd30e1804a8cb08d4a5f83aa7a2571183c483e23dd38e54"
        );
        assert!(kb.recv.verify(&auth_input, &ka.send.mac(&auth_input)));
        let sme_input = [
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x14, 0, 0, 0, 0xc8, 0, 0x04, 0x93, 0xe0,
        ];
        assert_eq!(
            hex(&ka.send.mac(&sme_input)),
            "605bd4e467fed1031286390373971011df0a5ca7c6fa5ac1b38a0b8cf94ada91"
        );
    }

    /// stellar-core's own HKDF unit vector (`CryptoTests.cpp`, "HKDF test vector").
    #[test]
    fn hkdf_matches_core_vector() {
        let (prk, _) = Hkdf::<Sha256>::extract(None, &[0x0b; 22]);
        assert!(hex(&prk).starts_with("19ef24a3"));
        assert!(hex(&prk).ends_with("cb04"));
        let okm = Hkdf::<Sha256>::from_prk(&prk).unwrap();
        let mut out = [0u8; 32];
        okm.expand(&[], &mut out).unwrap();
        assert!(hex(&out).starts_with("8da4e775"));
        assert!(hex(&out).ends_with("8d2d"));
    }

    #[test]
    fn auth_cert_golden_vector() {
        let network = NetworkId::from_passphrase("Test SDF Network ; September 2015");
        assert_eq!(
            hex(&network.0),
            "cee0302d59844d32bdca915c8203dd44b33fbb7edc19051ea37abedf28ecd472"
        );
        let key = NodeKey::from_seed([3; 32]);
        assert_eq!(
            hex(&key.node_id().0),
            "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
        );
        let pub_a = EcdhKey::from_secret([1; 32]).public();
        let digest = AuthCert::signing_digest(&network, 1_700_000_000, &pub_a);
        assert_eq!(
            hex(&digest),
            "aa330e54d3f2908cb623f65cb89ff102792a9a7ef67b01f098363c1fa2599462"
        );
        let cert = AuthCert::issue(&key, &network, pub_a, 1_700_000_000 - CERT_LIFETIME_SECS);
        assert_eq!(cert.expiration, 1_700_000_000);
        assert_eq!(
            hex(&cert.sig),
            "2af48ad5d5403db097f4553f563aa425ecb4fd75418abbf45c8448e4c105c57f\
             5131be45d1710d27182f2f0150910a7125827e8ca39dfa485f2ce0755f63d400"
        );
        let id = key.node_id().0;
        assert_eq!(
            AuthCert::verify(&cert.view(), &network, &id, 1_700_000_000),
            Ok(())
        );
        assert_eq!(
            AuthCert::verify(&cert.view(), &network, &id, 1_700_000_001),
            Err(CertError::Expired {
                expiration: 1_700_000_000,
                now: 1_700_000_001
            })
        );
        let other = NetworkId::from_passphrase("Public Global Stellar Network ; September 2015");
        assert_eq!(
            AuthCert::verify(&cert.view(), &other, &id, 0),
            Err(CertError::BadSignature)
        );
        let mut short = cert.view();
        short.sig = &cert.sig[..63];
        assert_eq!(
            AuthCert::verify(&short, &network, &id, 0),
            Err(CertError::BadSignature)
        );
    }

    #[test]
    fn cert_refresh_under_half_life() {
        let local = LocalNode::new(NodeKey::from_seed([7; 32]), NetworkId([0; 32]), [9; 32]);
        let mut cache = CertCache::default();
        let c1 = cache.get(&local, 1000);
        assert_eq!(c1.expiration, 4600);
        assert_eq!(
            cache.get(&local, 1000 + 1800),
            c1,
            "exactly 1800 s left: kept"
        );
        let c2 = cache.get(&local, 1000 + 1801);
        assert_eq!(
            c2.expiration,
            1000 + 1801 + 3600,
            "under 1800 s left: re-signed"
        );
    }

    #[test]
    fn low_order_point_is_refused() {
        let a = EcdhKey::from_secret([1; 32]);
        assert_eq!(shared_key(Role::Initiator, &a, &[0; 32]), Err(LowOrderKey));
    }

    #[test]
    fn strkeys_round_trip() {
        let key = NodeKey::from_seed([3; 32]);
        let g = format!("{}", key.node_id());
        assert!(g.starts_with('G') && g.len() == 56);
        assert_eq!(g.parse::<NodeId>(), Ok(key.node_id()));
        let s = key.seed_strkey();
        assert!(s.starts_with('S'));
        assert_eq!(NodeKey::from_strkey(&s).unwrap().node_id(), key.node_id());
        assert!("GBAD".parse::<NodeId>().is_err());
    }
}
