//! Checks the route script of a large config as `siprouter -c` does ([`core_routing::check`]):
//! the reference benchmark's generated config (`SIPROUTER_BENCH_KAMAILIO_CFG`, the file
//! `kamailio -c` is timed on; `cargo xtask bench` sets it), the file both servers are
//! compared on. The config is parsed once, outside the timing; the compile of its route
//! bodies (on all cores for a script this large) is what is timed.

use std::path::PathBuf;

use cfg_parser::lexer::{FsLoader, LexOptions};
use core_routing::RouterConfig;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench_check(c: &mut Criterion) {
    let var = "SIPROUTER_BENCH_KAMAILIO_CFG";
    let Some(path) = std::env::var_os(var).map(PathBuf::from) else {
        eprintln!("check_big_cfg: {var} is not set; run `cargo xtask bench`");
        return;
    };
    let parsed = cfg_parser::parse_file(&path, &LexOptions::default(), &FsLoader);
    assert!(
        !parsed.has_errors(),
        "{} does not parse cleanly: {:?}",
        path.display(),
        parsed.errors().next()
    );
    let rc = RouterConfig::default();
    let first = core_routing::check(&parsed.config, &rc, Some(parsed.sources()));
    assert!(first.is_ok(), "{}: {first:?}", path.display());
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let mut group = c.benchmark_group("core-routing");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("check gen-big-cfg 20k-line config", |b| {
        b.iter(|| core_routing::check(&parsed.config, &rc, Some(parsed.sources())))
    });
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
