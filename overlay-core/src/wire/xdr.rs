//! Minimal XDR (RFC 4506) reading and writing over borrowed bytes.
//!
//! Every read checks the bytes left before it slices, and every variable-length read checks
//! the declared length against its XDR bound first, so a hostile length never allocates or
//! panics.

use alloc::vec::Vec;

use super::DecodeError;

/// Bytes of zero padding that follow `len` bytes of opaque data.
pub const fn pad_len(len: usize) -> usize {
    (4 - (len % 4)) % 4
}

/// `len` rounded up to the XDR 4-byte boundary.
pub const fn padded(len: usize) -> usize {
    len + pad_len(len)
}

/// A cursor over XDR bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Fails unless every byte has been read (XDR values are exact).
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        let s = self.bytes(N)?;
        s.try_into().map_err(|_| DecodeError::Truncated)
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(*self.array::<4>()?))
    }

    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(*self.array::<4>()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(*self.array::<8>()?))
    }

    /// XDR `bool`, read as `stellar-xdr` reads it: 1 is true, any other value false.
    ///
    /// Neither reference decoder rejects a word other than 0 or 1: stellar-xdr 30
    /// (`impl ReadXdr for bool`) reads `i == 1`, and xdrpp, stellar-core's, reads `u != 0`
    /// (`xdr_traits<bool>::from_uint`, "could throw for u > 1, but would be slower") and
    /// validates the converted value, which is always 0 or 1. Rejecting here would refuse
    /// answers both accept; `tests/xdr_crosscheck.rs` (`bool_agrees_with_stellar_xdr` and
    /// the `SurveyResponseBody` mutations) holds us to stellar-xdr.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u32()? == 1)
    }

    /// Skips and checks the zero padding after `len` bytes of opaque data.
    fn padding(&mut self, len: usize) -> Result<(), DecodeError> {
        let pad = self.bytes(pad_len(len))?;
        if pad.iter().any(|b| *b != 0) {
            return Err(DecodeError::NonZeroPadding);
        }
        Ok(())
    }

    /// `opaque<max>` / `string<max>`: u32 length, bytes, zero padding.
    pub fn var_opaque(&mut self, max: u32) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()?;
        if len > max {
            return Err(DecodeError::LengthExceedsMax { len, max });
        }
        let len = len as usize;
        if padded(len) > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let data = self.bytes(len)?;
        self.padding(len)?;
        Ok(data)
    }

    /// The u32 count of a `T<max>` array, checked against the bound and against the bytes
    /// left given the smallest encoding of one element.
    pub fn count(&mut self, max: u32, min_elem_size: usize) -> Result<usize, DecodeError> {
        let n = self.u32()?;
        if n > max {
            return Err(DecodeError::LengthExceedsMax { len: n, max });
        }
        let n = n as usize;
        if n.saturating_mul(min_elem_size) > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    /// A Stellar `PublicKey`/`NodeID`: the ED25519 discriminant then 32 bytes.
    pub fn node_id(&mut self) -> Result<&'a [u8; 32], DecodeError> {
        let ty = self.i32()?;
        if ty != 0 {
            return Err(DecodeError::UnknownDiscriminant {
                what: "PublicKeyType",
                value: ty,
            });
        }
        self.array::<32>()
    }
}

/// Appends XDR to a byte vector.
pub trait XdrWrite {
    fn put_u32(&mut self, v: u32);
    fn put_i32(&mut self, v: i32);
    fn put_u64(&mut self, v: u64);
    fn put_bool(&mut self, v: bool);
    fn put_fixed(&mut self, v: &[u8]);
    fn put_var_opaque(&mut self, v: &[u8]);
    fn put_node_id(&mut self, id: &[u8; 32]);
}

impl XdrWrite for Vec<u8> {
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_bool(&mut self, v: bool) {
        self.put_u32(u32::from(v));
    }
    fn put_fixed(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
    fn put_var_opaque(&mut self, v: &[u8]) {
        // Lengths of encoded values are bounded by their XDR limits, far below u32::MAX.
        self.put_u32(v.len() as u32);
        self.extend_from_slice(v);
        self.extend_from_slice(&[0u8; 3][..pad_len(v.len())]);
    }
    fn put_node_id(&mut self, id: &[u8; 32]) {
        self.put_u32(0);
        self.extend_from_slice(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bool_of(word: u32) -> Result<bool, DecodeError> {
        let bytes = word.to_be_bytes();
        let mut r = Reader::new(&bytes);
        let b = r.bool()?;
        assert_eq!(r.remaining(), 0, "a bool is one word");
        Ok(b)
    }

    #[test]
    fn bools_are_read_as_stellar_xdr_reads_them() {
        assert_eq!(bool_of(0), Ok(false));
        assert_eq!(bool_of(1), Ok(true));
        // Non-canonical words: false, as in stellar-xdr; not an error.
        for w in [2, 3, 0x100, 0x0100_0000, 0x8000_0001, u32::MAX] {
            assert_eq!(bool_of(w), Ok(false), "{w:#x}");
        }
        // Fewer than 4 bytes is truncated, and nothing is consumed.
        let mut r = Reader::new(&[0, 0, 1]);
        assert_eq!(r.bool(), Err(DecodeError::Truncated));
        assert_eq!(r.position(), 0);
        // Written canonically.
        let mut v = Vec::new();
        v.put_bool(true);
        v.put_bool(false);
        assert_eq!(v, [0, 0, 0, 1, 0, 0, 0, 0]);
    }
}
