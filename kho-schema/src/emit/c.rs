//! Kernel-style C headers.

use crate::layout::Abi;

/// The C header for `abi`.
pub fn header(abi: &Abi, _all: &[Abi]) -> String {
    format!("/* {} */\n", super::banner(abi))
}
