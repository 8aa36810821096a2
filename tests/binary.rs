//! The siprouter binary, run as a user runs it.

use siprouter_e2e::{corpus_dir, run_siprouter, workspace_root};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts that a run failed with exit code 255 (Kamailio's) and said `reason` on stderr.
fn assert_failed_with(out: &std::process::Output, reason: &str) {
    assert_eq!(out.status.code(), Some(255), "{}", stderr(out));
    assert!(stderr(out).contains(reason), "{}", stderr(out));
}

/// A config written to a fresh temporary folder (removed when dropped).
struct TempCfg(std::path::PathBuf);

impl TempCfg {
    fn new(name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("siprouter-e2e-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("temporary config");
        TempCfg(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 temporary path")
    }
}

impl Drop for TempCfg {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            std::fs::remove_dir_all(dir).ok();
        }
    }
}

#[test]
fn bundled_config_checks_clean_and_prints_the_listing() {
    let cfg = workspace_root().join("configs/siprouter.cfg");
    let out = run_siprouter(&["-c", "-f", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Listening on \n             udp: 127.0.0.1 [127.0.0.1]:5060\n             \
         tcp: 127.0.0.1 [127.0.0.1]:5060\nAliases: \n\n"
    );
    assert!(
        stderr(&out).ends_with("config file ok, exiting...\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn broken_config_fails_with_file_line_column() {
    let cfg = corpus_dir().join("kamailio-tests-cfg/units__tcfgxx0003__kamailio-tcfgxx0003.cfg");
    let out = run_siprouter(&["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    assert!(
        err.contains("units__tcfgxx0003__kamailio-tcfgxx0003.cfg:9:1: "),
        "{err}"
    );
    assert!(err.contains("is never closed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&out).is_empty(), "no listing for a broken config");
}

#[test]
fn every_mistake_is_reported_with_its_line() {
    let cfg = TempCfg::new(
        "mistakes.cfg",
        "chidlren=4\nlisten=udp:127.0.0.1:99999\nrequest_route {\n  route(NOWHERE);\n}\n",
    );
    let out = run_siprouter(&["-c", "-f", cfg.path()]);
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    for want in [
        "mistakes.cfg:1:1: unknown core parameter `chidlren`; did you mean `children`?",
        "mistakes.cfg:2:22: unexpected number 99999, expected port number",
        "mistakes.cfg:4:9: route `NOWHERE` is not defined",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains(" 1 │ chidlren=4"), "no source snippet:\n{err}");
}

#[test]
fn defines_from_the_command_line_reach_the_config() {
    let cfg = TempCfg::new(
        "needs-define.cfg",
        "#!ifndef NEEDED\n\"unterminated\n#!endif\nlisten=udp:127.0.0.1:PORT\n",
    );
    let without = run_siprouter(&["-c", "-A", "PORT=5099", "-f", cfg.path()]);
    assert_eq!(without.status.code(), Some(255), "{}", stderr(&without));
    assert!(stderr(&without).contains("needs-define.cfg:2:1: unterminated string"));
    let with = run_siprouter(&["-c", "-A", "NEEDED", "-A", "PORT=5099", "-f", cfg.path()]);
    assert!(with.status.success(), "{}", stderr(&with));
    assert!(
        stdout(&with).contains("udp: 127.0.0.1:5099"),
        "{}",
        stdout(&with)
    );
}

#[test]
fn dump_ast_prints_json_or_fails_with_diagnostics() {
    let cfg = TempCfg::new(
        "ast.cfg",
        "debug=3\nlisten=udp:[::1]:5060 name \"v6\"\nrequest_route { drop; }\n",
    );
    let out = run_siprouter(&["--dump-ast", "-f", cfg.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&out);
    assert!(json.contains("\"item\": \"Listen\""), "{json}");
    assert!(json.contains("\"value\": \"::1\""), "{json}");
    assert!(json.contains("\"kind\": \"request\""), "{json}");

    let bad = TempCfg::new("bad.cfg", "request_route { drop }\n");
    let out = run_siprouter(&["--dump-ast", "-f", bad.path()]);
    assert_failed_with(&out, "bad.cfg:1:22: ");
    assert!(stdout(&out).is_empty());
}

#[test]
fn dump_sockets_and_repeated_listen_options() {
    let cfg = TempCfg::new(
        "sockets.cfg",
        "auto_aliases=no\nlisten=udp:127.0.0.1:5060 name \"a\"\n",
    );
    let out = run_siprouter(&[
        "--dump-sockets",
        "-f",
        cfg.path(),
        "-l",
        "tcp:127.0.0.1:5070/192.0.2.9:5080/ext",
        "-l",
        "udp:[::1]:5072",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&out);
    for want in [
        "\"proto\": \"udp\"",
        "\"socket_name\": \"a\"",
        "\"proto\": \"tcp\"",
        "\"port\": 5070",
        "\"socket_name\": \"ext\"",
        "\"address\": \"::1\"",
        "\"line\": 2",
    ] {
        assert!(json.contains(want), "missing {want:?} in {json}");
    }
    let bad = run_siprouter(&["-c", "-f", cfg.path(), "-l", "udp:127.0.0.1:5060:7"]);
    assert_failed_with(&bad, "bad -l address specifier");
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = run_siprouter(&["-c", "-f", "/nonexistent/siprouter.cfg"]);
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/siprouter.cfg:1:1: cannot read config file"),
        "{err}"
    );
}

/// Runs siprouter with `text` on its standard input.
fn run_with_stdin(args: &[&str], text: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(siprouter_e2e::siprouter_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start siprouter");
    // The handle is dropped after the write: the end of the input.
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("write the config");
    }
    child.wait_with_output().expect("wait for siprouter")
}

#[test]
fn a_config_on_standard_input() {
    let out = run_with_stdin(
        &["-c", "-f", "-"],
        "listen=udp:127.0.0.1:5099\nrequest_route { exit; }\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("udp: 127.0.0.1:5099"),
        "{}",
        stdout(&out)
    );
    // Mistakes are located in `-`, as in a file.
    let out = run_with_stdin(&["-c", "-f", "-"], "request_route {\n  exit\n");
    assert_failed_with(&out, "-:1:15: `{` is never closed");
    let out = run_with_stdin(
        &["--print-expanded", "-f", "-"],
        "listen=udp:127.0.0.1:5099\n",
    );
    assert!(stdout(&out).contains("# -:1"), "{}", stdout(&out));
    // A large config is parsed in pieces; a syntax error late in it has the whole input
    // lexed a second time, which must come from the text already read, not from a stdin
    // that is at its end by then.
    let text = large_config(None).replace(
        "route[R1400] { $var(x) = 1400 + $var(x);",
        "route[R1400] { $var(x) = ;",
    );
    assert!(text.len() > 64 * 1024);
    let out = run_with_stdin(&["-c", "-f", "-"], &text);
    assert_failed_with(&out, "-:1406:");
    assert!(!stderr(&out).contains("empty"), "{}", stderr(&out));
}

#[test]
fn a_closed_or_full_output_is_no_panic() {
    use std::process::{Command, Stdio};
    let relay = corpus_dir().join("../bench/kamailio-relay.cfg");
    let full = || std::fs::File::create("/dev/full").expect("/dev/full");
    // stdout full: the listing is lost, the check still succeeds.
    let out = Command::new(siprouter_e2e::siprouter_bin())
        .args(["-c", "-f", relay.to_str().unwrap()])
        .stdout(full())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // stderr full: a failure keeps its status instead of a panic's 101.
    let out = Command::new(siprouter_e2e::siprouter_bin())
        .args(["-c", "-Z"])
        .stdout(Stdio::null())
        .stderr(full())
        .status()
        .expect("run");
    assert_eq!(out.code(), Some(255));
}

#[test]
fn command_line_errors_are_kamailios() {
    // Kamailio's words and exit status 255 (spec/cli-and-startup.md 1.1).
    let out = run_siprouter(&["-c", "-Z"]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(stderr(&out), "Unknown option '-Z'. Use -h for help.\n");
    let out = run_siprouter(&["-c", "-f"]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        stderr(&out),
        "Option '-f' requires an argument. Use -h for help.\n"
    );
    // Values Kamailio refuses before it reads the config.
    for (args, said) in [
        (
            &["-c", "-A", "X", "-A", "X=2"][..],
            "error at define param: -A X=2",
        ),
        (&["-c", "-m", "0"], "out of limits shmem size number: -m 0"),
        (
            &["-c", "-M", "lots"],
            "bad private mem size number: -M lots",
        ),
        (&["-c", "-x", "foo"], "bad memory manager: -x foo"),
    ] {
        let out = run_siprouter(args);
        assert_failed_with(&out, said);
    }
    // `-h` as an option's argument prints the help, as `-h` itself does.
    for args in [&["-h"][..], &["-c", "-f", "-h"], &["--help"], &["--he"]] {
        let out = run_siprouter(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains("Usage: siprouter"), "{args:?}");
        assert!(stdout(&out).starts_with("version: siprouter "), "{args:?}");
    }
}

#[test]
fn route_script_errors_are_check_time_errors() {
    let cfg = TempCfg::new(
        "script.cfg",
        "listen=udp:127.0.0.1:5099\nloadmodule \"sl.so\"\nrequest_route {\n  t_relay();\n}\n",
    );
    let out = run_siprouter(&["-c", "-f", cfg.path()]);
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    assert!(
        err.contains("script.cfg:4:3: error: unknown function `t_relay`"),
        "{err}"
    );
    let cfg = TempCfg::new(
        "module.cfg",
        "loadmodule \"tm.so\"\nrequest_route { drop; }\n",
    );
    let out = run_siprouter(&["-c", "-f", cfg.path()]);
    assert_failed_with(&out, "module.cfg:1:12: error: module `tm` is not available");
}

#[test]
fn version_and_kamailio_options() {
    let out = run_siprouter(&["-V"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "version: siprouter {} ({}/{}) \n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS
        )) && text.contains("transports: udp tcp tls quic"),
        "{text}"
    );
    assert_eq!(stdout(&run_siprouter(&["-v"])), text);
    assert_eq!(stdout(&run_siprouter(&["--version"])), text);
    // A long option may be shortened as long as it names one option.
    assert_eq!(stdout(&run_siprouter(&["--vers"])), text);

    // The reference benchmark starts Kamailio with these; siprouter takes the same command line.
    let relay = corpus_dir().join("../bench/kamailio-relay.cfg");
    let out = run_siprouter(&[
        "-c",
        "-DD",
        "-E",
        "-m",
        "64",
        "-M",
        "8",
        "-x",
        "tlsf",
        "-Y",
        "/tmp",
        "-f",
        relay.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for opt in ["-m", "-M", "-x", "-Y"] {
        assert!(
            err.contains(&format!(
                "note: {opt} is accepted for Kamailio compatibility"
            )),
            "{err}"
        );
    }
    assert!(stdout(&out).contains("udp: 127.0.0.1 [127.0.0.1]:5060"));
    let bad = run_siprouter(&["-c", "-n", "many"]);
    assert_eq!(bad.status.code(), Some(255));
    assert!(
        stderr(&bad).contains("bad process number: -n many"),
        "{}",
        stderr(&bad)
    );
    // Read as `strtol` reads it; zero or less is Kamailio's default (unit-tested in
    // `compat::udp_children`).
    let relay = relay.to_str().unwrap();
    for n in [" 3", "-1", "0"] {
        let out = run_siprouter(&["-c", "-f", relay, "-n", n]);
        assert!(out.status.success(), "-n {n:?}: {}", stderr(&out));
    }
    // `-b` and `-B` the same way (their sizes are tested on a running server in
    // `socket_buffers.rs`): `-1` is the largest size, an empty word 0.
    for (opt, n) in [("-b", " 300000"), ("-b", "-1"), ("-B", "+0"), ("-B", "")] {
        let out = run_siprouter(&["-c", "-f", relay, opt, n]);
        assert!(out.status.success(), "{opt} {n:?}: {}", stderr(&out));
    }
    for (opt, n) in [("-b", "256k"), ("-B", " ")] {
        let bad = run_siprouter(&["-c", "-f", relay, opt, n]);
        assert_eq!(bad.status.code(), Some(255), "{opt} {n:?}");
        let want = format!("bad max buffer size number: {opt} {n}\n");
        assert!(stderr(&bad).ends_with(&want), "{}", stderr(&bad));
    }
}

#[test]
fn print_expanded_substitutes_defines_and_includes_with_their_origin() {
    let inc = TempCfg::new("inc.cfg", "alias=\"sip.example.org\"\n");
    let dir = std::path::Path::new(inc.path())
        .parent()
        .expect("folder")
        .to_path_buf();
    let main = dir.join("main.cfg");
    std::fs::write(
        &main,
        "#!ifdef WITH_TCP\nlisten=tcp:127.0.0.1:PORT\n#!endif\nlisten=udp:127.0.0.1:PORT\ninclude_file \"inc.cfg\"\n",
    )
    .expect("config");
    let main = main.to_str().expect("UTF-8 path");
    let out = run_siprouter(&["--print-expanded", "-A", "PORT=5071", "-f", main]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.split_once(" # "))
        .map(|(code, origin)| (code.trim_end(), origin))
        .collect();
    assert_eq!(
        lines,
        [
            ("listen=udp:127.0.0.1:5071", &*format!("{main}:4")),
            ("alias=\"sip.example.org\"", &*format!("{}:1", inc.path())),
        ],
        "{text}"
    );
    // A define given with -A switches the #!ifdef branch on.
    let out = run_siprouter(&[
        "--print-expanded",
        "-A",
        "PORT=5071",
        "-A",
        "WITH_TCP",
        "-f",
        main,
    ]);
    assert!(
        stdout(&out).starts_with("listen=tcp:127.0.0.1:5071 "),
        "{}",
        stdout(&out)
    );

    std::fs::write(dir.join("main.cfg"), "listen=\"unterminated\n").expect("config");
    let out = run_siprouter(&["--print-expanded", "-f", main]);
    assert_failed_with(&out, "main.cfg:1:8: error: ");
}

#[test]
fn a_bind_error_names_the_socket_and_its_config_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("occupy a port");
    let port = busy.local_addr().expect("address").port();
    let cfg = TempCfg::new(
        "bind.cfg",
        &format!(
            "auto_aliases=no\nlisten=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n\
             loadmodule \"sl.so\"\nrequest_route {{ sl_send_reply(\"200\", \"OK\"); }}\n"
        ),
    );
    let out = run_siprouter(&["-E", "-f", cfg.path()]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let want = format!("bind.cfg:3:1: error: cannot bind tcp:127.0.0.1:{port}: ");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

/// Kamailio's other options: those with an effect change the check's listing, the others
/// are accepted with a note saying why, or refused with Kamailio's reason.
#[test]
fn kamailio_options_act_or_say_why_not() {
    let cfg = TempCfg::new(
        "compat.cfg",
        "auto_aliases=no\nlisten=udp:127.0.0.1:5060\nlisten=tcp:127.0.0.1:5060\n\
         request_route {\n  exit;\n}\n",
    );
    let check = |extra: &[&str]| {
        let mut args = vec!["-c", "-f", cfg.path()];
        args.extend_from_slice(extra);
        run_siprouter(&args)
    };

    let both = check(&[]);
    assert!(both.status.success(), "{}", stderr(&both));
    assert!(stdout(&both).contains("tcp: 127.0.0.1 [127.0.0.1]:5060"));
    let no_tcp = check(&["-T"]);
    assert!(no_tcp.status.success(), "{}", stderr(&no_tcp));
    assert!(!stdout(&no_tcp).contains("tcp:"), "{}", stdout(&no_tcp));
    assert!(stdout(&no_tcp).contains("udp: 127.0.0.1 [127.0.0.1]:5060"));

    let aliased = check(&["--alias=tcp:sip.example.org:5070", "--domain=[::1]"]);
    assert!(aliased.status.success(), "{}", stderr(&aliased));
    let listing = stdout(&aliased);
    assert!(listing.contains("tcp: sip.example.org:5070\n"), "{listing}");
    assert!(listing.contains("*: ::1:*\n"), "{listing}");

    let accepted = check(&[
        "-W",
        "epoll_et",
        "-O",
        "3",
        "-K",
        "-rR",
        "-X",
        "qm",
        "--server-id=4",
        "--iuid=x",
        "--atexit=no",
        "--all-errors",
        "-S",
        "-N",
        "2",
        "-a",
        "no",
        "--debug=1",
    ]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    let notes = stderr(&accepted);
    for opt in [
        "-W epoll_et",
        "-O 3",
        "-K ",
        "-r ",
        "-R ",
        "-X ",
        "--server-id=4",
        "--iuid",
    ] {
        assert!(
            notes.contains(&format!("note: {opt}")),
            "no note for {opt}:\n{notes}"
        );
    }

    for (args, reason) in [
        (&["-Q", "2"][..], "could not configure SCTP children: -Q 2"),
        (&["-T", "-N", "2"], "could not configure TCP children: -N 2"),
        (&["-N", "x"], "bad process number: -N x"),
        (&["-a", "maybe"], "bad auto aliases parameter: maybe"),
        (&["-W", "fast"], "bad poll method name: -W fast"),
        (&["--alias=udp:a:1:2"], "Invalid alias value 'udp:a:1:2'"),
    ] {
        let out = check(args);
        assert_eq!(out.status.code(), Some(255), "{args:?}");
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }

    // Checked once the config is read: its `disable_tcp` counts, as `-T` does.
    let no_tcp_cfg = TempCfg::new(
        "no-tcp.cfg",
        "disable_tcp=yes\nlisten=udp:127.0.0.1:5060\nrequest_route {\n  exit;\n}\n",
    );
    let out = run_siprouter(&["-c", "-f", no_tcp_cfg.path(), "-N", "2"]);
    assert_failed_with(&out, "could not configure TCP children: -N 2");

    // `--loadmodule`: the module's functions work without its `loadmodule` line, and
    // `MOD_sl` is defined for the preprocessor.
    let preload = TempCfg::new(
        "preload.cfg",
        "listen=udp:127.0.0.1:5060\n#!ifdef MOD_sl\nrequest_route {\n  sl_send_reply(\"200\", \"OK\");\n}\n#!endif\n",
    );
    let out = run_siprouter(&[
        "-c",
        "-f",
        preload.path(),
        "--loadmodule=/usr/lib/kamailio/modules/sl.so",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_siprouter(&["--dump-ast", "-f", preload.path(), "--loadmodule", "sl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("sl_send_reply"), "MOD_sl is defined");
    let out = run_siprouter(&["--dump-ast", "-f", preload.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains("sl_send_reply"),
        "without --loadmodule, MOD_sl is not defined"
    );
    // Loaded once, as Kamailio does: not twice on the command line, nor again by the config.
    let out = run_siprouter(&[
        "-c",
        "-f",
        preload.path(),
        "--loadmodule=sl",
        "--loadmodule=sl.so",
    ]);
    assert_failed_with(&out, "module `sl` is loaded already");
    let twice = TempCfg::new(
        "twice.cfg",
        "listen=udp:127.0.0.1:5060\nloadmodule \"sl.so\"\nrequest_route {\n  exit;\n}\n",
    );
    let out = run_siprouter(&["-c", "-f", twice.path(), "--loadmodule=sl"]);
    assert_failed_with(
        &out,
        "twice.cfg:2:12: error: module `sl` is loaded already (with --loadmodule)",
    );
    // A first word `start` is refused before anything else; elsewhere it is ignored.
    let out = run_siprouter(&["start", "-V"]);
    assert_failed_with(&out, "'start' is not a supported argument");
    let out = run_siprouter(&["-c", "-f", preload.path(), "--loadmodule=sl", "start"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("note: ignoring arguments that are no option: start"));
    let out = run_siprouter(&["-c", "-f", preload.path(), "--loadmodule=tm.so"]);
    assert_failed_with(
        &out,
        "--loadmodule=tm.so: module `tm` is not available in siprouter",
    );

    // `--substdef`: the rule's name is defined before the config is read.
    let subst = TempCfg::new(
        "subst.cfg",
        "auto_aliases=no\nlisten=udp:127.0.0.1:MYPORT\nrequest_route {\n  exit;\n}\n",
    );
    let out = run_siprouter(&["-c", "-f", subst.path(), "--substdef=!MYPORT!5090!"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("udp: 127.0.0.1 [127.0.0.1]:5090"),
        "{}",
        stdout(&out)
    );
    let out = run_siprouter(&["-c", "-f", subst.path(), "--subst=/(/x/"]);
    assert_failed_with(&out, "<--subst=/(/x/>");

    // `--modparam`: a `modparam` line before the config's first, for `--loadmodule` modules;
    // its mistakes are shown in a source named after the option.
    let modparam = TempCfg::new(
        "modparam.cfg",
        "listen=udp:127.0.0.1:5060\nrequest_route {\n  sl_send_reply(\"200\", \"OK\");\n}\n",
    );
    let with = |extra: &[&str]| {
        let mut args = vec!["-c", "-f", modparam.path(), "--loadmodule=sl"];
        args.extend_from_slice(extra);
        run_siprouter(&args)
    };
    let out = with(&["--modparam=sl:bind_tm:i:0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("<--modparam=sl:bind_tm:i:0>:1:1: warning: modparam `sl.bind_tm`"),
        "{}",
        stderr(&out)
    );
    let out = with(&["--modparam=sl:nope:i:1"]);
    assert_failed_with(
        &out,
        "<--modparam=sl:nope:i:1>:1:16: error: module `sl` has no parameter `nope`",
    );
    let out = with(&["--modparam=sl:bind_tm:x:1"]);
    assert_failed_with(&out, "bad --modparam value 'sl:bind_tm:x:1'");

    let internals = run_siprouter(&["-I"]);
    assert!(internals.status.success());
    let text = stdout(&internals);
    assert!(
        text.contains("default config: /etc/siprouter/siprouter.cfg")
            && text.contains("max SIP message size: 65536 bytes"),
        "{text}"
    );

    let printed = run_siprouter(&["--cfg-print", "-f", cfg.path()]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    assert_eq!(
        stdout(&printed),
        stdout(&run_siprouter(&["--print-expanded", "-f", cfg.path()]))
    );
}

/// A config large enough to be parsed in pieces (and its route bodies checked early, piece
/// by piece): route `R{i}` on line `i + 5`, with `error()` (a warning) in every hundredth
/// and `bad` in route `R{bad}` if given.
fn large_config(bad: Option<usize>) -> String {
    let mut text = String::from(
        "listen=udp:127.0.0.1:5099\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nrequest_route { route(R0); }\n#\n",
    );
    for i in 0..1500 {
        let warn = if i % 100 == 0 { " error(\"w\");" } else { "" };
        let broken = if bad == Some(i) {
            " no_such_function();"
        } else {
            ""
        };
        let next = (i + 1) % 1500;
        text.push_str(&format!(
            "route[R{i}] {{ $var(x) = {i} + $var(x);{warn}{broken} if ($var(x) > 1000000) {{ route(R{next}); }} }}\n"
        ));
    }
    text
}

#[test]
fn a_large_configs_check_reports_its_warnings_and_first_error_in_order() {
    let cfg = TempCfg::new("large.cfg", &large_config(None));
    let out = run_siprouter(&["-c", "-f", cfg.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<usize> = stderr(&out)
        .lines()
        .filter(|l| l.contains("warning: error() does nothing at run time"))
        .filter_map(|l| l.split(':').nth(1)?.parse().ok())
        .collect();
    let expected: Vec<usize> = (0..1500).step_by(100).map(|i| i + 6).collect();
    assert_eq!(lines, expected, "{}", stderr(&out));

    // A flag declared after the routes: no early outcome holds (the context differs), and
    // the bodies freed after their early checks are read again; the warnings are all there.
    let late_flag = format!("{}flags FLAG_LATE;\n", large_config(None));
    let cfg = TempCfg::new("late-flag.cfg", &late_flag);
    let out = run_siprouter(&["-c", "-f", cfg.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let warnings = stderr(&out)
        .lines()
        .filter(|l| l.contains("warning: error() does nothing at run time"))
        .count();
    assert_eq!(warnings, 15, "{}", stderr(&out));

    // With `--dump-ast` the bodies checked early are kept: the tree is printed whole.
    let out = run_siprouter(&["-c", "--dump-ast", "-f", cfg.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("\"stmt\": \"If\"").count(), 1500);

    let cfg = TempCfg::new("late.cfg", &large_config(Some(1400)));
    let out = run_siprouter(&["-c", "-f", cfg.path()]);
    assert_failed_with(&out, "late.cfg:1406:");
    assert!(
        stderr(&out).contains("error: unknown function `no_such_function`"),
        "{}",
        stderr(&out)
    );
}
