//! # transport
//!
//! The fourth stage of siprouter's pipeline (… socket records → **transports** → router): it
//! will own every socket (UDP, TCP, TLS, QUIC), hand received messages to the router and send
//! what the router asks for.
//!
//! Status: not written yet (tracked as the transport issue); the crate is empty on purpose.
