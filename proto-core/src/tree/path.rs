//! znode path syntax (section 6.4), parent/name splitting and sequential names (6.3).

/// Why a path is rejected (all map to BadArguments, −8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// The bytes are not UTF-8 (ZooKeeper decodes them to U+FFFD, which it rejects).
    InvalidUtf8,
    /// The path does not start with '/'.
    NoLeadingSlash,
    /// The path ends with '/' (and is not "/").
    TrailingSlash,
    /// Two '/' in a row.
    EmptyComponent,
    /// A "." or ".." component.
    RelativeComponent,
    /// NUL, a control character, a private-use or specials character, or any character
    /// outside the BMP (a UTF-16 surrogate pair to ZooKeeper).
    InvalidCharacter,
}

/// Largest sequential suffix: `-2147483648`.
pub const SEQUENTIAL_SUFFIX_BYTES_MAX: usize = 11;

/// Checks a full path exactly as ZooKeeper's `PathUtils.validatePath` does.
pub fn validate_path(path: &[u8]) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    // Checked on chars, as Java checks UTF-16 code units of the decoded string.
    let text = core::str::from_utf8(path).map_err(|_| PathError::InvalidUtf8)?;
    let Some(rest) = text.strip_prefix('/') else {
        return Err(PathError::NoLeadingSlash);
    };
    if rest.is_empty() {
        return Ok(());
    }
    if rest.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    for component in rest.split('/') {
        match component {
            "" => return Err(PathError::EmptyComponent),
            "." | ".." => return Err(PathError::RelativeComponent),
            _ => {}
        }
        if !component.chars().all(char_allowed) {
            return Err(PathError::InvalidCharacter);
        }
    }
    Ok(())
}

/// Whether `c` may appear in a path component.
fn char_allowed(c: char) -> bool {
    !matches!(c as u32,
        0x0000..=0x001f       // NUL and C0 controls
        | 0x007f..=0x009f     // DEL and C1 controls
        | 0xd800..=0xf8ff     // surrogates (never a Rust char) and the private-use area
        | 0xfff0..=0xffff     // specials, incl. U+FFFD
        | 0x1_0000..) // outside the BMP: a surrogate pair in UTF-16
}

/// Splits a path at its last '/': `("/", "a")` for "/a", `("/a", "b")` for "/a/b",
/// `("/a/", "b")` for "/a//b" (a parent that never resolves). `None` without a '/'.
pub fn split_parent(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let last = path.iter().rposition(|&b| b == b'/')?;
    let name = path.get(last + 1..)?;
    let parent = if last == 0 { b"/".as_slice() } else { path.get(..last)? };
    Some((parent, name))
}

