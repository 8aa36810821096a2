//! # core-routing
//!
//! The last stage of siprouter's pipeline (… transports → **router**): a sans-IO engine that
//! runs compiled `kamailio.cfg` route blocks on a received message and returns the actions to
//! take (send, reply, drop). It owns no socket; the binary wires it to `transport`.
//!
//! Status: not written yet (tracked as the core-routing issue); the crate is empty on purpose.
