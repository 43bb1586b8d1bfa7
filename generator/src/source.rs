//! A pipeline file's text and the conversions between byte offsets and line:column positions.

use std::path::Path;

/// Largest pipeline file read, in bytes. Pipelines are small; anything larger is a mistake, and the
/// limit bounds the memory and time validation can take.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A byte range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end: end.max(start) }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers nothing.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

/// The text of a pipeline file with its name.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
    /// Per line, whether it is ASCII (its columns are then byte offsets: no walk over its characters).
    line_ascii: Vec<bool>,
}

impl SourceFile {
    /// A source from text already in memory.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let ends = line_starts.iter().skip(1).map(|&next| next - 1).chain([text.len()]);
        let line_ascii = line_starts.iter().zip(ends).map(|(&start, end)| text[start..end].is_ascii()).collect();
        SourceFile { name: name.into(), text, line_starts, line_ascii }
    }

    /// Reads a file, refusing one above [`MAX_FILE_BYTES`] or not UTF-8.
    pub fn read(path: &Path) -> Result<SourceFile, ReadError> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| ReadError::Io(name.clone(), e))?;
        if meta.len() > MAX_FILE_BYTES as u64 {
            return Err(ReadError::TooLarge(name, meta.len()));
        }
        let bytes = std::fs::read(path).map_err(|e| ReadError::Io(name.clone(), e))?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge(name, bytes.len() as u64));
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(name, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                Err(ReadError::NotUtf8(name, at))
            }
        }
    }

    /// The file's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The byte offset of a 1-based line and a 0-based character column, clamped to the text.
    pub fn offset(&self, line: usize, col_chars: usize) -> usize {
        let index = line.saturating_sub(1);
        let Some(&start) = self.line_starts.get(index) else {
            return self.text.len();
        };
        let end = self.line_end(index);
        if self.line_ascii[index] {
            return start + col_chars.min(end - start);
        }
        self.text[start..end].char_indices().nth(col_chars).map_or(end, |(i, _)| start + i)
    }

    /// The 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = if self.line_ascii[line - 1] {
            offset - start + 1
        } else {
            self.text.get(start..offset).map_or(1, |s| s.chars().count() + 1)
        };
        Position { line, column }
    }

    /// The line holding a byte offset, without its line break.
    pub fn line_span(&self, offset: usize) -> Span {
        let offset = offset.min(self.text.len());
        let index = self.line_starts.partition_point(|&s| s <= offset) - 1;
        Span::new(self.line_starts[index], self.line_end(index))
    }

    /// The byte offset where the line of 0-based `index` ends (its `\n`, or the end of the text).
    fn line_end(&self, index: usize) -> usize {
        self.line_starts.get(index + 1).map_or(self.text.len(), |next| next - 1)
    }
}

/// Why a pipeline file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{0} is {1} bytes; a pipeline file may have at most {MAX_FILE_BYTES} bytes")]
    TooLarge(String, u64),
    /// The file is not UTF-8 text.
    #[error("{0} is not UTF-8 text (invalid byte at offset {1}); is it a binary file?")]
    NotUtf8(String, usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_positions_agree() {
        let src = SourceFile::new("f.yaml", "a: 1\nbé: 2\n\nc: x");
        assert_eq!(src.offset(2, 0), 5);
        assert_eq!(src.offset(2, 2), 8);
        assert_eq!(src.position(8), Position { line: 2, column: 3 });
        assert_eq!(src.position(0), Position { line: 1, column: 1 });
        assert_eq!(src.position(src.text().len()), Position { line: 4, column: 5 });
        assert_eq!(src.offset(99, 0), src.text().len());
        assert_eq!(src.offset(1, 99), 4, "a column past the end of a line stops at its end");
        assert_eq!(src.offset(2, 99), 11);
        assert_eq!(src.line_span(6), Span::new(5, 11));
        assert_eq!(src.line_span(12), Span::new(12, 12));
        assert_eq!(src.line_span(src.text().len()), Span::new(13, 17));
    }
}
