//! A small reader of Zeek TSV logs.
//!
//! Reads what Zeek's ASCII writer (and [`LogWriterSet`](crate::LogWriterSet))
//! writes, including files that concatenate several logs, each with its
//! own `#separator`…`#types` header block (as `cat a.log b.log` makes).
//! It never panics on malformed input: it returns
//! [`ErrorKind::Malformed`](crate::ErrorKind::Malformed) with the line.

use std::path::Path;

use crate::Error;

/// A Zeek TSV log with its values still escaped as in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZeekTsv {
    /// Column names: the union, in order of first appearance, of the
    /// `#fields` of every header block.
    pub fields: Vec<String>,
    /// Zeek type of each column (`""` if no `#types` line named it).
    pub types: Vec<String>,
    /// One entry per data row, aligned with `fields`. Values are as in
    /// the file (escaped; `-` unset, `(empty)` empty); a column the row's
    /// block does not have is `-`.
    pub rows: Vec<Vec<String>>,
}

/// Read a Zeek TSV log: column names and rows of unescaped values.
///
/// `\xHH` escapes become the byte they name and `\\` a backslash (Zeek's
/// ASCII writer writes a backslash as `\\`); bytes that are not UTF-8
/// after unescaping are replaced by U+FFFD. `-` (unset) and `(empty)`
/// are returned as they are, so a value that was exactly `-` (written
/// `\x2d`) reads the same as an unset one: use [`read_zeek_tsv_raw`]
/// and [`zeek_unescape`] when that difference, or commas inside set
/// elements, matter.
pub fn read_zeek_tsv(path: impl AsRef<Path>) -> Result<(Vec<String>, Vec<Vec<String>>), Error> {
    let log = read_zeek_tsv_raw(path)?;
    let rows = log
        .rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| String::from_utf8_lossy(&zeek_unescape(&v)).into_owned())
                .collect()
        })
        .collect();
    Ok((log.fields, rows))
}

/// Read a Zeek TSV log, keeping values escaped (see [`ZeekTsv`]).
pub fn read_zeek_tsv_raw(path: impl AsRef<Path>) -> Result<ZeekTsv, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::read(path.to_path_buf(), e))?;
    parse_zeek_tsv(&bytes).map_err(|(line, msg)| Error::malformed(path.to_path_buf(), line, msg))
}

/// Undo Zeek's ASCII escaping of one value: `\xHH` → byte, `\\` → `\`.
/// Anything else, including a malformed escape, is kept as is.
pub fn zeek_unescape(value: &str) -> Vec<u8> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match (b.get(i + 1), b.get(i + 2), b.get(i + 3)) {
                (Some(b'x'), Some(&h), Some(&l)) => {
                    if let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) {
                        out.push(h << 4 | l);
                        i += 4;
                        continue;
                    }
                }
                (Some(b'\\'), _, _) => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Split an escaped set or vector value into its escaped elements.
/// `-` (unset) and `(empty)` give no elements.
pub fn zeek_split_container(value: &str) -> Vec<&str> {
    if value == "-" || value == "(empty)" {
        return Vec::new();
    }
    value.split(',').collect()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The header state of the block being read.
struct Block {
    sep: Vec<u8>,
    /// Index in the union `fields` of each column of this block.
    cols: Option<Vec<usize>>,
}

/// Parse Zeek TSV bytes (see [`read_zeek_tsv_raw`]); a malformed file
/// gives the line number and the reason.
pub fn parse_zeek_tsv(bytes: &[u8]) -> Result<ZeekTsv, (u64, String)> {
    let mut log = ZeekTsv::default();
    let mut block = Block {
        sep: b"\t".to_vec(),
        cols: None,
    };
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let lineno = n as u64 + 1;
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            meta_line(&mut log, &mut block, line).map_err(|m| (lineno, m))?;
            continue;
        }
        let Some(cols) = &block.cols else {
            return Err((lineno, "data row before any #fields line".into()));
        };
        let values: Vec<&[u8]> = split_on(line, &block.sep);
        if values.len() != cols.len() {
            return Err((
                lineno,
                format!("{} values for {} fields", values.len(), cols.len()),
            ));
        }
        let mut row = vec!["-".to_string(); log.fields.len()];
        for (&col, v) in cols.iter().zip(values) {
            row[col] = String::from_utf8_lossy(v).into_owned();
        }
        log.rows.push(row);
    }
    let width = log.fields.len();
    for row in &mut log.rows {
        row.resize(width, "-".to_string());
    }
    Ok(log)
}

