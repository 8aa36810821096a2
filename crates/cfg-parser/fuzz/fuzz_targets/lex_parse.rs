//! Lexer + parser + printer on arbitrary input (see `cfg_parser::fuzzing::lex_parse_print`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cfg_parser::fuzzing::lex_parse_print(data);
});
