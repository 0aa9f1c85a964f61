//! Every `StellarMessage` decoder (HELLO, AUTH, ERROR_MSG, PEERS, SEND_MORE(_EXTENDED),
//! DONT_HAVE, GET_*, FLOOD_ADVERT/DEMAND, SCP envelopes, the survey messages and the opaque
//! arms): decoding never panics, and a message that decodes re-encodes to the same bytes
//! with every view consistent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use overlay_core_fuzz::checks;

fuzz_target!(|data: &[u8]| {
    let _ = checks::message(data);
});
