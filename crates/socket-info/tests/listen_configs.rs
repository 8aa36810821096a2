//! Our listing for every prepared differential config equals its `.expected` file.

mod common;

#[test]
fn listen_configs_match_expected_listings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/listen-configs");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("listen-configs directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 15, "at least 15 configs");
    for cfg in entries {
        let text = std::fs::read_to_string(&cfg).expect("read cfg");
        let want = std::fs::read_to_string(cfg.with_extension("expected")).expect("read expected");
        let s = common::run(&text).unwrap_or_else(|e| panic!("{}: {e}", cfg.display()));
        assert_eq!(socket_info::listing(&s), want, "{}", cfg.display());
    }
}
