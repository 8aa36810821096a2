//! Parses every configuration file of the two Kamailio corpora in `../shared/corpus`.
//!
//! Every `cfg`/`cfg-include` file parses with zero errors, except:
//! - the files the Kamailio of the spec rejects for syntax (`../shared/spec/kamailio-head-check-*.tsv`,
//!   result `syntax-error`): `KAMAILIO_SYNTAX_ERRORS` lists them with Kamailio's error line, and
//!   our first error must be on that line (the table is checked against the TSV files);
//! - the files whose preprocessing fails (missing includes, unbalanced `#!ifdef`), which the
//!   lexer's corpus test lists with reasons: `PREPROCESSOR_ERRORS` here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cfg_lexer::{LexOptions, MemoryLoader};
use cfg_parser::parse_file;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Files Kamailio rejects with a syntax error, and the line it reports. They are old SER
/// syntax (`fifo=`, `loop_checks=`, bare `condition action;`, `len_gt(max_len)`,
/// `statistics=`) or examples missing a `;` before `else`.
const KAMAILIO_SYNTAX_ERRORS: &[(&str, u32)] = &[
    ("misc/examples/exec/exec_s5.cfg", 31),
    ("misc/examples/exec/exec_s5b.cfg", 31),
    ("misc/examples/kamailio/exec_s5.cfg", 34),
    ("misc/examples/mixed/acc.cfg", 38),
    ("misc/examples/mixed/dbtext.cfg", 24),
    ("misc/examples/mixed/flag_reply.cfg", 20),
    ("misc/examples/mixed/nathelper.cfg", 36),
    ("misc/examples/mixed/serial_183.cfg", 29),
    ("misc/examples/mixed/snmp.cfg", 12),
    ("misc/examples/mixed/voicemail.cfg", 22),
    ("misc/examples/mixed/welcome.cfg", 20),
    ("misc/examples/obsoleted/use_jabs.cfg", 22),
    ("src/modules/mangler/mangler.cfg", 21),
    ("src/modules/nathelper/examples/4to6.cfg", 47),
    ("src/modules/nathelper/examples/alg.cfg", 44),
    ("src/modules/rtpproxy/examples/4to6.cfg", 46),
    ("test/misc/cfg/centauri.cfg", 4),
    ("test/misc/cfg/echo.cfg", 16),
    ("test/misc/cfg/flood.cfg", 23),
    ("test/misc/cfg/gen.cfg", 20),
    ("test/misc/cfg/mobile61.cfg", 5),
    ("test/misc/cfg/ser.cfg", 8),
    ("test/misc/cfg/sf.cfg", 19),
    ("test/misc/cfg/stateless.cfg", 27),
    ("test/misc/cfg/stress.cfg", 14),
    ("test/misc/cfg/t_debug2.cfg", 10),
    ("test/misc/cfg/t_debug3.cfg", 10),
    ("test/misc/cfg/tcp.cfg", 26),
    ("test/misc/cfg/tcp_tunnel1.cfg", 26),
    ("test/misc/cfg/tcp_tunnel2.cfg", 26),
    ("test/misc/cfg/td.cfg", 9),
    ("test/misc/cfg/test-throughput.cfg", 8),
    ("test/misc/cfg/test.cfg", 27),
    ("test/misc/cfg/test1.cfg", 19),
    ("test/misc/cfg/th-uri-2.cfg", 26),
    ("test/misc/cfg/th-uri-8.cfg", 21),
    ("test/misc/cfg/tp.cfg", 9),
    ("test/misc/cfg/tx.cfg", 20),
    ("test/misc/cfg/use_jab.cfg", 21),
    ("test/misc/cfg/xx.cfg", 17),
    ("test/misc/cfg/xy.cfg", 14),
];

/// Files whose preprocessing fails, with the line of the first error (see the lexer's corpus
/// test for the reasons).
const PREPROCESSOR_ERRORS: &[(&str, u32, &str)] = &[
    (
        "misc/examples/ims/icscf/kamailio.cfg",
        19,
        "includes icscf.cfg, shipped only as .sample",
    ),
    (
        "misc/examples/ims/scscf/kamailio.cfg",
        35,
        "includes scscf.cfg, shipped only as .sample",
    ),
    (
        "misc/examples/kemi/kamailio-basic-kemi.cfg",
        411,
        "includes an absolute system path",
    ),
    (
        "units/tregxx0001/kamailio-tregxx0001.cfg",
        21,
        "include not in the corpus",
    ),
    ("etc/sip-router.cfg", 183, "unbalanced #!ifdef"),
    (
        "misc/examples/pkg/sip-router-oob.cfg",
        1718,
        "unbalanced #!ifdef",
    ),
    (
        "misc/examples/pkg/sip-router-basic.cfg",
        121,
        "unbalanced #!endif",
    ),
];

