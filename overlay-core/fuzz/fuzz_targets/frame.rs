//! The record-marking decoder and the `AuthenticatedMessage` envelope.
//!
//! Input: a limit selector byte, a chunking seed byte, then a byte stream. The stream is
//! pushed into a `FrameDecoder` in pseudo-random chunks and drained after each push; the
//! frames (and the first framing error) must be exactly what a one-pass reference parser
//! finds in the whole stream, the buffer stays bounded, and every frame body goes through
//! `AuthenticatedMessage::parse` and the message decoders.

#![no_main]

use libfuzzer_sys::fuzz_target;
use overlay_core::wire::{BadFrameLength, FrameDecoder, MAX_MESSAGE_SIZE, MAX_UNAUTH_MESSAGE_SIZE};
use overlay_core_fuzz::{SplitMix, checks};

const LIMITS: [usize; 4] = [1, 64, MAX_UNAUTH_MESSAGE_SIZE, MAX_MESSAGE_SIZE];
/// `FrameDecoder`'s read slack beyond one frame.
const SLACK: usize = 256 * 1024;

/// The frames of `stream` in one pass, and the framing error that stops it, if any.
fn reference(stream: &[u8], limit: usize) -> (Vec<&[u8]>, Option<BadFrameLength>) {
    let mut frames = Vec::new();
    let mut rest = stream;
    while rest.len() >= 4 {
        let len = (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0x7fff_ffff) as usize;
        if len == 0 || len > limit {
            return (frames, Some(BadFrameLength { len, limit }));
        }
        if rest.len() < 4 + len {
            break;
        }
        frames.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let [sel, seed, stream @ ..] = data else {
        return;
    };
    let limit = LIMITS[usize::from(*sel) % LIMITS.len()];
    let (want, want_err) = reference(stream, limit);

    let mut rng = SplitMix(u64::from(*seed));
    let mut d = FrameDecoder::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut err = None;
    let mut rest = stream;
    'feed: while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(if seed & 1 == 0 { 8 } else { 4096 }));
        let mut chunk = &rest[..n];
        rest = &rest[n..];
        while !chunk.is_empty() {
            let took = d.push(chunk, limit);
            assert!(took <= chunk.len());
            chunk = &chunk[took..];
            assert!(d.buffered() <= limit + 4 + SLACK, "buffer unbounded");
            loop {
                match d.next_frame(limit) {
                    Ok(Some(f)) => {
                        assert!(!f.is_empty() && f.len() <= limit);
                        let f = f.to_vec();
                        assert_eq!(d.lent_frame(), Some(&f[..]));
                        got.push(f);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(e);
                        break 'feed;
                    }
                }
            }
            // Drained: whatever is left is less than one frame, so the next push takes all.
            if !chunk.is_empty() {
                assert!(took > 0, "push took nothing from a drained decoder");
            }
        }
    }
    assert_eq!(err, want_err, "framing error");
    assert_eq!(got.len(), want.len(), "frame count");
    for (g, w) in got.iter().zip(&want) {
        assert!(g == w, "frame bytes");
        checks::authenticated(g);
    }
    d.clear();
    assert_eq!(d.buffered(), 0);
    assert_eq!(d.next_frame(limit), Ok(None));
});
