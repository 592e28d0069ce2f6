//! Markdown layout tables.

use crate::layout::Abi;

/// The layout tables for `abi`.
pub fn tables(abi: &Abi, _all: &[Abi]) -> String {
    format!("<!-- {} -->\n", super::banner(abi))
}
