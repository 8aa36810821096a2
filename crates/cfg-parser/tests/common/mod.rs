//! What several test files share: the corpus configs.

use std::path::{Path, PathBuf};

/// Every `cfg` and `cfg-include` file of the two Kamailio corpora in `../shared/corpus`, as
/// (name in the index, path).
pub(crate) fn corpus_configs() -> Vec<(String, PathBuf)> {
    corpus_files(&["cfg", "cfg-include"])
}

/// The files of the two Kamailio corpora whose kind in the index is one of `kinds`, as
/// (name in the index, path). (core-routing's tests include this file too.)
pub(crate) fn corpus_files(kinds: &[&str]) -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let mut out = Vec::new();
    for corpus in ["kamailio-cfg", "kamailio-tests-cfg"] {
        let index = std::fs::read_to_string(dir.join(corpus).join("index.tsv"))
            .unwrap_or_else(|e| panic!("cannot read the {corpus} index: {e}"));
        for line in index.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.get(2).is_some_and(|kind| kinds.contains(kind)) {
                out.push((cols[0].to_string(), dir.join(corpus).join(cols[0])));
            }
        }
    }
    out
}
