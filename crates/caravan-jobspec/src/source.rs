//! Source text, byte spans and the diagnostics that point into them.

use std::cell::OnceCell;
use std::fmt;
use std::ops::Range;

/// A byte range in a source text.
pub(crate) type Span = Range<usize>;

/// A source text with its line starts, to turn byte offsets into line:column.
/// The line index is built on first use: a file without errors never needs it.
#[derive(Debug)]
pub(crate) struct SourceText<'a> {
    pub name: &'a str,
    pub text: &'a str,
    line_starts: OnceCell<Vec<usize>>,
}

impl<'a> SourceText<'a> {
    pub fn new(name: &'a str, text: &'a str) -> Self {
        Self {
            name,
            text,
            line_starts: OnceCell::new(),
        }
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(
                self.text
                    .bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            );
            starts
        })
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.text, offset);
        let line_starts = self.line_starts();
        let line = line_starts.partition_point(|&start| start <= offset).max(1);
        let start = line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &'a str {
        let line_starts = self.line_starts();
        let Some(&start) = line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = line_starts.get(line).map_or(self.text.len(), |&next| next);
        let text = self.text.get(start..end).unwrap_or("");
        text.trim_end_matches(['\n', '\r'])
    }

    /// A diagnostic at a span of this text.
    pub fn diagnostic(&self, span: &Span, message: impl Into<String>) -> Diagnostic {
        let (line, col) = self.position(span.start);
        let source_line = self.line_text(line).to_owned();
        // Underline the span on its first line; at least one caret.
        let line_chars = source_line.chars().count();
        let end = if span.end > span.start {
            let (end_line, end_col) = self.position(span.end);
            if end_line == line {
                end_col
            } else {
                line_chars + 1
            }
        } else {
            col + 1
        };
        let width = end.saturating_sub(col).max(1);
        Diagnostic {
            file: self.name.to_owned(),
            line,
            col,
            message: message.into(),
            source_line,
            width,
            notes: Vec::new(),
        }
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One problem in a job file, at a line and column, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file's name as given in [`SourceFile::name`](crate::SourceFile).
    pub file: String,
    /// 1-based; 0 when the problem has no position (a `-var` flag, the environment).
    pub line: usize,
    /// 1-based, counted in characters.
    pub col: usize,
    pub message: String,
    /// The text of `line`, for the excerpt.
    pub source_line: String,
    /// How many characters the caret line underlines.
    pub width: usize,
    /// Extra lines printed after the excerpt (`= note: ...`).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic that is not in a file: a `-var` flag or an environment variable.
    pub fn without_position(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: origin.into(),
            line: 0,
            col: 0,
            message: message.into(),
            source_line: String::new(),
            width: 0,
            notes: Vec::new(),
        }
    }

    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    /// Formats the way rustc does: message, location, the line and a caret under the column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line == 0 {
            writeln!(f, "  --> {}", self.file)?;
        } else {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            writeln!(f, "{pad}--> {}:{}:{}", self.file, self.line, self.col)?;
            writeln!(f, "{pad} |")?;
            writeln!(f, "{number} | {}", self.source_line)?;
            // Keep tabs so that the caret lines up under tab-indented source.
            let indent: String = self
                .source_line
                .chars()
                .take(self.col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} | {indent}{}", "^".repeat(self.width.max(1)))?;
        }
        for note in &self.notes {
            writeln!(f, "  = note: {note}")?;
        }
        Ok(())
    }
}

/// Every problem found in a job file, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Orders by file and position, and drops exact repeats.
    pub(crate) fn sorted(mut diags: Vec<Diagnostic>) -> Self {
        diags.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        diags.dedup();
        Self(diags)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diag) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diag}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let src = SourceText::new("f", "ab\nçd = 1\n\nx");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(3), (2, 1));
        // 'ç' is two bytes: "d" starts at byte 5, column 2.
        assert_eq!(src.position(5), (2, 2));
        assert_eq!(src.position(11), (3, 1));
        assert_eq!(src.position(12), (4, 1));
        assert_eq!(src.position(999), (4, 2));
        // Inside a multi-byte char: rounds down.
        assert_eq!(src.position(4), (2, 1));
        assert_eq!(src.line_text(2), "çd = 1");
        assert_eq!(src.line_text(9), "");
    }

    #[test]
    fn renders_like_rustc() {
        let src = SourceText::new("job.nomad", "job \"x\" {\n  drivr = 1\n}\n");
        let diag = src.diagnostic(&(12..17), "unknown attribute `drivr`");
        assert_eq!(
            diag.to_string(),
            "error: unknown attribute `drivr`\n --> job.nomad:2:3\n  |\n2 |   drivr = 1\n  |   ^^^^^\n"
        );
    }

    #[test]
    fn renders_without_position() {
        let diag = Diagnostic::without_position("-var x=1", "unknown variable `x`");
        assert_eq!(
            diag.to_string(),
            "error: unknown variable `x`\n  --> -var x=1\n"
        );
    }
}
