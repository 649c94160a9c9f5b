//! The Pwned Passwords file format, line by line: `HEX:COUNT` lines with CR
//! LF or LF line ends, read a line at a time at byte offsets so that a huge
//! file is never held in memory.
//!
//! A leaf: it imports nothing from this crate, so both the configuration
//! (which checks that a configured file looks right) and the breached-
//! password search can use it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// The longest line the file may hold: 40 hex digits, `:`, a count, CR LF.
pub(crate) const MAX_LINE: usize = 256;

/// `HEX:COUNT` with `hex_len` hex digits; `None` if the line is not that.
pub(crate) fn parse_line(line: &[u8], hex_len: usize) -> Option<(&[u8], u64)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (key, count) = (&line[..colon], &line[colon + 1..]);
    if key.len() != hex_len || !key.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let count = std::str::from_utf8(count).ok()?.trim().parse().ok()?;
    Some((key, count))
}

pub(crate) fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads from `pos` until `buf` is full or the file ends.
pub(crate) fn read_at(file: &mut File, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(pos))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The line that starts at `start`, without its line end; `None` at the end.
pub(crate) fn line_at(file: &mut File, start: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = [0; MAX_LINE];
    let n = read_at(file, start, &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    let end = match buf[..n].iter().position(|&b| b == b'\n') {
        Some(i) => i,
        None if n < MAX_LINE => n,
        None => return Err(too_long(start)),
    };
    Ok(Some(trim_cr(&buf[..end]).to_vec()))
}

/// The first line start at or after `pos` (> 0); the file's length if none.
pub(crate) fn next_line_start(file: &mut File, pos: u64, len: u64) -> io::Result<u64> {
    let mut buf = [0; MAX_LINE];
    let n = read_at(file, pos - 1, &mut buf)?;
    match buf[..n].iter().position(|&b| b == b'\n') {
        Some(i) => Ok(pos + i as u64),
        None if pos - 1 + n as u64 >= len => Ok(len),
        None => Err(too_long(pos)),
    }
}

fn too_long(at: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("no line end within {MAX_LINE} bytes of offset {at}: not a Pwned Passwords file"),
    )
}