/// Writes `requested` followed by the counter as Java's `%010d` prints it (zero-padded to
/// ten characters including a '-' sign, so `-2147483648` takes eleven) into `out`.
/// `None` when `out` is too small.
pub fn sequential_name<'o>(requested: &[u8], counter: i32, out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut suffix = [b'0'; SEQUENTIAL_SUFFIX_BYTES_MAX];
    let mut digits = counter.unsigned_abs();
    let mut at = suffix.len();
    while digits > 0 {
        at -= 1;
        if let Some(d) = suffix.get_mut(at) {
            *d = b'0' + (digits % 10) as u8;
        }
        digits /= 10;
    }
    // Pad to ten characters, the sign counting as one.
    let width = if counter < 0 { 9 } else { 10 };
    at = at.min(suffix.len() - width);
    if counter < 0 {
        at -= 1;
        if let Some(sign) = suffix.get_mut(at) {
            *sign = b'-';
        }
    }
    let suffix = suffix.get(at..)?;
    let total = requested.len().checked_add(suffix.len())?;
    let out = out.get_mut(..total)?;
    let (front, back) = out.split_at_mut(requested.len());
    front.copy_from_slice(requested);
    back.copy_from_slice(suffix);
    Some(out)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn validation_table() {
        use PathError::*;
        let cases: &[(&[u8], Result<(), PathError>)] = &[
            (b"/", Ok(())),
            (b"/a", Ok(())),
            (b"/a/b/c", Ok(())),
            (b"/a.b/..c/.d./...", Ok(())),
            (b"/zookeeper/quota", Ok(())),
            ("/caf\u{e9}".as_bytes(), Ok(())),
            ("/\u{4e2d}\u{6587}".as_bytes(), Ok(())),
            ("/\u{fffd}x".as_bytes(), Err(InvalidCharacter)),
            (b"", Err(Empty)),
            (b"a", Err(NoLeadingSlash)),
            (b"a/b", Err(NoLeadingSlash)),
            (b"/a/", Err(TrailingSlash)),
            (b"//", Err(TrailingSlash)),
            (b"//a", Err(EmptyComponent)),
            (b"/a//b", Err(EmptyComponent)),
            (b"/.", Err(RelativeComponent)),
            (b"/..", Err(RelativeComponent)),
            (b"/a/./b", Err(RelativeComponent)),
            (b"/a/../b", Err(RelativeComponent)),
            (b"/a/b/.", Err(RelativeComponent)),
            (b"/a\0b", Err(InvalidCharacter)),
            (b"/a\x01", Err(InvalidCharacter)),
            (b"/a\x1f", Err(InvalidCharacter)),
            (b"/a\x7f", Err(InvalidCharacter)),
            ("/a\u{85}".as_bytes(), Err(InvalidCharacter)),
            ("/a\u{9f}".as_bytes(), Err(InvalidCharacter)),
            ("/a\u{a0}".as_bytes(), Ok(())),
            ("/\u{e000}".as_bytes(), Err(InvalidCharacter)),
            ("/\u{f8ff}".as_bytes(), Err(InvalidCharacter)),
            ("/\u{f900}".as_bytes(), Ok(())),
            ("/\u{ffef}".as_bytes(), Ok(())),
            ("/\u{fff0}".as_bytes(), Err(InvalidCharacter)),
            ("/\u{1f600}".as_bytes(), Err(InvalidCharacter)), // emoji
            ("/a\u{10000}".as_bytes(), Err(InvalidCharacter)),
            (b"/\xff", Err(InvalidUtf8)),
            (b"/\xc3", Err(InvalidUtf8)),
            (b"/\xed\xa0\x80", Err(InvalidUtf8)), // an encoded surrogate
            (b"/\xc0\xaf", Err(InvalidUtf8)),     // overlong '/'
        ];
        for (path, expect) in cases {
            assert_eq!(validate_path(path), *expect, "{:?}", core::str::from_utf8(path));
        }
    }

    #[test]
    fn split_parent_cases() {
        assert_eq!(split_parent(b"/a"), Some((&b"/"[..], &b"a"[..])));
        assert_eq!(split_parent(b"/a/b"), Some((&b"/a"[..], &b"b"[..])));
        assert_eq!(split_parent(b"/a//b"), Some((&b"/a/"[..], &b"b"[..])));
        assert_eq!(split_parent(b"/a/"), Some((&b"/a"[..], &b""[..])));
        assert_eq!(split_parent(b"/"), Some((&b"/"[..], &b""[..])));
        assert_eq!(split_parent(b"a"), None);
        assert_eq!(split_parent(b""), None);
    }

    fn seq(requested: &[u8], counter: i32) -> std::string::String {
        let mut out = [0u8; 64];
        let name = sequential_name(requested, counter, &mut out).unwrap();
        std::string::String::from_utf8(name.to_vec()).unwrap()
    }

    #[test]
    fn sequential_names_print_like_java() {
        assert_eq!(seq(b"/q/lock-", 0), "/q/lock-0000000000");
        assert_eq!(seq(b"/q/", 3), "/q/0000000003");
        assert_eq!(seq(b"x", 1234567), "x0001234567");
        assert_eq!(seq(b"", i32::MAX), "2147483647");
        assert_eq!(seq(b"", -1), "-000000001");
        assert_eq!(seq(b"", -123), "-000000123");
        assert_eq!(seq(b"", i32::MIN), "-2147483648");
        assert_eq!(seq(b"n", i32::MAX.wrapping_add(1)), "n-2147483648");
        // Too small an output.
        let mut out = [0u8; 10];
        assert_eq!(sequential_name(b"/a", 1, &mut out), None);
        let mut out = [0u8; 12];
        assert_eq!(sequential_name(b"/a", 1, &mut out), Some(&b"/a0000000001"[..]));
    }
}
