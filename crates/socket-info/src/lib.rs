//! # socket-info
//!
//! The third stage of siprouter's pipeline (text → tokens → AST → **socket records** →
//! transports → router): it will resolve `listen=`, `socket = { ... }`, `alias=` and `-l`
//! values into the socket records the server binds, exactly as Kamailio does.
//!
//! Status: not written yet (tracked as the socket-info issue); the crate is empty on purpose.
