//! # siprouter
//!
//! The thin binary of the pipeline (text → tokens → AST → socket records → transports →
//! router). Today it reads and preprocesses the configuration — the bundled one, or the file
//! given with `-f` — reports every lexical and preprocessor problem with `file:line:column`,
//! and says what the config would bring up once the later stages exist.
//!
//! Serving SIP needs the parser, socket resolution, transports and the router, which are not
//! written yet: this binary says so plainly instead of pretending.
//!
//! Dependencies: `clap` for Kamailio-compatible options with usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use cfg_lexer::{lex_file, lex_str, FsLoader, LexOptions, Lexed};
use clap::Parser;

/// The config compiled into the binary, used when the default path does not exist.
const BUNDLED_CONFIG: &str = include_str!("../../../configs/siprouter.cfg");
/// Where siprouter looks for its config when `-f` is not given.
const DEFAULT_CONFIG_PATH: &str = "/etc/siprouter/siprouter.cfg";

/// A SIP server that reads Kamailio's configuration language.
#[derive(Debug, Parser)]
#[command(name = "siprouter", version, about)]
struct Cli {
    /// Configuration file (default: /etc/siprouter/siprouter.cfg, else the bundled config).
    #[arg(short = 'f', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration and exit (0 when it is valid, 1 otherwise).
    #[arg(short = 'c')]
    check: bool,
    /// Define a preprocessor name, as `#!define NAME VALUE` would (repeatable).
    #[arg(short = 'A', value_name = "NAME[=VALUE]")]
    defines: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut opts = LexOptions::default();
    for d in &cli.defines {
        let (name, value) = match d.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (d.clone(), None),
        };
        opts.defines.push((name, value));
    }
    let (lexed, name) = load(&cli, &opts);
    for d in &lexed.diagnostics {
        eprintln!("{}", d.render(&lexed.sources));
    }
    let errors = lexed.errors().count();
    if errors > 0 {
        eprintln!("siprouter: {name}: {errors} error(s); the configuration is not valid");
        return ExitCode::FAILURE;
    }
    println!(
        "siprouter: {name}: {} tokens from {} file(s), no lexical or preprocessor errors",
        lexed.tokens.len(),
        1 + lexed.included_files.len()
    );
    if cli.check {
        println!("siprouter: configuration check passed (lexer and preprocessor stages)");
        return ExitCode::SUCCESS;
    }
    println!(
        "siprouter: serving SIP needs the parser, socket, transport and routing stages, \
         which are not built yet; exiting"
    );
    ExitCode::SUCCESS
}

/// Reads the config named by `-f`, the default path, or the bundled config.
fn load(cli: &Cli, opts: &LexOptions) -> (Lexed, String) {
    if let Some(path) = &cli.config {
        return (lex_file(path, opts, &FsLoader), path.display().to_string());
    }
    let default = PathBuf::from(DEFAULT_CONFIG_PATH);
    if default.is_file() {
        return (
            lex_file(&default, opts, &FsLoader),
            DEFAULT_CONFIG_PATH.into(),
        );
    }
    eprintln!("siprouter: {DEFAULT_CONFIG_PATH} does not exist; using the bundled configuration");
    let name = "<bundled siprouter.cfg>";
    (lex_str(name, BUNDLED_CONFIG, opts), name.into())
}
