//! Printing results: aligned tables for people, JSON or YAML for programs.
//!
//! A command builds its result once as a `serde_json::Value` (the machine form, whose
//! field names `docs/cli.md` lists) and, for table output, a text rendering. Streams of
//! records (`consume`) print one item at a time: a JSON object per line, a YAML document per
//! record, or a line of the `--format` template.

use std::io::Write;

use anyhow::Result;
use serde_json::Value;

use super::Output;
use super::yaml;

/// Prints results in one output format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    format: Output,
}

impl Printer {
    /// A printer for `format`.
    pub fn new(format: Output) -> Printer {
        Printer { format }
    }

    /// Prints a command's whole result: `human()` as tables, else `value`.
    pub fn print(&self, value: &Value, human: impl FnOnce() -> String) -> Result<()> {
        let text = match self.format {
            Output::Table => human(),
            Output::Json => serde_json::to_string_pretty(value)? + "\n",
            Output::Yaml => yaml::to_string(value),
        };
        write_stdout(&text)
    }

    /// Prints one item of a stream: `human()` as a line, a JSON object on one line, or a
    /// YAML document.
    pub fn print_item(&self, value: &Value, human: impl FnOnce() -> String) -> Result<()> {
        let text = match self.format {
            Output::Table => human() + "\n",
            Output::Json => serde_json::to_string(value)? + "\n",
            Output::Yaml => format!("---\n{}", yaml::to_string(value)),
        };
        write_stdout(&text)
    }
}

/// Writes and flushes, so that a reader of a stream sees each item as it comes.
fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Whether `error` is a write to a pipe whose reader has gone.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Columns under headers, each as wide as its widest cell, two spaces apart.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per header).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines, each ending in a newline, without trailing spaces.
    pub fn render(&self) -> String {
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                lines
                    .iter()
                    .filter_map(|l| l.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in lines {
            let mut text = String::new();
            for (c, cell) in line.iter().enumerate() {
                if c > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                let pad = widths[c].saturating_sub(cell.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `1 record`, `2 records`.
pub fn plural(count: impl Into<u64>, noun: &str) -> String {
    let count = count.into();
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `value`, or `-` for none.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Node ids as `1,2,3`.
pub fn ids(ids: &[i32]) -> String {
    let text: Vec<String> = ids.iter().map(i32::to_string).collect();
    text.join(",")
}

/// A topic id as Kafka prints it: URL-safe base64 without padding.
pub fn topic_id(id: &[u8; 16]) -> String {
    base64(id, URL_SAFE, false)
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard base64 with padding, for bytes that are not UTF-8.
pub fn base64_standard(bytes: &[u8]) -> String {
    base64(bytes, STANDARD, true)
}

fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..4 {
            if i < symbols {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_under_their_headers() {
        let mut table = Table::new(&["NAME", "PARTITIONS", "INTERNAL"]);
        table.row(vec!["orders".into(), "3".into(), "false".into()]);
        table.row(vec!["a".into(), "12".into(), "true".into()]);
        assert_eq!(
            table.render(),
            "NAME    PARTITIONS  INTERNAL\n\
             orders  3           false\n\
             a       12          true\n"
        );
        assert_eq!(Table::new(&["A", "B"]).render(), "A  B\n");
    }

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_standard(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE, false), "-_8");
        // Kafka's Uuid.toString of 0x00..01 is 22 characters.
        let mut id = [0; 16];
        id[15] = 1;
        assert_eq!(topic_id(&id), "AAAAAAAAAAAAAAAAAAAAAQ");
    }
}
