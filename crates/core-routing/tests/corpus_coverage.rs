//! What the real-world configs use, and how much of it the engine knows: every
//! pseudo-variable and transformation written in `../shared/corpus/kamailio-cfg` and
//! `kamailio-tests-cfg` is parsed as the compiler would parse it, and the coverage is
//! printed (`cargo test -p core-routing --test corpus_coverage -- --nocapture`; the figures
//! are in `docs/routing.md`). The pseudo-variables and transformation classes the routing
//! issue names must all be known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use core_routing::pv;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// The config files of both corpora (skipped with a note when the corpus is absent).
fn configs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["kamailio-cfg", "kamailio-tests-cfg"] {
        let Ok(entries) = std::fs::read_dir(corpus_dir().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name.filter(|n| !n.ends_with(".tsv") && !n.ends_with(".md")) else {
                continue;
            };
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((name, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

/// Lines that are not comments.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| {
        let t = l.trim_start();
        !t.starts_with('#') || t.starts_with("#!")
    })
}

/// Every `$name`, `$name(arg)` and `$(name(arg)…{trans})` in a line, as written.
fn pvs(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + 1;
        let mut depth = 0usize;
        if b.get(j) == Some(&b'(') {
            // $( … ) with nested parentheses and braces.
            for (k, &c) in b.iter().enumerate().skip(j) {
                match c {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            j = k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
        } else {
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if b.get(j) == Some(&b'(') {
                if let Some(end) = line[j..].find(')') {
                    j += end + 1;
                }
            }
        }
        if j > start + 1 && depth == 0 {
            out.push(line[start..j].to_string());
        }
        i = j.max(i + 1);
    }
    out
}

/// The class of a pseudo-variable as configs write it: `$var`, `$hdr`, `$ru`.
fn class(pv: &str) -> String {
    let body = pv.trim_start_matches("$(").trim_start_matches('$');
    body.split(['(', '{', '[', ')'])
        .next()
        .unwrap_or("")
        .to_string()
}

/// Every `{class.name…}` transformation inside a `$( … )`.
fn transformations(pv: &str) -> Vec<String> {
    if !pv.starts_with("$(") {
        return Vec::new();
    }
    // Braces nest (`{re.subst,/x{5,9}/y/}`): each top-level pair is one transformation.
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in pv.char_indices() {
        match c {
            '{' => {
                if depth == 0 {
                    start = i + 1;
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(pv[start..i].to_string());
                }
            }
            _ => {}
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    known: BTreeMap<String, usize>,
    unknown: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, key: String, ok: bool) {
        let map = if ok {
            &mut self.known
        } else {
            &mut self.unknown
        };
        *map.entry(key).or_insert(0) += 1;
    }

    fn uses(map: &BTreeMap<String, usize>) -> usize {
        map.values().sum()
    }

    fn report(&self, what: &str) {
        let (k, u) = (Self::uses(&self.known), Self::uses(&self.unknown));
        println!(
            "{what}: {} of {} distinct known ({} of {} uses, {:.0}%)",
            self.known.len(),
            self.known.len() + self.unknown.len(),
            k,
            k + u,
            100.0 * k as f64 / (k + u).max(1) as f64
        );
        let mut top: Vec<_> = self.unknown.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1));
        let list: Vec<String> = top
            .iter()
            .take(25)
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        println!("  not known, most used first: {}", list.join(", "));
    }
}

#[test]
fn corpus_pseudo_variables_and_transformations() {
    let configs = configs();
    if configs.is_empty() {
        eprintln!("corpus not found at {}; skipped", corpus_dir().display());
        return;
    }
    let mut classes = Tally::default();
    let mut trans = Tally::default();
    for (_, text) in &configs {
        for line in code_lines(text) {
            for pv_text in pvs(line) {
                let parsed = pv::parse(&pv_text);
                // A class is known when the engine parses the variable; a transformation
                // when the same variable parses with only that transformation.
                classes.add(class(&pv_text), parsed.is_ok());
                for t in transformations(&pv_text) {
                    let name = t.split(',').next().unwrap_or("").to_string();
                    let ok = pv::parse(&format!("$(var(x){{{t}}})")).is_ok();
                    trans.add(name, ok);
                }
            }
        }
    }
    println!("{} config files", configs.len());
    classes.report("pseudo-variable classes");
    trans.report("transformations");
    // Those the routing issue names are all known.
    for required in [
        "ru",
        "rU",
        "rd",
        "rp",
        "rP",
        "rz",
        "ou",
        "oU",
        "du",
        "fu",
        "fU",
        "fd",
        "fn",
        "ft",
        "tu",
        "tU",
        "td",
        "tn",
        "tt",
        "ci",
        "cs",
        "rm",
        "rs",
        "rr",
        "rb",
        "si",
        "sp",
        "Ri",
        "Rp",
        "RAi",
        "RAp",
        "pr",
        "proto",
        "ua",
        "ct",
        "cl",
        "mb",
        "ml",
        "mt",
        "Ts",
        "retcode",
        "rc",
        "null",
        "T_branch_idx",
        "fs",
    ] {
        assert!(pv::parse(&format!("${required}")).is_ok(), "${required}");
    }
    for required in [
        "$hdr(Via)",
        "$hdrc(Via)",
        "$var(x)",
        "$avp(x)",
        "$shv(x)",
        "$sel(ruri.user)",
        "$TV(s)",
        "$time(hour)",
        "$cfg(line)",
        "$cfg(file)",
    ] {
        assert!(pv::parse(required).is_ok(), "{required}");
    }
    for t in [
        "s.len",
        "s.substr,1,2",
        "s.select,0,:",
        "s.tolower",
        "s.toupper",
        "s.int",
        "s.strip,1",
        "s.striptail,1",
        "s.prefixes",
        "s.encode.hexa",
        "s.decode.hexa",
        "s.md5",
        "uri.user",
        "uri.host",
        "param.value,a",
        "nameaddr.uri",
        "tobody.tag",
        "re.subst,/a/b/",
    ] {
        assert!(pv::parse(&format!("$(ru{{{t}}})")).is_ok(), "{{{t}}}");
    }
    // What the corpus uses most of these classes must stay known.
    for class in [
        "var", "avp", "null", "si", "ru", "rU", "ci", "hdr", "rm", "sp", "sel",
    ] {
        assert!(classes.known.contains_key(class), "${class} is not known");
    }
    for t in [
        "s.int",
        "s.substr",
        "s.select",
        "nameaddr.uri",
        "param.value",
        "uri.params",
        "tobody.params",
        "uri.host",
        "re.subst",
    ] {
        assert!(trans.known.contains_key(t), "{{{t}}} is not known");
    }
}
