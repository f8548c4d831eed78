//! Aligned text output: column tables (`ID  Type  Status`) and key/value blocks
//! (`ID     = web`), the two shapes every command prints.

/// Two spaces between columns, as Nomad's tables have.
const GUTTER: &str = "  ";

/// A table with a header row; columns are left-aligned and padded to the widest cell.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty and extra cells are kept.
    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The header and every row, one string per line, without trailing spaces.
    pub(crate) fn lines(&self) -> Vec<String> {
        let all: Vec<&Vec<String>> = std::iter::once(&self.header).chain(&self.rows).collect();
        let ncols = all.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut widths = vec![0usize; ncols];
        for row in &all {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(width(cell));
            }
        }
        all.iter()
            .filter(|row| !row.is_empty())
            .map(|row| {
                let mut line = String::new();
                for (i, cell) in row.iter().enumerate() {
                    if i > 0 {
                        line.push_str(GUTTER);
                    }
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', widths[i] - width(cell)));
                }
                line.trim_end().to_owned()
            })
            .collect()
    }
}

/// `Key = value` lines with the `=` signs aligned; an empty value prints `<none>`.
pub(crate) fn kv<K: AsRef<str>>(pairs: &[(K, String)]) -> Vec<String> {
    let key_width = pairs
        .iter()
        .map(|(k, _)| width(k.as_ref()))
        .max()
        .unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| {
            let k = k.as_ref();
            let v = if v.is_empty() { "<none>" } else { v.as_str() };
            let pad = " ".repeat(key_width - width(k));
            format!("{k}{pad} = {v}")
        })
        .collect()
}

/// Display width in characters (ids, names and numbers here are not wide glyphs).
fn width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_and_trims_trailing_space() {
        let mut t = Table::new(&["ID", "Type", "Status"]);
        t.row(["web", "service", "running"]);
        t.row(["batch-job-long", "batch", ""]);
        assert_eq!(
            t.lines(),
            [
                "ID              Type     Status",
                "web             service  running",
                "batch-job-long  batch",
            ]
        );
    }

    #[test]
    fn header_only_and_ragged_rows() {
        let t = Table::new(&["A", "B"]);
        assert_eq!(t.lines(), ["A  B"]);
        let mut t = Table::new(&["A"]);
        t.row(["x", "extra"]);
        assert_eq!(t.lines(), ["A", "x  extra"]);
    }

    #[test]
    fn counts_characters_not_bytes() {
        let mut t = Table::new(&["Name", "N"]);
        t.row(["état", "1"]);
        assert_eq!(t.lines(), ["Name  N", "état  1"]);
    }

    #[test]
    fn key_values_align_and_show_none() {
        let lines = kv(&[("ID", "web".to_owned()), ("Submit Date", String::new())]);
        assert_eq!(lines, ["ID          = web", "Submit Date = <none>"]);
    }
}
