//! The siprouter binary, run as a user runs it.

use siprouter_e2e::{corpus_dir, run_siprouter, workspace_root};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bundled_config_checks_clean() {
    let cfg = workspace_root().join("configs/siprouter.cfg");
    let out = run_siprouter(&["-c", "-f", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration check passed"));
}

#[test]
fn broken_config_fails_with_file_line_column() {
    let cfg = corpus_dir().join("kamailio-tests-cfg/units__tcfgxx0003__kamailio-tcfgxx0003.cfg");
    let out = run_siprouter(&["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("units__tcfgxx0003__kamailio-tcfgxx0003.cfg:9:1: error:"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn defines_from_the_command_line_reach_the_config() {
    let dir = std::env::temp_dir().join(format!("siprouter-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("needs-define.cfg");
    std::fs::write(
        &cfg,
        "#!ifndef NEEDED\n\"unterminated\n#!endif\nport=5060\n",
    )
    .unwrap();
    let without = run_siprouter(&["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(without.status.code(), Some(1), "{}", stderr(&without));
    assert!(stderr(&without).contains("needs-define.cfg:2:1: error: unterminated string"));
    let with = run_siprouter(&["-c", "-A", "NEEDED", "-f", cfg.to_str().unwrap()]);
    assert!(with.status.success(), "{}", stderr(&with));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = run_siprouter(&["-c", "-f", "/nonexistent/siprouter.cfg"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/siprouter.cfg:1:1: error: cannot read config file"),
        "{err}"
    );
}

#[test]
fn unknown_option_prints_usage() {
    let out = run_siprouter(&["--no-such-option"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: siprouter"));
}
