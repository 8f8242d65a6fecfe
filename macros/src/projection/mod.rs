//! `#[eventfold::projection]` on a read model's `impl` block: parse -> check
//! -> expand, driven by the shared impl-block machinery
//! ([`crate::common::impl_block`]).

mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::common::Ctxt;
use crate::common::impl_block::Param;
use crate::common::impl_block::{self, Block, ImplMacro, Method};
use crate::common::symbol::{CHECKPOINT, COMMIT, EVENT_META, HANDLE, RESET, ROLLBACK, Symbol};

/// The method markers of a projection block.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Marker {
    /// `#[handle]`: one event type's handler.
    Handle,
    /// `#[checkpoint]`: loads the checkpoint kept in the read model.
    Checkpoint,
    /// `#[commit]`: commits a batch with its checkpoint.
    Commit,
    /// `#[rollback]`: undoes the uncommitted changes.
    Rollback,
    /// `#[reset]`: clears the read model for a rebuild.
    Reset,
}

impl Marker {
    /// The attribute as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::Handle => "#[handle]",
            Marker::Checkpoint => "#[checkpoint]",
            Marker::Commit => "#[commit]",
            Marker::Rollback => "#[rollback]",
            Marker::Reset => "#[reset]",
        }
    }
}

/// The projection macro, for the shared machinery.
pub struct Projection;

/// A parsed projection block.
pub type ProjectionBlock<'a> = Block<'a, Projection>;

impl ImplMacro for Projection {
    const ATTRIBUTE: &'static str = "eventfold::projection";
    const SUBJECT: &'static str = "read model";
    const EXAMPLE: &'static str = "#[eventfold::projection] impl Balances { ... }";
    type Marker = Marker;
    const MARKERS: &'static [(Symbol, Marker)] = &[
        (HANDLE, Marker::Handle),
        (CHECKPOINT, Marker::Checkpoint),
        (COMMIT, Marker::Commit),
        (ROLLBACK, Marker::Rollback),
        (RESET, Marker::Reset),
    ];
    type Args = attr::ProjectionArgs;

    fn parse_args(cx: &Ctxt, args: TokenStream) -> Self::Args {
        attr::ProjectionArgs::parse(cx, args)
    }

    fn marker_hint(marker: Marker) -> &'static str {
        if marker == Marker::Handle {
            ": the event type is the type of the method's first parameter"
        } else {
            ""
        }
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

/// The event type a `#[handle]` method handles: its first parameter's
/// referenced type.
pub fn handled_event<'a>(m: &Method<'a, Marker>) -> Option<&'a syn::Type> {
    match m.params.first() {
        Some(Param::Ref {
            elem,
            mutable: false,
            ..
        }) => Some(elem),
        _ => None,
    }
}

/// Whether a `#[handle]` method takes `&EventMeta` after the event.
pub fn takes_meta(m: &Method<'_, Marker>) -> bool {
    matches!(m.params.get(1), Some(Param::Context { kind, .. }) if *kind == EVENT_META)
}

/// Expands `#[eventfold::projection(args)]` on `item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    impl_block::run::<Projection>(args, item)
}

#[cfg(test)]
mod tests;
