//! Source files, byte spans and line/column positions.
//!
//! Every token and every diagnostic carries a [`Span`]: a [`FileId`] and a byte range. The
//! [`SourceMap`] owns the text of every file that took part in a lexing run — the main file,
//! included files, and *virtual* files that hold text which exists in no file on disk (a
//! define given on the command line, the value computed by `#!defexp`, a builtin define) —
//! and turns a span back into `file:line:column`.
//!
//! Columns are counted as Kamailio counts them: from 1, one column per byte (a TAB is one
//! column), a newline starts the next line at column 1.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

/// Identifies one source file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// The file the bytes are in.
    pub file: FileId,
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// A span covering `start..end` of `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start: clamp_u32(start),
            end: clamp_u32(end),
        }
    }

    /// The byte range as `usize`s.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both `self` and `other` (same file assumed; if the files
    /// differ, `self` is returned unchanged).
    pub fn to(&self, other: Span) -> Span {
        if self.file != other.file {
            return *self;
        }
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

fn clamp_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A 1-based line and column, as Kamailio reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LineCol {
    /// Line number, from 1.
    pub line: u32,
    /// Column number, from 1, one column per byte.
    pub col: u32,
}

/// Where the text of a [`SourceFile`] came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SourceOrigin {
    /// A file read through a [`SourceLoader`].
    File(PathBuf),
    /// Text that exists in no file (command-line define, computed define value, builtin).
    Virtual(String),
}

/// One file's text and its line table.
#[derive(Debug, Clone)]
pub struct SourceFile {
    origin: SourceOrigin,
    /// Shared with the lexer's frames. An `Arc<String>`, not `Arc<str>`: the text read from
    /// a file moves in without a copy of the whole file.
    text: Arc<String>,
    /// Where each line starts, built when positions are asked for often enough
    /// ([`COUNTED_LOOKUPS`]) or ahead of time ([`SourceMap::index_lines`]): a clean parse of
    /// a large file never pays for it.
    line_starts: std::sync::OnceLock<Vec<u32>>,
    /// The positions found by counting lines, before the index was built.
    counted: Counted,
}

/// A file's first this many positions (a check's few warnings) are found by counting the
/// line ends before them, about a tenth of the time of indexing every line of the file
/// (0.012 against 0.12 ms for the 552 KB of a 20,000-line config); after them the file's
/// lines are indexed, so that a file with many diagnostics pays for one index, not for a
/// count each.
const COUNTED_LOOKUPS: u32 = 8;

/// The positions a file found by counting: how many, and the last one (offset and line,
/// packed in one word so that they are read together), from which a later position
/// counts on (a diagnostic's end after its start, diagnostics in file order). Copied by a
/// clone (the file is cloned into each lexing thread's map).
#[derive(Debug)]
struct Counted {
    lookups: AtomicU32,
    last: AtomicU64,
}

impl Default for Counted {
    fn default() -> Self {
        Counted {
            lookups: AtomicU32::new(0),
            last: AtomicU64::new(pack(0, 1)),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted {
            lookups: AtomicU32::new(self.lookups.load(Ordering::Relaxed)),
            last: AtomicU64::new(self.last.load(Ordering::Relaxed)),
        }
    }
}

/// An offset and its 1-based line in one word.
fn pack(offset: u32, line: u32) -> u64 {
    (u64::from(offset) << 32) | u64::from(line)
}

/// [`pack`] undone.
fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// How many `\n` bytes `b` holds: 255-byte blocks summed in a byte counter, a loop the
/// compiler turns into vector compares (ten times `memchr_iter`'s speed on config text,
/// whose lines are short).
fn count_line_ends(b: &[u8]) -> usize {
    let mut blocks = b.chunks_exact(255);
    let mut n: usize = (&mut blocks)
        .map(|block| usize::from(block.iter().fold(0u8, |a, &c| a + u8::from(c == b'\n'))))
        .sum();
    n += blocks.remainder().iter().filter(|&&c| c == b'\n').count();
    n
}

impl SourceFile {
    fn new(origin: SourceOrigin, text: Arc<String>) -> Self {
        SourceFile {
            origin,
            text,
            line_starts: std::sync::OnceLock::new(),
            counted: Counted::default(),
        }
    }

    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0u32];
            starts
                .extend(memchr::memchr_iter(b'\n', self.text.as_bytes()).map(|i| clamp_u32(i + 1)));
            starts
        })
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Where the text came from.
    pub fn origin(&self) -> &SourceOrigin {
        &self.origin
    }

    /// The name to show in messages: the path as it was opened, or `<name>` for virtual text.
    pub fn display_name(&self) -> String {
        match &self.origin {
            SourceOrigin::File(p) => p.display().to_string(),
            SourceOrigin::Virtual(n) => format!("<{n}>"),
        }
    }

    /// Line and column of a byte offset (offsets past the end map to the end).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = clamp_u32(offset.min(self.text.len()));
        if self.line_starts.get().is_none()
            && self.counted.lookups.fetch_add(1, Ordering::Relaxed) < COUNTED_LOOKUPS
        {
            return self.line_col_counted(offset);
        }
        let line_starts = self.line_starts();
        let line_idx = match line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let line_start = line_starts.get(line_idx).copied().unwrap_or(0);
        LineCol {
            line: clamp_u32(line_idx + 1),
            col: offset - line_start + 1,
        }
    }

    /// [`SourceFile::line_col`] without the index: the line ends before `offset` counted
    /// (from the last counted position when that comes first), the line's start found
    /// backwards from it.
    fn line_col_counted(&self, offset: u32) -> LineCol {
        let text = self.text.as_bytes();
        let (from, line) = match unpack(self.counted.last.load(Ordering::Relaxed)) {
            (from, line) if from <= offset => (from, line),
            _ => (0, 1),
        };
        let between = text.get(from as usize..offset as usize).unwrap_or_default();
        let line = line.saturating_add(clamp_u32(count_line_ends(between)));
        self.counted
            .last
            .store(pack(offset, line), Ordering::Relaxed);
        let before = text.get(..offset as usize).unwrap_or_default();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| clamp_u32(i + 1));
        LineCol {
            line,
            col: offset - line_start + 1,
        }
    }

    pub(crate) fn shared_text(&self) -> Arc<String> {
        Arc::clone(&self.text)
    }
}

