//! The relay path's heap allocations, counted (one test in this binary, so that no other
//! test allocates while it counts). A relayed request needs four: the message's header
//! index, the editor's lumps and text, and the output; a relayed reply needs three (its
//! edit has no text). A copy, a `format!` or a `to_string` on the path fails this test.
//! The TCP relay's route (`$du` set from a constant, then `forward()`) needs one more:
//! `$du`'s own string. `forward()` reads `$du` in place: a copy of it, or its host written
//! out as text to be parsed back, fails this test too. Relayed as siprouter's UDP threads
//! relay (`Router::handle_reusing` with a kept `Scratch`, each sent buffer given back),
//! a request and a reply need none once the first messages have sized the buffers.

use std::alloc::System;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[path = "common/relay.rs"]
mod fixture;
use core_routing::{Incoming, Output, Scratch, Transport};
use fixture::{relay, relay_reusing, router, router_for, CFG_DU, INVITE, OK};

#[test]
fn the_relay_path_allocates_only_the_index_the_edit_and_the_output() {
    let (r, du) = (router(), router_for(CFG_DU));
    let mut out = Vec::with_capacity(4);
    for (r, what, msg, source, most) in [
        (&r, "INVITE", INVITE, "127.0.0.1:5061", 4),
        (&r, "200 OK", OK, "127.0.0.1:5080", 3),
        (&du, "INVITE to $du", INVITE, "127.0.0.1:5061", 5),
    ] {
        // The first run may set up what lives on (thread-locals, lazily built tables).
        assert!(
            relay(r, msg.as_bytes(), source, &mut out) > 0,
            "{what} relayed"
        );
        let region = Region::new(GLOBAL);
        let sent = relay(r, msg.as_bytes(), source, &mut out);
        let change = region.change();
        assert!(sent > 0, "{what} relayed");
        let n = change.allocations + change.reallocations;
        assert!(
            n <= most,
            "relaying the {what} allocated {n} times (at most {most})"
        );
    }
    // In kept memory: the first request and reply size the buffers, then nothing.
    let mut scratch = Scratch::default();
    for msg in [INVITE, OK, INVITE] {
        let source = if msg == OK {
            "127.0.0.1:5080"
        } else {
            "127.0.0.1:5061"
        };
        assert!(relay_reusing(&r, msg.as_bytes(), source, &mut out, &mut scratch) > 0);
    }
    for (what, msg, source) in [
        ("INVITE", INVITE, "127.0.0.1:5061"),
        ("200 OK", OK, "127.0.0.1:5080"),
    ] {
        let region = Region::new(GLOBAL);
        let sent = relay_reusing(&r, msg.as_bytes(), source, &mut out, &mut scratch);
        let change = region.change();
        assert!(sent > 0, "{what} relayed");
        let n = change.allocations + change.reallocations;
        assert_eq!(
            n, 0,
            "relaying the {what} in kept memory allocated {n} times"
        );
    }
    // As siprouter's TCP connections relay: the framing has parsed the message, the
    // editor's buffers are kept, the output is queued (not given back). Left: the output
    // and `$du`'s string.
    let msg = sip_message::Message::parse(INVITE.as_bytes()).expect("parses");
    let inc = Incoming {
        data: INVITE.as_bytes(),
        source: "127.0.0.1:5061".parse().expect("address"),
        proto: Transport::Tcp,
        local: 1,
        conn: Some(7),
    };
    let mut scratch = Scratch::default();
    for round in 0..2 {
        let region = Region::new(GLOBAL);
        du.handle_parsed_reusing(&msg, &inc, &mut out, &mut scratch);
        let change = region.change();
        assert!(
            out.iter().any(|o| matches!(o, Output::Send(_))),
            "INVITE to $du relayed"
        );
        out.clear();
        let n = change.allocations + change.reallocations;
        if round == 1 {
            assert!(
                n <= 2,
                "relaying the INVITE to $du over TCP allocated {n} times"
            );
        }
    }
}
