//! The block format's facts, in one place for the derive, the schema
//! compiler, the runtime and the tools.

/// Size of the header at the start of every block (`next`, `count`).
pub const HEADER_SIZE: usize = 16;

/// The page sizes a block may have: 4 KiB, 16 KiB, 64 KiB.
pub const PAGE_SIZES: [usize; 3] = [4096, 16384, 65536];

/// The smallest page size, which every entry must fit.
pub const MIN_PAGE_SIZE: usize = PAGE_SIZES[0];

/// Largest entry of a block set with pages of `page_size` bytes: the page
/// less its header (0 for a page smaller than the header).
pub const fn max_entry_size(page_size: usize) -> usize {
    page_size.saturating_sub(HEADER_SIZE)
}

/// Largest entry of a block set at the smallest page size: 4080.
pub const MAX_ENTRY_SIZE: usize = max_entry_size(MIN_PAGE_SIZE);

/// Default limit on the blocks of one chain a reader follows.
pub const DEFAULT_MAX_BLOCKS: usize = 10_000;

/// Bytes the kernel keeps for a compatible string, with its NUL.
pub const COMPATIBLE_CAPACITY: usize = 48;

/// Longest compatible string: [`COMPATIBLE_CAPACITY`] less the NUL.
pub const MAX_COMPATIBLE: usize = COMPATIBLE_CAPACITY - 1;

/// Why a compatible string is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatibleError {
    /// Longer than [`MAX_COMPATIBLE`] bytes.
    TooLong,
    /// Empty, or an empty part between `;`.
    Empty,
    /// A byte other than a lowercase ASCII letter, digit, `-` or `;`.
    Charset,
    /// A leading, trailing or double dash in a part.
    Dash,
    /// A part that does not end in `-v<N>`.
    NoVersion,
    /// A version of 0 or with a leading zero.
    BadVersion,
}

impl CompatibleError {
    /// What is wrong, as a clause: "it is longer than 47 bytes ...".
    pub const fn reason(self) -> &'static str {
        match self {
            CompatibleError::TooLong => {
                "it is longer than 47 bytes (the kernel keeps 48 with the NUL)"
            }
            CompatibleError::Empty => "it is empty",
            CompatibleError::Charset => "use only lowercase ASCII letters, digits and dashes",
            CompatibleError::Dash => "dashes separate words: no leading, trailing or double dash",
            CompatibleError::NoVersion => "it must end in -v<N>, e.g. \"luo-file-v1\"",
            CompatibleError::BadVersion => "the version starts at 1 and has no leading zero",
        }
    }
}

impl core::fmt::Display for CompatibleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Checks a compatible string: `name-vN` (lowercase letters, digits and
/// dashes, ending in `-v<N>`, N >= 1 without a leading zero), or several of
/// those joined by `;` (the kernel's composed form); at most
/// [`MAX_COMPATIBLE`] bytes in all.
pub const fn check_compatible(s: &str) -> Result<(), CompatibleError> {
    let b = s.as_bytes();
    if b.len() > MAX_COMPATIBLE {
        return Err(CompatibleError::TooLong);
    }
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b';' {
            let (_, tail) = b.split_at(start);
            let (part, _) = tail.split_at(i - start);
            if let Err(e) = check_part(part) {
                return Err(e);
            }
            start = i + 1;
        }
        i += 1;
    }
    Ok(())
}

const fn check_part(p: &[u8]) -> Result<(), CompatibleError> {
    if p.is_empty() {
        return Err(CompatibleError::Empty);
    }
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return Err(CompatibleError::Charset);
        }
        i += 1;
    }
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        if c == b'-' && (i == 0 || i + 1 == p.len() || p[i + 1] == b'-') {
            return Err(CompatibleError::Dash);
        }
        i += 1;
    }
    // The last `-v`, with a non-empty name before it.
    let mut at = p.len();
    let mut j = p.len();
    while j >= 2 {
        if p[j - 2] == b'-' && p[j - 1] == b'v' {
            at = j;
            break;
        }
        j -= 1;
    }
    if at == p.len() || at < 3 {
        return Err(CompatibleError::NoVersion);
    }
    let mut k = at;
    while k < p.len() {
        if !p[k].is_ascii_digit() {
            return Err(CompatibleError::NoVersion);
        }
        k += 1;
    }
    if p[at] == b'0' {
        return Err(CompatibleError::BadVersion);
    }
    Ok(())
}
