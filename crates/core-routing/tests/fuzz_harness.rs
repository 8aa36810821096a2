//! The route-script fuzz harness (`core_routing::fuzzing::route`), run by the tests on the
//! RFC 4475/5118 torture messages and on mutations of them, so a regression shows up in CI
//! and not only in `cargo xtask fuzz`.

use std::path::Path;

use proptest::prelude::*;

fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for set in ["rfc4475", "rfc5118"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus")
            .join(set);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "sip") {
                out.push(std::fs::read(e.path()).expect("corpus message"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn torture_messages_route_without_sending_anything_broken() {
    let msgs = corpus();
    assert!(msgs.len() >= 61, "only {} corpus messages", msgs.len());
    let mut sent = 0;
    for m in &msgs {
        sent += core_routing::fuzzing::route(m).sent;
    }
    // Most torture messages are relayed or answered: the harness really runs the script.
    assert!(
        sent > msgs.len(),
        "only {sent} messages sent for {} inputs",
        msgs.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_torture_messages_never_break_the_router(
        pick in 0usize..61,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let msgs = corpus();
        let mut m = msgs[pick % msgs.len()].clone();
        for (pos, byte, op) in edits {
            let at = usize::from(pos) % (m.len() + 1);
            match op {
                0 => m.insert(at, byte),
                1 if at < m.len() => { m.remove(at); }
                _ if at < m.len() => m[at] = byte,
                _ => m.push(byte),
            }
        }
        core_routing::fuzzing::route(&m);
    }
}

/// Inputs the fuzzer once failed on (`tests/fuzz_regressions/`), replayed through the harness.
#[test]
fn fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz_regressions folder") {
        let data = std::fs::read(entry.expect("entry").path()).expect("regression input");
        core_routing::fuzzing::route(&data);
        n += 1;
    }
    assert!(n >= 1, "no regression inputs in {}", dir.display());
}
