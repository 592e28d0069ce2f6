//! Errors that name their place: `file:line:col: message`.

use std::fmt;
use std::ops::Range;

/// A schema file's text, with what it takes to turn byte offsets into
/// line and column.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as given (shown in errors).
    pub path: String,
    /// The text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    /// A source from its path and text.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line, col)
    }
}

/// One error in a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong, naming the struct and field where there is one.
    pub message: String,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Errors collected over a run, reported together: the payload of
/// [`Error::Schema`](crate::Error::Schema).
#[derive(Debug, Default, Clone)]
pub struct Diags {
    /// In the order found.
    pub list: Vec<Diag>,
}

impl Diags {
    /// Records an error at `span` of `src`.
    pub(crate) fn at(&mut self, src: &Source, span: Range<usize>, message: String) {
        let (line, col) = src.line_col(span.start);
        self.list.push(Diag {
            file: src.path.clone(),
            line,
            col,
            message,
        });
    }

    /// Records an error with no place in a file.
    pub(crate) fn file(&mut self, file: &str, message: String) {
        self.list.push(Diag {
            file: file.to_string(),
            line: 1,
            col: 1,
            message,
        });
    }

    /// Whether nothing went wrong.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl fmt::Display for Diags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.list.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn line_and_column_are_one_based() {
        let s = Source::new("x.toml", "ab\ncdé\nf");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(1), (1, 2));
        assert_eq!(s.line_col(3), (2, 1));
        assert_eq!(s.line_col(7), (2, 4)); // after the two-byte é
        assert_eq!(s.line_col(8), (3, 1));
        assert_eq!(s.line_col(1000), (3, 2));
    }
}