/// Files that Kamailio rejects too, but whose Kamailio check stops earlier (at a module that
/// is not installed), so the TSV files do not name the syntax error; the line is ours.
const OTHER_INVALID: &[(&str, u32, &str)] = &[
    ("doc/tutorials/presence/cfg/full_ps.cfg", 183, "`max_len` is reserved and used by no rule"),
    ("doc/tutorials/presence/cfg/ps.cfg", 220, "`max_len` is reserved and used by no rule"),
    ("misc/examples/mixed/pstn.cfg", 47, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/mixed/replicate.cfg", 42, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/obsoleted/blb.cfg", 50, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/obsoleted/imgw.cfg", 105, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/obsoleted/sms.cfg", 44, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/obsoleted/smsgw.cfg", 56, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/obsoleted/tmtest.cfg", 90, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/obsoleted/to_fox.cfg", 50, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("misc/examples/presence/full-no-failover.cfg", 148, "`max_len` is reserved and used by no rule"),
    ("misc/examples/presence/no-db.cfg", 95, "`max_len` is reserved and used by no rule"),
    ("src/modules/db_text/doc/db_text.cfg", 68, "`max_len` is reserved and used by no rule"),
    ("test/misc/cfg/acc-test.cfg", 108, "`len_gt(max_len)`: old SER; `max_len` is reserved"),
    ("src/modules/rtp_media_server/config_example/kamailio.cfg", 25, "placeholder `<SET YOUR IP IN kamailio.cfg>` as listen address"),
    ("src/modules/msilo/doc/msilo.cfg", 52, "19 `{` and 18 `}` (line 61 repeats the `{` of line 60): the route block opened at line 52 is never closed"),
    ("src/modules/ims_ocs/examples/full/kamailio.cfg", 170, "DB_URL is defined in ocs.cfg, shipped only as .sample (import_file skips it)"),
    ("misc/examples/ims/pcscf/kamailio.cfg", 398, "CONTACT_DELETE_DELAY is defined in pcscf.cfg, shipped only as .sample (import_file skips it)"),
];

/// Semantic errors that are expected in route-only fragments (`cfg-include`): they call routes
/// and use flags that the including config defines.
fn fragment_reference(message: &str) -> bool {
    (message.starts_with("route `") && message.ends_with("is not defined"))
        || (message.starts_with("flag `") && message.ends_with("is not declared"))
}

struct Entry {
    path: String,
    kind: String,
}

fn load_corpus() -> (MemoryLoader, Vec<Entry>) {
    let mut loader = MemoryLoader::new();
    let mut entries = Vec::new();
    for corpus in ["kamailio-cfg", "kamailio-tests-cfg"] {
        let dir = shared().join("corpus").join(corpus);
        let index = std::fs::read_to_string(dir.join("index.tsv"))
            .unwrap_or_else(|e| panic!("cannot read {}/index.tsv: {e}", dir.display()));
        for line in index.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let text = std::fs::read_to_string(dir.join(cols[0]))
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", cols[0]));
            loader.insert(cols[3], text);
            entries.push(Entry {
                path: cols[3].to_string(),
                kind: cols[2].to_string(),
            });
        }
    }
    (loader, entries)
}

#[test]
fn syntax_table_matches_kamailio_results() {
    let mut from_tsv = Vec::new();
    for f in [
        "kamailio-head-check-cfg.tsv",
        "kamailio-head-check-tests.tsv",
    ] {
        let text = std::fs::read_to_string(shared().join("spec").join(f)).unwrap();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols[1] == "cfg" && cols[2] == "syntax-error" {
                let msg = cols[3];
                let file = msg
                    .split("config file ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .unwrap();
                let line_no: u32 = msg
                    .split(", line ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                from_tsv.push((file.to_string(), line_no));
            }
        }
    }
    let table: Vec<(String, u32)> = KAMAILIO_SYNTAX_ERRORS
        .iter()
        .map(|(f, l)| (f.to_string(), *l))
        .collect();
    assert_eq!(table, from_tsv);
}

#[test]
fn every_corpus_config_parses() {
    let (loader, entries) = load_corpus();
    let opts = LexOptions::default();
    let mut failures = BTreeMap::new();
    let mut clean = 0;
    for e in entries
        .iter()
        .filter(|e| e.kind == "cfg" || e.kind == "cfg-include")
    {
        let parsed = parse_file(Path::new(&e.path), &opts, &loader);
        let fragment = e.kind == "cfg-include";
        let first = parsed
            .errors()
            .find(|d| !(fragment && fragment_reference(&d.message)));
        let expected_line = KAMAILIO_SYNTAX_ERRORS
            .iter()
            .find(|(p, _)| *p == e.path)
            .map(|(_, l)| *l)
            .or_else(|| {
                PREPROCESSOR_ERRORS
                    .iter()
                    .chain(OTHER_INVALID)
                    .find(|(p, _, _)| *p == e.path)
                    .map(|(_, l, _)| *l)
            });
        match (first, expected_line) {
            (None, None) => clean += 1,
            (Some(d), None) => {
                let all: Vec<String> = parsed
                    .errors()
                    .take(5)
                    .map(|d| d.render(parsed.sources()))
                    .collect();
                failures.insert(
                    e.path.clone(),
                    format!("unexpected errors: {all:#?} ({})", d.message),
                );
            }
            (None, Some(l)) => {
                failures.insert(
                    e.path.clone(),
                    format!("expected an error at line {l}, got none"),
                );
            }
            (Some(d), Some(l)) => {
                let got = parsed.sources().location(d.span).start.line;
                if got != l {
                    failures.insert(
                        e.path.clone(),
                        format!(
                            "first error at line {got}, Kamailio's at {l}: {}",
                            d.render(parsed.sources())
                        ),
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} file(s) failed ({clean} clean):\n{failures:#?}",
        failures.len()
    );
    assert!(clean > 100, "only {clean} clean files");
}
