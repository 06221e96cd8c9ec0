//! Small durable values: ZAB's `acceptedEpoch` and `currentEpoch`, as decimal text files
//! like ZooKeeper's, replaced atomically (temp file, fsync, rename, directory fsync) so a
//! crash leaves either the old value or the new one.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use super::{fsync_dir, invalid_data};

/// File holding the epoch of the last NEWEPOCH this server accepted.
pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";

/// File holding the epoch of the last NEWLEADER this server acknowledged.
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";

/// Longest content accepted: `u64::MAX` has 20 digits; the rest allows whitespace.
const MAX_U64_FILE_BYTES: u64 = 32;

/// Suffix of the file being written before it replaces `name`.
const TEMP_SUFFIX: &str = ".tmp";

/// `name` must be a plain file name inside `dir`.
fn check_name(name: &str) -> io::Result<()> {
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a plain file name: {name:?}")))
    }
}

/// Durably replaces `dir/name` with `value` in decimal.
pub fn write_u64_file_atomic(dir: &Path, name: &str, value: u64) -> io::Result<()> {
    check_name(name)?;
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let mut file = File::create(&temp)?;
    file.write_all(format!("{value}\n").as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, dir.join(name))?;
    fsync_dir(dir)
}

/// Reads `dir/name`: `None` if it does not exist, `InvalidData` if it is not a decimal u64.
pub fn read_u64_file(dir: &Path, name: &str) -> io::Result<Option<u64>> {
    check_name(name)?;
    let path = dir.join(name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    let read = file.take(MAX_U64_FILE_BYTES + 1).read_to_string(&mut text);
    let bad = || invalid_data(format!("{}: not a decimal number", path.display()));
    match read {
        Ok(n) if n as u64 <= MAX_U64_FILE_BYTES => {}
        Ok(_) => return Err(bad()),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(bad()),
        Err(e) => return Err(e),
    }
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse().map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::*;

    #[test]
    fn round_trip_and_overwrite() {
        let dir = TestDir::new("epoch");
        assert_eq!(read_u64_file(dir.path(), CURRENT_EPOCH_FILE).unwrap(), None);
        write_u64_file_atomic(dir.path(), CURRENT_EPOCH_FILE, 7).unwrap();
        assert_eq!(fs::read(dir.path().join(CURRENT_EPOCH_FILE)).unwrap(), b"7\n");
        assert_eq!(read_u64_file(dir.path(), CURRENT_EPOCH_FILE).unwrap(), Some(7));
        write_u64_file_atomic(dir.path(), CURRENT_EPOCH_FILE, u64::MAX).unwrap();
        assert_eq!(read_u64_file(dir.path(), CURRENT_EPOCH_FILE).unwrap(), Some(u64::MAX));
        assert_eq!(read_u64_file(dir.path(), ACCEPTED_EPOCH_FILE).unwrap(), None);
        assert!(!dir.path().join("currentEpoch.tmp").exists());
    }

    #[test]
    fn accepts_text_without_newline() {
        let dir = TestDir::new("epoch-plain");
        fs::write(dir.path().join(ACCEPTED_EPOCH_FILE), b"12").unwrap();
        assert_eq!(read_u64_file(dir.path(), ACCEPTED_EPOCH_FILE).unwrap(), Some(12));
    }

    #[test]
    fn rejects_bad_content_and_names() {
        let dir = TestDir::new("epoch-bad");
        for content in [&b""[..], b"-1", b"+1", b"1 2", b"abc", b"18446744073709551616", b"\xff\xfe", &[b'1'; 40]] {
            fs::write(dir.path().join("e"), content).unwrap();
            let err = read_u64_file(dir.path(), "e").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{content:?}");
        }
        for name in ["", ".", "..", "a/b", "a\\b"] {
            assert_eq!(write_u64_file_atomic(dir.path(), name, 1).unwrap_err().kind(), io::ErrorKind::InvalidInput);
            assert_eq!(read_u64_file(dir.path(), name).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
    }
}
