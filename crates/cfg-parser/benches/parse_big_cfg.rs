//! Parses large configs: the one `cargo xtask gen-cfg` writes (`SIPROUTER_BENCH_CFG`) and, when
//! present, the reference benchmark's own generator output (`SIPROUTER_BENCH_KAMAILIO_CFG`,
//! the file `kamailio -c` is timed on). `cargo xtask bench` sets both. Lexing, parsing (in
//! chunks on all cores for files this large) and the checks are timed; dropping the result
//! is not.

use std::path::PathBuf;

use cfg_lexer::{FsLoader, LexOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("cfg-parser");
    for (var, label) in [
        ("SIPROUTER_BENCH_CFG", "parse xtask 20k-line config"),
        (
            "SIPROUTER_BENCH_KAMAILIO_CFG",
            "parse gen-big-cfg 20k-line config",
        ),
    ] {
        let Some(path) = std::env::var_os(var).map(PathBuf::from) else {
            eprintln!("parse_big_cfg: {var} is not set; run `cargo xtask bench`");
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("parse_big_cfg: cannot read {}", path.display());
            continue;
        };
        let opts = LexOptions::default();
        let probe = cfg_parser::parse_file(&path, &opts, &FsLoader);
        assert!(
            !probe.has_errors(),
            "{} does not parse cleanly: {:?}",
            path.display(),
            probe.errors().next()
        );
        eprintln!(
            "parse_big_cfg: {}: {} lines, {} items",
            path.display(),
            text.lines().count(),
            probe.config.items.len()
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        // The result is dropped outside the timing: freeing the AST is no part of parsing,
        // and `siprouter -c` exits without freeing it.
        group.bench_function(label, |b| {
            b.iter_with_large_drop(|| cfg_parser::parse_file(&path, &opts, &FsLoader))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
