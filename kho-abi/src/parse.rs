//! Command-line values: addresses and sizes, in decimal or `0x` hex, and
//! preprocessor definitions for reading C headers.
//!
//! Each function here is a clap `value_parser`. Its error text follows
//! clap's `invalid value 'X' for '--arg <N>':` prefix, so it says what is
//! wrong with the value but never names the argument (clap does that).

use kho_runtime::{check_page_size, HEADER_SIZE};

/// A 64-bit number: `0x`-prefixed hex (`0x10_0000`) or decimal (`4096`).
///
/// Underscores may separate digits, as in Rust literals. Signs, spaces and
/// empty strings are rejected rather than guessed at.
pub fn number(s: &str) -> Result<u64, String> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    let well_formed = digits.chars().next().is_some_and(|c| c.is_digit(radix))
        && digits.chars().all(|c| c == '_' || c.is_digit(radix));
    if !well_formed {
        return Err(String::from(
            "expected a decimal number or 0x-prefixed hex (e.g. 4096 or 0x1000)",
        ));
    }
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    u64::from_str_radix(&digits, radix).map_err(|_| String::from("does not fit in 64 bits"))
}

/// A physical address.
pub fn addr(s: &str) -> Result<u64, String> {
    number(s)
}

/// A count or size that must fit this machine's `usize`.
pub fn count(s: &str) -> Result<usize, String> {
    usize::try_from(number(s)?).map_err(|_| String::from("too large for this machine"))
}

/// A page (block) size the format supports: 4096, 16384 or 65536.
pub fn page_size(s: &str) -> Result<usize, String> {
    let size = count(s)?;
    check_page_size(size).map_err(|e| e.to_string())?;
    Ok(size)
}

/// An entry size: at least one byte. Whether it fits a block depends on the
/// page size, which is checked once both are known.
pub fn entry_size(s: &str) -> Result<usize, String> {
    match count(s)? {
        0 => Err(format!(
            "an entry is at least 1 byte (and at most the page size minus the \
             {HEADER_SIZE}-byte block header)"
        )),
        size => Ok(size),
    }
}

/// A preprocessor definition for reading C headers (`lock`, `check`,
/// `diff` with `--headers`): `NAME` (defined as 1, as `cc -DNAME`) or
/// `NAME=VALUE`. NAME must be a C identifier; VALUE is taken as written.
pub fn header_define(s: &str) -> Result<(String, Option<String>), String> {
    let (name, value) = match s.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (s, None),
    };
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
    if !ident {
        return Err(String::from(
            "expected NAME or NAME=VALUE, NAME a C identifier (e.g. __KERNEL__ or PAGE_SHIFT=12)",
        ));
    }
    Ok((name.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex() {
        assert_eq!(number("0"), Ok(0));
        assert_eq!(number("4096"), Ok(4096));
        assert_eq!(number("0x1000"), Ok(4096));
        assert_eq!(number("0X10_0000"), Ok(0x10_0000));
        assert_eq!(number("0xFFFFffffFFFFffff"), Ok(u64::MAX));
        assert_eq!(number("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn rejects_what_it_cannot_read_exactly() {
        for bad in [
            "", "0x", "x10", "+5", "-1", " 1", "1 ", "0x_1", "_1", "1e3", "0b101", "12ab", "0xg",
        ] {
            assert!(number(bad).is_err(), "{bad:?} parsed");
        }
        assert!(number("0x1_0000_0000_0000_0000").is_err());
        assert!(number("18446744073709551616").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(page_size("0x4000"), Ok(16384));
        assert!(page_size("8192").unwrap_err().contains("8192"));
        assert!(entry_size("0").is_err());
        assert_eq!(entry_size("4080"), Ok(4080));
    }

    #[test]
    fn header_defines() {
        assert_eq!(header_define("__KERNEL__"), Ok(("__KERNEL__".into(), None)));
        assert_eq!(
            header_define("PAGE_SHIFT=14"),
            Ok(("PAGE_SHIFT".into(), Some("14".into())))
        );
        assert_eq!(header_define("X="), Ok(("X".into(), Some(String::new()))));
        for bad in ["", "=1", "1X", "A-B", "A B=1"] {
            assert!(header_define(bad).is_err(), "{bad:?} parsed");
        }
    }
}