/// All source files of one lexing run.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, origin: SourceOrigin, text: impl Into<String>) -> FileId {
        self.add_shared(origin, Arc::new(text.into()))
    }

    /// [`SourceMap::add`] for text already shared.
    pub(crate) fn add_shared(&mut self, origin: SourceOrigin, text: Arc<String>) -> FileId {
        let id = FileId(clamp_u32(self.files.len()));
        self.files.push(SourceFile::new(origin, text));
        id
    }

    /// The file with this id.
    ///
    /// # Panics
    /// Never for ids handed out by this map; an id from another map may panic.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// All files, in the order they were added.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(clamp_u32(i)), f))
    }

    /// Indexes every file's lines now (each file does it once, on its first
    /// [`SourceFile::line_col`]): for a thread that would otherwise wait, so that the
    /// locations of the diagnostics that follow cost no pass over a large file then.
    pub fn index_lines(&self) {
        for file in &self.files {
            file.line_starts();
        }
    }

    /// How many files there are.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The text a span covers (empty if the span is out of range).
    pub fn text(&self, span: Span) -> &str {
        self.file(span.file).text().get(span.range()).unwrap_or("")
    }

    /// Resolves a span's start to a printable location.
    pub fn location(&self, span: Span) -> Location {
        let file = self.file(span.file);
        Location {
            file: file.display_name(),
            start: file.line_col(span.start as usize),
            end: file.line_col((span.end as usize).max(span.start as usize + 1) - 1),
        }
    }
}

/// A resolved position: file name, first and last character of a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// File name as shown to the user.
    pub file: String,
    /// Line and column of the first byte.
    pub start: LineCol,
    /// Line and column of the last byte (Kamailio's "end column").
    pub end: LineCol,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.start.line, self.start.col)
    }
}

/// Reads the text of included files. The lexer never touches the file system itself, so an
/// editor can feed unsaved buffers and tests can use an in-memory tree. `Sync`, because the
/// parts of a large file are lexed on threads of their own.
pub trait SourceLoader: Sync {
    /// Returns the text of `path`, or an I/O error (`NotFound` for missing files).
    fn load(&self, path: &Path) -> std::io::Result<String>;

    /// Whether `path` exists (used to pick between candidate include paths).
    fn exists(&self, path: &Path) -> bool;

    /// A key that identifies the file regardless of how its path was spelled (used to detect
    /// include loops). The default is the path itself.
    fn identity(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

/// A config file's bytes as text: an `InvalidData` error naming the offset of the first byte
/// that is not UTF-8 (what [`FsLoader`] reports; for loaders that read elsewhere).
pub fn text_from_bytes(bytes: Vec<u8>) -> std::io::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not valid UTF-8 (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// A [`SourceLoader`] over the real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        text_from_bytes(std::fs::read(path)?)
    }

    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// A [`SourceLoader`] over an in-memory set of files, keyed by path.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: std::collections::HashMap<PathBuf, String>,
}

impl MemoryLoader {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) {
        self.files.insert(normalize_path(&path.into()), text.into());
    }
}

impl SourceLoader for MemoryLoader {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(&normalize_path(path))
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize_path(path))
    }

    fn identity(&self, path: &Path) -> PathBuf {
        normalize_path(path)
    }
}

