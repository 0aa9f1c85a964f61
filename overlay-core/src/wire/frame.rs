//! RFC 5531 record marking: a 4-byte big-endian header whose low 31 bits give the body
//! length. Bit 31 (the RPC "last fragment" flag) is set on every frame we send and
//! ignored on receive, as stellar-core does; fragmented records do not exist in this
//! protocol.

use alloc::vec::Vec;

/// Bit 31 of the record mark.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;
/// Body limit before the peer is authenticated (`MAX_UNAUTH_MESSAGE_SIZE`).
pub const MAX_UNAUTH_MESSAGE_SIZE: usize = 0x1000;
/// Body limit after authentication (`MAX_MESSAGE_SIZE`, 16 MiB).
pub const MAX_MESSAGE_SIZE: usize = 0x100_0000;
/// Bytes taken from the host per call beyond the frame being assembled, so a host that
/// always drains events keeps the buffer at one frame plus one read.
const READ_SLACK: usize = 256 * 1024;

/// A frame header announced a length that is zero or over the limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadFrameLength {
    pub len: usize,
    pub limit: usize,
}

/// Writes a record mark for a body of `len` bytes, with the last-fragment bit set.
pub fn record_mark(len: usize) -> [u8; 4] {
    debug_assert!(len < LAST_FRAGMENT as usize);
    (len as u32 | LAST_FRAGMENT).to_be_bytes()
}

/// A streaming record-marking decoder. Input may be split at any byte.
///
/// Frames are handed out as borrowed slices of the internal buffer; a frame stays valid
/// until the next call to [`FrameDecoder::next_frame`], which is what lets a peer parse and
/// dispatch a message without copying it.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes.
    start: usize,
    /// Bytes of the frame last handed out, released on the next call.
    lent: usize,
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            lent: 0,
        }
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start - self.lent
    }

    /// Takes bytes from the transport and returns how many it took. It takes everything
    /// unless the buffer already holds more than `limit` plus a read's worth of bytes, so
    /// memory stays bounded even if the host feeds faster than it drains.
    pub fn push(&mut self, data: &[u8], limit: usize) -> usize {
        let room = (limit + 4 + READ_SLACK).saturating_sub(self.buffered());
        let n = data.len().min(room);
        if self.start > 0 && self.start + self.lent >= self.buf.len() / 2 {
            self.compact();
        }
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    fn compact(&mut self) {
        let from = self.start + self.lent;
        self.buf.copy_within(from.., 0);
        self.buf.truncate(self.buf.len() - from);
        self.start = 0;
        self.lent = 0;
    }

    /// The length announced by the next header, if the header is complete.
    pub fn peek_len(&self) -> Option<usize> {
        let at = self.start + self.lent;
        let hdr: [u8; 4] = self.buf.get(at..at + 4)?.try_into().ok()?;
        Some((u32::from_be_bytes(hdr) & !LAST_FRAGMENT) as usize)
    }

    /// How far the next frame has arrived: (header complete, whole frame complete).
    pub fn progress(&self) -> (bool, bool) {
        match self.peek_len() {
            None => (false, false),
            Some(len) => (true, self.buf.len() >= self.start + self.lent + 4 + len),
        }
    }

    /// Returns the next complete frame body, checking its length against `limit` as soon
    /// as the header is complete (the limit in force at that moment, as stellar-core does).
    pub fn next_frame(&mut self, limit: usize) -> Result<Option<&[u8]>, BadFrameLength> {
        self.start += self.lent;
        self.lent = 0;
        let Some(len) = self.peek_len() else {
            return Ok(None);
        };
        if len == 0 || len > limit {
            return Err(BadFrameLength { len, limit });
        }
        let body = self.start + 4;
        if self.buf.len() < body + len {
            return Ok(None);
        }
        self.lent = 4 + len;
        Ok(Some(&self.buf[body..body + len]))
    }

    /// The frame last returned by [`FrameDecoder::next_frame`], while it is still lent.
    pub fn lent_frame(&self) -> Option<&[u8]> {
        (self.lent >= 4).then(|| &self.buf[self.start + 4..self.start + self.lent])
    }

    /// Drops everything buffered (used once a connection is closing).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.lent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8], last: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let mark = body.len() as u32 | if last { LAST_FRAGMENT } else { 0 };
        v.extend_from_slice(&mark.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn record_mark_sets_bit_31() {
        assert_eq!(record_mark(0x34), [0x80, 0, 0, 0x34]);
    }

    #[test]
    fn split_at_every_byte() {
        let mut stream = frame(b"hello world!", true);
        stream.extend(frame(b"abcd", false));
        for split in 0..=stream.len() {
            let mut d = FrameDecoder::new();
            let mut got: Vec<Vec<u8>> = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                assert_eq!(d.push(part, 100), part.len());
                while let Some(f) = d.next_frame(100).unwrap() {
                    got.push(f.to_vec());
                }
            }
            assert_eq!(
                got,
                [b"hello world!".to_vec(), b"abcd".to_vec()],
                "split {split}"
            );
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let stream: Vec<u8> = (0..50u8).flat_map(|i| frame(&[i; 9], true)).collect();
        let mut d = FrameDecoder::new();
        let mut n = 0;
        for b in &stream {
            d.push(core::slice::from_ref(b), 100);
            while let Some(f) = d.next_frame(100).unwrap() {
                assert_eq!(f, &[n as u8; 9]);
                n += 1;
            }
        }
        assert_eq!(n, 50);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn zero_and_oversize_lengths_are_rejected_at_the_header() {
        let mut d = FrameDecoder::new();
        d.push(&[0, 0, 0, 0], 100);
        assert_eq!(
            d.next_frame(100),
            Err(BadFrameLength { len: 0, limit: 100 })
        );
        let mut d = FrameDecoder::new();
        d.push(&(101u32 | LAST_FRAGMENT).to_be_bytes(), 100);
        assert_eq!(
            d.next_frame(100),
            Err(BadFrameLength {
                len: 101,
                limit: 100
            })
        );
        assert_eq!(d.next_frame(200), Ok(None));
    }

    #[test]
    fn push_is_bounded() {
        let mut d = FrameDecoder::new();
        let big = alloc::vec![0u8; 2 * READ_SLACK];
        let took = d.push(&big, 16);
        assert_eq!(took, 16 + 4 + READ_SLACK);
        assert_eq!(d.push(&big, 16), 0);
    }
}
