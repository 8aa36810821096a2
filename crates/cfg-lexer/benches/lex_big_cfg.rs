//! Lexes the large generated config (`cargo xtask bench` writes it and passes its path in
//! `SIPROUTER_BENCH_CFG`) and reports throughput in bytes per second.

use std::path::PathBuf;

use cfg_lexer::{lex_file, FsLoader, LexOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_lex(c: &mut Criterion) {
    let Some(path) = std::env::var_os("SIPROUTER_BENCH_CFG").map(PathBuf::from) else {
        eprintln!("lex_big_cfg: SIPROUTER_BENCH_CFG is not set; run `cargo xtask bench`");
        return;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("lex_big_cfg: cannot read {}: {e}", path.display());
            return;
        }
    };
    let opts = LexOptions::default();
    let probe = lex_file(&path, &opts, &FsLoader);
    assert!(
        !probe.has_errors(),
        "benchmark config does not lex cleanly: {:?}",
        probe.errors().next()
    );
    eprintln!(
        "lex_big_cfg: {} lines, {} bytes, {} tokens",
        text.lines().count(),
        text.len(),
        probe.tokens.len()
    );
    let mut group = c.benchmark_group("cfg-lexer");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("lex 20k-line config", |b| {
        b.iter(|| lex_file(&path, &opts, &FsLoader))
    });
    group.finish();
}

criterion_group!(benches, bench_lex);
criterion_main!(benches);
