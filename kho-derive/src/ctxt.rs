//! Error collection: every problem found, each with its span, reported
//! together (as serde_derive's `Ctxt` does).

use std::fmt::Display;

use quote::ToTokens;

#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    pub fn error(&mut self, at: impl ToTokens, msg: impl Display) {
        self.errors
            .push(syn::Error::new_spanned(at.into_token_stream(), msg));
    }

    pub fn error_at(&mut self, span: proc_macro2::Span, msg: impl Display) {
        self.errors.push(syn::Error::new(span, msg));
    }

    pub fn push(&mut self, err: syn::Error) {
        self.errors.push(err);
    }

    /// All errors as one, or `Ok` when there were none.
    pub fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                first.extend(errors);
                Err(first)
            }
        }
    }
}
