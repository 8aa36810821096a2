//! temp
fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).expect("path"));
    let opts = cfg_lexer::LexOptions::default();
    let lexed = cfg_lexer::lex_file(&path, &opts, &cfg_lexer::FsLoader);
    eprintln!("{}", lexed.tokens.len());
    std::mem::forget(lexed);
}
