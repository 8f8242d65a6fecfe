//! `#[derive(Aggregate)]`: parse -> check -> expand.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::common::Ctxt;

/// Expands `#[derive(Aggregate)]` on `input`.
pub fn derive(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    let cx = Ctxt::new();
    let aggregate = ast::Aggregate::from_input(&cx, &input);
    check::check(&cx, &aggregate);
    match cx.check() {
        Ok(()) => expand::expand(&aggregate),
        Err(err) => err.to_compile_error(),
    }
}
