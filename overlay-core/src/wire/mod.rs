//! The wire format: record marking, the `AuthenticatedMessage` envelope and zero-copy views
//! of every `StellarMessage` arm the overlay interprets.
//!
//! Decoding borrows from the input and never allocates; every length is checked against its
//! XDR bound and the bytes left before anything is sliced. Payloads the overlay only relays
//! or hashes (TRANSACTION, SCP_MESSAGE, TX_SET, GENERALIZED_TX_SET, SCP_QUORUMSET) stay opaque
//! byte slices, with cheap peeks where the overlay needs a field.
//!
//! Each decoder is cross-checked byte for byte against `stellar-xdr` in this crate's tests.

pub mod frame;
mod messages;
mod scp;
mod survey;
pub mod xdr;

use core::fmt;

pub use frame::{
    BadFrameLength, FrameDecoder, MAX_MESSAGE_SIZE, MAX_UNAUTH_MESSAGE_SIZE, record_mark,
};
pub use messages::*;
pub use scp::*;
pub use survey::*;

/// A SHA-256 (or other 32-byte) hash as it appears on the wire.
pub type Hash = [u8; 32];

/// Why bytes did not decode. Every malformed input maps to one of these; decoding never
/// panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the value needs.
    Truncated,
    /// Bytes left over after a complete value.
    TrailingBytes,
    /// Padding after opaque data that is not zero.
    NonZeroPadding,
    /// A variable-length value longer than its XDR bound.
    LengthExceedsMax { len: u32, max: u32 },
    /// A union or enum discriminant with no arm.
    UnknownDiscriminant { what: &'static str, value: i32 },
    /// An opaque XDR value whose length is not a multiple of 4.
    Misaligned,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated XDR"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes after XDR value"),
            DecodeError::NonZeroPadding => f.write_str("non-zero XDR padding"),
            DecodeError::LengthExceedsMax { len, max } => {
                write!(f, "length {len} exceeds XDR bound {max}")
            }
            DecodeError::UnknownDiscriminant { what, value } => {
                write!(f, "unknown {what} discriminant {value}")
            }
            DecodeError::Misaligned => f.write_str("XDR value not a multiple of 4 bytes"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
