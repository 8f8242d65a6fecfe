//! `#[eventfold::handlers]` on an aggregate's `impl` block: parse -> check
//! -> expand, driven by the shared impl-block machinery
//! ([`crate::common::impl_block`]).

mod attr;
mod check;
mod context_use;
mod expand;
mod schema;

use proc_macro2::TokenStream;

use crate::common::Ctxt;
use crate::common::impl_block::{self, Block, ImplMacro};
use crate::common::symbol::{APPLY, COMMAND, Symbol};

/// The method markers of a handlers block.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Marker {
    /// `#[command]`: decides, from `&self`, which events a command produces.
    Command,
    /// `#[apply]`: evolves the state with one event.
    Apply,
}

/// The handlers macro, for the shared machinery.
pub struct Handlers;

/// A parsed handlers block.
pub type HandlersBlock<'a> = Block<'a, Handlers>;

impl ImplMacro for Handlers {
    const ATTRIBUTE: &'static str = "eventfold::handlers";
    const SUBJECT: &'static str = "aggregate";
    const EXAMPLE: &'static str = "#[eventfold::handlers] impl BankAccount { ... }";
    type Marker = Marker;
    const MARKERS: &'static [(Symbol, Marker)] =
        &[(COMMAND, Marker::Command), (APPLY, Marker::Apply)];
    const GENERICS_REPORTED_ELSEWHERE: bool = true;
    type Args = attr::HandlersArgs;

    fn parse_args(cx: &Ctxt, args: TokenStream) -> Self::Args {
        attr::HandlersArgs::parse(cx, args)
    }

    fn check(cx: &Ctxt, block: &Block<'_, Self>) {
        check::check(cx, block);
    }

    fn expand(block: &Block<'_, Self>) -> TokenStream {
        expand::expand(block)
    }

    fn fallback(block: &Block<'_, Self>) -> TokenStream {
        expand::fallback(block)
    }
}

/// Expands `#[eventfold::handlers(args)]` on `item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    impl_block::run::<Handlers>(args, item)
}
