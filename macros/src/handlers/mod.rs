//! `#[eventfold::handlers]` on an aggregate's `impl` block: parse -> check
//! -> expand.

mod ast;
mod attr;
mod check;
mod expand;
mod schema;

use proc_macro2::TokenStream;

use crate::common::{Ctxt, impl_block};

/// Expands `#[eventfold::handlers(args)]` on `item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let block = match impl_block::parse(
        item,
        "#[eventfold::handlers] goes on the aggregate's inherent `impl` block: `#[eventfold::handlers] impl BankAccount { ... }`",
    ) {
        Ok(block) => block,
        Err(out) => return out,
    };
    let cx = Ctxt::new();
    let attrs = attr::HandlersAttrs::parse(&cx, args);
    let handlers = ast::Handlers::from_impl(&cx, attrs, &block);
    check::check(&cx, &handlers);
    let errors = cx.check().err();
    // The impl block is always re-emitted (with the marker attributes
    // stripped), so that its methods stay visible next to the errors.
    let mut out = expand::expand(&handlers, errors.is_none());
    if let Some(err) = errors {
        out.extend(err.to_compile_error());
    }
    out
}
