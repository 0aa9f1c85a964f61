//! SCP envelopes: the decoder, the supersession order and the outbound SCP queue's trimming.
//!
//! Input: a big-endian u16 length, the first envelope, then the second. Each decodes
//! alone (trailing bytes are an error); two decoded envelopes never supersede each other
//! both ways, and pushing them through the SCP queue keeps it bounded.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use overlay_core::Instant;
use overlay_core::flow::{FlowConfig, OutboundQueues, Priority, ScpWindow};
use overlay_core::wire::{MessageType, ScpEnvelope};
use overlay_core_fuzz::checks;

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else { return };
    let split = usize::from(u16::from_be_bytes([*a, *b])).min(rest.len());
    let (first, second) = rest.split_at(split);
    let one = ScpEnvelope::decode(first);
    let two = ScpEnvelope::decode(second);
    if let Ok(e) = &one {
        checks::envelope(e);
    }
    if let Ok(e) = &two {
        checks::envelope(e);
    }
    if let (Ok(x), Ok(y)) = (&one, &two) {
        assert!(
            !(x.is_superseded_by(y) && y.is_superseded_by(x)),
            "two statements supersede each other"
        );
        if x.is_superseded_by(y) {
            assert_eq!((x.slot_index, x.node_id), (y.slot_index, y.node_id));
        }
    }
    // The SCP queue takes any flood bytes; decodable envelopes are trimmed by slot.
    let cfg = FlowConfig {
        max_scp_queue: 3,
        ..FlowConfig::default()
    };
    let window = ScpWindow {
        min_slot: one.as_ref().map_or(0, |e| e.slot_index),
        checkpoint_slot: two.as_ref().map_or(0, |e| e.slot_index),
    };
    let mut q = OutboundQueues::default();
    for (i, env) in [first, second, first, second, second]
        .into_iter()
        .enumerate()
    {
        let mut m = (MessageType::ScpMessage as i32).to_be_bytes().to_vec();
        m.extend_from_slice(env);
        let kept = q.push(
            Priority::Scp,
            Arc::from(m),
            Instant::from_secs(i as u64),
            &cfg,
            window,
        );
        assert!(kept);
        assert!(q.len(Priority::Scp) <= cfg.max_scp_queue);
    }
});
