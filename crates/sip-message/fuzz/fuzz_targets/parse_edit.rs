//! Parse + frame + edit + re-parse (see `sip_message::fuzzing::roundtrip`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sip_message::fuzzing::roundtrip(data);
});
