//! Any bytes through a compiled route script (see `core_routing::fuzzing::route`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = core_routing::fuzzing::route(data);
});
