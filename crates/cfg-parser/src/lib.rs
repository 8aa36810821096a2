//! # cfg-parser
//!
//! The second stage of siprouter's pipeline (text → **tokens → AST** → socket records →
//! transports → router): it will turn the tokens of [`cfg_lexer`] into a typed,
//! span-carrying AST of a whole `kamailio.cfg` (global parameters, modules, listen
//! directives, route blocks).
//!
//! Status: the grammar is not written yet (tracked as the cfg-parser issue). Until then this
//! crate only re-exports the lexer, so that tools can already depend on `cfg-parser` alone
//! and get the token stream with exact positions.

pub use cfg_lexer as lexer;