fn meta_line(log: &mut ZeekTsv, block: &mut Block, line: &[u8]) -> Result<(), String> {
    if let Some(v) = line.strip_prefix(b"#separator ") {
        let sep = zeek_unescape(&String::from_utf8_lossy(v));
        if sep.is_empty() {
            return Err("empty #separator".into());
        }
        *block = Block { sep, cols: None };
        return Ok(());
    }
    let parts = split_on(line, &block.sep);
    match parts[0] {
        b"#fields" => {
            let cols = parts[1..]
                .iter()
                .map(|name| {
                    let name = String::from_utf8_lossy(name);
                    match log.fields.iter().position(|f| *f == name) {
                        Some(i) => i,
                        None => {
                            log.fields.push(name.into_owned());
                            log.types.push(String::new());
                            log.fields.len() - 1
                        }
                    }
                })
                .collect();
            block.cols = Some(cols);
        }
        b"#types" => {
            let Some(cols) = &block.cols else {
                return Err("#types before #fields".into());
            };
            if parts.len() - 1 != cols.len() {
                return Err(format!(
                    "{} types for {} fields",
                    parts.len() - 1,
                    cols.len()
                ));
            }
            for (&col, ty) in cols.iter().zip(&parts[1..]) {
                if log.types[col].is_empty() {
                    log.types[col] = String::from_utf8_lossy(ty).into_owned();
                }
            }
        }
        // #set_separator, #empty_field, #unset_field, #path, #open,
        // #close and comments: nothing to keep.
        _ => {}
    }
    Ok(())
}

fn split_on<'a>(line: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(pos) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..pos]);
        rest = &rest[pos + sep.len()..];
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_hex_and_backslash() {
        assert_eq!(zeek_unescape(r"a\x09b"), b"a\tb");
        assert_eq!(zeek_unescape(r"AB\\xffCD\x00"), b"AB\\xffCD\0");
        assert_eq!(zeek_unescape(r"\xFF\xfe"), [0xff, 0xfe]);
        // Malformed escapes stay as they are.
        assert_eq!(zeek_unescape(r"\x4"), br"\x4");
        assert_eq!(zeek_unescape(r"\xzz\"), br"\xzz\");
    }

    #[test]
    fn blocks_with_different_fields_are_merged_by_name() {
        let text = "#separator \\x09\n#fields\ta\tb\n#types\tstring\tcount\nx\t1\n\
                    #close\tX\n#separator \\x09\n#fields\tb\tc\n#types\tcount\tbool\n2\tT\n";
        let log = parse_zeek_tsv(text.as_bytes()).unwrap();
        assert_eq!(log.fields, ["a", "b", "c"]);
        assert_eq!(log.types, ["string", "count", "bool"]);
        assert_eq!(log.rows, [["x", "1", "-"], ["-", "2", "T"]]);
    }

    #[test]
    fn other_separator() {
        let text = "#separator ||\n#fields||a||b\nx||y\n";
        let log = parse_zeek_tsv(text.as_bytes()).unwrap();
        assert_eq!(log.rows, [["x", "y"]]);
    }

    #[test]
    fn malformed_rows_are_errors_with_line_numbers() {
        assert_eq!(parse_zeek_tsv(b"x\ty\n").unwrap_err().0, 1);
        let e = parse_zeek_tsv(b"#fields\ta\tb\n1\t2\n1\n").unwrap_err();
        assert_eq!(e.0, 3);
        assert!(parse_zeek_tsv(b"#separator \n").is_err());
        assert!(parse_zeek_tsv(b"#types\tcount\n").is_err());
    }

    #[test]
    fn never_panics_on_noise() {
        // A deterministic pseudo-random walk over header and data bytes.
        let alphabet = b"#\t\n\\x09afields types,-()separator ";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (state % 64) as usize;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                buf.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = parse_zeek_tsv(&buf);
            let _ = zeek_unescape(&String::from_utf8_lossy(&buf));
        }
    }
}