/// A [`SourceLoader`] over the files a lex already read (the [`SourceMap`] of its result):
/// a second lex of the same config sees exactly the texts the first saw, and reads nothing
/// from the file system (a file changed or removed in between makes no difference). For a
/// config parsed again after a fast first pass, such as a check that freed what it no
/// longer needed. A path the first lex did not read does not exist here.
#[derive(Debug, Clone, Copy)]
pub struct ReadLoader<'a> {
    sources: &'a SourceMap,
}

impl<'a> ReadLoader<'a> {
    /// A loader over the files in `sources`.
    pub fn new(sources: &'a SourceMap) -> Self {
        ReadLoader { sources }
    }

    /// The text read from `path`, if it was.
    pub(crate) fn text(&self, path: &Path) -> Option<&'a str> {
        self.sources.files.iter().find_map(|f| match &f.origin {
            SourceOrigin::File(p) if p == path => Some(f.text()),
            _ => None,
        })
    }
}

impl SourceLoader for ReadLoader<'_> {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        self.text(path)
            .map(str::to_owned)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    fn exists(&self, path: &Path) -> bool {
        self.text(path).is_some()
    }

    /// The path as given: the first lex, which knew the files behind the paths, found no
    /// loop (a failed lex is not lexed again this way), and a path repeated is a file
    /// repeated, so this finds none either.
    fn identity(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

/// Removes `.` components and folds `dir/..` pairs, without touching the file system.
pub fn normalize_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_bytes_from_one() {
        let mut map = SourceMap::new();
        let id = map.add(SourceOrigin::Virtual("t".into()), "ab\n\tcd\n");
        let f = map.file(id);
        assert_eq!(f.line_col(0), LineCol { line: 1, col: 1 });
        assert_eq!(f.line_col(2), LineCol { line: 1, col: 3 });
        assert_eq!(f.line_col(3), LineCol { line: 2, col: 1 });
        assert_eq!(f.line_col(5), LineCol { line: 2, col: 3 });
        assert_eq!(f.line_col(7), LineCol { line: 3, col: 1 });
        assert_eq!(f.line_col(999), LineCol { line: 3, col: 1 });
    }

    #[test]
    fn the_first_positions_are_counted_then_the_lines_indexed() {
        let mut map = SourceMap::new();
        let id = map.add(SourceOrigin::Virtual("t".into()), "a\nb\nc\n");
        let f = map.file(id);
        for _ in 0..COUNTED_LOOKUPS {
            assert_eq!(f.line_col(4), LineCol { line: 3, col: 1 });
            assert!(f.line_starts.get().is_none(), "counted, not indexed");
        }
        assert_eq!(f.line_col(4), LineCol { line: 3, col: 1 });
        assert!(
            f.line_starts.get().is_some(),
            "indexed after the counted ones"
        );
    }

    proptest::proptest! {
        /// Counting the line ends before a position gives what the line index gives, at
        /// every offset (and past the end), across the 255-byte blocks of the count, asked
        /// in file order (each count goes on from the last), backwards and in any order.
        #[test]
        fn a_counted_position_is_the_indexed_one(
            text in "([a\\r\\t]|\\n|\\r\\n|é|\\n\\n){0,400}",
            past in 0usize..3,
            shuffled in proptest::collection::vec(0usize..1000, 0..20),
        ) {
            let mut map = SourceMap::new();
            let id = map.add(SourceOrigin::Virtual("t".into()), text.clone());
            let indexed = map.clone();
            indexed.index_lines();
            let f = map.file(id);
            let forward = 0..=text.len() + past;
            let order = forward.clone().chain(forward.rev()).chain(shuffled);
            for offset in order {
                let counted = f.line_col_counted(clamp_u32(offset.min(text.len())));
                proptest::prop_assert_eq!(counted, indexed.file(id).line_col(offset), "at {}", offset);
            }
        }
    }

    #[test]
    fn lines_indexed_ahead_give_the_same_places() {
        let mut map = SourceMap::new();
        let a = map.add(SourceOrigin::Virtual("a".into()), "x\ny\n");
        let b = map.add(SourceOrigin::Virtual("b".into()), "\n\nzz");
        let fresh = map.clone();
        map.index_lines();
        assert!(map.files().all(|(_, f)| f.line_starts.get().is_some()));
        for (id, offset) in [(a, 2), (a, 3), (b, 2), (b, 3)] {
            assert_eq!(
                map.file(id).line_col(offset),
                fresh.file(id).line_col(offset)
            );
        }
        assert_eq!(map.file(b).line_col(3), LineCol { line: 3, col: 2 });
    }

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(
            normalize_path(Path::new("a/./b/../c.cfg")),
            PathBuf::from("a/c.cfg")
        );
        assert_eq!(normalize_path(Path::new("../x")), PathBuf::from("../x"));
    }
}
