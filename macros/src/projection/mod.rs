//! `#[eventfold::projection]` on a read model's `impl` block: parse -> check
//! -> expand.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::common::{Ctxt, impl_block};

/// Expands `#[eventfold::projection(args)]` on `item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let block = match impl_block::parse(
        item,
        "#[eventfold::projection] goes on the read model's inherent `impl` block: `#[eventfold::projection] impl Balances { ... }`",
    ) {
        Ok(block) => block,
        Err(out) => return out,
    };
    let cx = Ctxt::new();
    let attrs = attr::ProjectionAttrs::parse(&cx, args);
    let projection = ast::Projection::from_impl(&cx, attrs, &block);
    check::check(&cx, &projection);
    let errors = cx.check().err();
    // The impl block is always re-emitted (markers stripped), so that its
    // methods stay visible next to the errors.
    let mut out = expand::expand(&projection, errors.is_none());
    if let Some(err) = errors {
        out.extend(err.to_compile_error());
    }
    out
}

#[cfg(test)]
mod tests;
