//! # cfg-parser
//!
//! The second stage of siprouter's pipeline (text → tokens → **AST** → socket records →
//! transports → router): it turns the tokens of [`cfg_lexer`] into the typed, span-carrying
//! AST of a whole `kamailio.cfg` ([`ast::Config`]): global parameters, modules, the listen
//! family, route blocks with their statements and expressions.
//!
//! Status: the AST is defined; the grammar that fills it is being written (the cfg-parser
//! issue). The lexer is re-exported so that tools can depend on `cfg-parser` alone.

pub use cfg_lexer as lexer;

pub mod ast;
