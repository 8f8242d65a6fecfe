//! `#[derive(Event)]`: parse -> check -> expand.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::common::Ctxt;

/// Expands `#[derive(Event)]` on `input`.
pub fn derive(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    let cx = Ctxt::new();
    let event = ast::Event::from_input(&cx, &input);
    check::check(&cx, &event);
    match cx.check() {
        Ok(()) => expand::expand(&event),
        Err(err) => {
            // One error and a minimal impl, so the user sees no cascade.
            let mut out = err.to_compile_error();
            out.extend(expand::fallback(&event));
            out
        }
    }
}

pub(crate) use ast::type_text;

/// The compact type text used in schemas (exposed for unit tests).
#[cfg(test)]
pub fn type_text_for_tests(ty: &syn::Type) -> String {
    ast::type_text(ty)
}

/// The stored field names and types and the wire attributes of an event
/// (exposed for unit tests).
#[cfg(test)]
pub fn wire_for_tests(input: proc_macro2::TokenStream) -> (Vec<(String, String)>, String) {
    let input: syn::DeriveInput = syn::parse2(input).expect("a struct");
    let cx = Ctxt::new();
    let event = ast::Event::from_input(&cx, &input);
    cx.check().expect("valid attributes");
    (event.fields(), event.wire())
}
