//! `#[eventfold::process_manager]` on a process manager's `impl` block:
//! parse -> check -> expand, on the impl-block machinery shared with
//! `#[eventfold::handlers]` and `#[eventfold::projection]`.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::common::{Ctxt, impl_block};

/// Expands `#[eventfold::process_manager(args)]` on `item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    let block = match impl_block::parse(
        item,
        "#[eventfold::process_manager] goes on the process manager's inherent `impl` block: `#[eventfold::process_manager(sends(BankAccount))] impl Transfer { ... }`",
    ) {
        Ok(block) => block,
        Err(out) => return out,
    };
    let cx = Ctxt::new();
    let attrs = attr::ProcessAttrs::parse(&cx, args);
    let process = ast::Process::from_impl(&cx, attrs, &block);
    check::check(&cx, &process);
    let errors = cx.check().err();
    // The impl block is always re-emitted (markers stripped), so that its
    // methods stay visible next to the errors.
    let mut out = expand::expand(&process, errors.is_none());
    if let Some(err) = errors {
        out.extend(err.to_compile_error());
    }
    out
}

#[cfg(test)]
mod tests;
