//! The survey decoders: `SurveyResponseBody` (what a surveyed node encrypts) and the four
//! time-sliced survey messages.
//!
//! Input: a selector byte, then the bytes. Selector 0 mod 5 decodes a
//! `SurveyResponseBody`; the others decode a `StellarMessage` of type
//! TIME_SLICED_SURVEY_REQUEST, _RESPONSE, _START_COLLECTING or _STOP_COLLECTING whose body is
//! the rest of the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use overlay_core::wire::MessageType;
use overlay_core_fuzz::checks;

const TYPES: [MessageType; 4] = [
    MessageType::TimeSlicedSurveyRequest,
    MessageType::TimeSlicedSurveyResponse,
    MessageType::TimeSlicedSurveyStartCollecting,
    MessageType::TimeSlicedSurveyStopCollecting,
];

fuzz_target!(|data: &[u8]| {
    let [sel, body @ ..] = data else { return };
    match usize::from(*sel) % 5 {
        0 => {
            let _ = checks::survey_body(body);
        }
        n => {
            let mut m = (TYPES[n - 1] as i32).to_be_bytes().to_vec();
            m.extend_from_slice(body);
            let _ = checks::message(&m);
        }
    }
});
