//! `#[derive(KhoEntry)]`: a `#[repr(C)]` struct or union becomes a checked
//! KHO entry type, its layout proven to be C's.
//!
//! Use it through the `kho` crate, which documents it and re-exports it
//! beside the trait of the same name. The derive is a small compiler:
//! `attr.rs` reads `#[kho(...)]` and `#[repr(...)]`, `ast.rs` builds our model
//! of the struct, `valid.rs` checks it (collecting every error with its
//! span), and `expand.rs` emits the impls and the compile-time layout proofs;
//! `same_layout.rs` emits the comparison with another type's layout. It reads
//! no files: what it checks against another ABI, the compiler checks, from
//! that type's `AbiField::TYPE`.
#![forbid(unsafe_code)]

mod ast;
mod attr;
mod ctxt;
mod expand;
mod same_layout;
mod valid;

use proc_macro::TokenStream;

/// Derives `AbiField` (and, with `#[kho(compatible = "...")]`, `KhoEntry`)
/// for a `#[repr(C)]` struct or union (`packed`, `align(N)`): trait impls,
/// `const _` proofs, and accessors for bit fields and flexible arrays only.
/// See the `kho` crate for the full contract and examples.
#[proc_macro_derive(KhoEntry, attributes(kho))]
pub fn derive_kho_entry(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
