//! The stateless relay's routing work per message, as `cargo xtask bench relay` drives it:
//! `../shared/bench/kamailio-relay.cfg`'s request route (Max-Forwards check, `forward()`)
//! on sipp's INVITE, and the core's reply routing (strip our Via, send to the next) on the
//! 200 OK that comes back; and the TCP relay's request route (`$du`, then `forward()`).
//! Prints the heap allocations per message once, before timing.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

#[path = "../tests/common/relay.rs"]
mod fixture;
use fixture::{relay, router, router_for, CFG_DU, INVITE, OK};

fn bench(c: &mut Criterion) {
    let r = router();
    let mut out = Vec::with_capacity(4);
    for (what, msg, src) in [
        ("INVITE", INVITE, "127.0.0.1:5061"),
        ("200 OK", OK, "127.0.0.1:5080"),
    ] {
        assert!(
            relay(&r, msg.as_bytes(), src, &mut out) > 0,
            "{what} is relayed"
        );
        let region = Region::new(GLOBAL);
        relay(&r, msg.as_bytes(), src, &mut out);
        let s = region.change();
        println!(
            "relaying the {what}: {} allocations, {} reallocations, {} bytes",
            s.allocations, s.reallocations, s.bytes_allocated
        );
    }
    c.bench_function("relay INVITE (maxfwd + forward)", |b| {
        b.iter(|| relay(&r, black_box(INVITE.as_bytes()), "127.0.0.1:5061", &mut out))
    });
    c.bench_function("relay 200 OK (reply by Via)", |b| {
        b.iter(|| relay(&r, black_box(OK.as_bytes()), "127.0.0.1:5080", &mut out))
    });
    let du = router_for(CFG_DU);
    c.bench_function("relay INVITE ($du + forward())", |b| {
        b.iter(|| {
            relay(
                &du,
                black_box(INVITE.as_bytes()),
                "127.0.0.1:5061",
                &mut out,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
