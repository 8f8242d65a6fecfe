//! `#[derive(Aggregate)]`: parse -> check -> expand.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::common::Ctxt;

/// Expands `#[derive(Aggregate)]` on `input`; `source_dir` is the directory
/// of the file holding it (schema lock paths are relative to it).
pub fn derive(input: TokenStream, source_dir: Option<std::path::PathBuf>) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    let cx = Ctxt::new();
    let aggregate = ast::Aggregate::from_input(&cx, &input, source_dir);
    check::check(&cx, &aggregate);
    match cx.check() {
        Ok(()) => expand::expand(&aggregate),
        Err(err) => {
            // Errors that leave the essentials intact (a duplicate or unknown
            // key, an event listed twice) still get the full expansion, so
            // the rest of the program type-checks and the user sees only the
            // errors above, not a cascade. Otherwise a fallback stands in for
            // what `#[eventfold::handlers]` relies on.
            let mut out = err.to_compile_error();
            if aggregate.expandable() {
                out.extend(expand::expand(&aggregate));
            } else {
                out.extend(expand::fallback(&aggregate));
            }
            out
        }
    }
}
