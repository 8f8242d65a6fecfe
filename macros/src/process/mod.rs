//! `#[eventfold::process_manager]` on a process manager's `impl` block:
//! parse -> check -> expand, driven by the impl-block machinery shared with
//! `#[eventfold::handlers]` and `#[eventfold::projection]`
//! ([`crate::common::impl_block`]).

mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::common::Ctxt;
use crate::common::impl_block::{self, Block, ImplMacro, Method, Param};
use crate::common::symbol::{
    DEADLINE, END, EVENT_META, HANDLE, PROCESS_CONTEXT, REJECTED, START, Symbol,
};

/// The method markers of a process manager block.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Marker {
    /// `#[start(rule)]`: an event that starts an instance (or continues it).
    Start,
    /// `#[handle(rule)]`: an event that continues an instance.
    Handle,
    /// `#[end(rule)]`: an event that continues, then ends, an instance.
    End,
    /// `#[rejected]`: the rejection of a command sent to one aggregate.
    Rejected,
    /// `#[deadline]`: a deadline firing.
    Deadline,
}

impl Marker {
    /// The attribute as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::Start => "#[start]",
            Marker::Handle => "#[handle]",
            Marker::End => "#[end]",
            Marker::Rejected => "#[rejected]",
            Marker::Deadline => "#[deadline]",
        }
    }

    /// Whether it marks an event handler.
    pub fn is_event(self) -> bool {
        matches!(self, Marker::Start | Marker::Handle | Marker::End)
    }
}

/// The process manager macro, for the shared machinery.
pub struct ProcessManager;

/// A parsed process manager block.
pub type ProcessBlock<'a> = Block<'a, ProcessManager>;

impl ImplMacro for ProcessManager {
    const ATTRIBUTE: &'static str = "eventfold::process_manager";
    const SUBJECT: &'static str = "process manager";
    const EXAMPLE: &'static str =
        "#[eventfold::process_manager(sends(BankAccount))] impl Transfer { ... }";
    type Marker = Marker;
    const MARKERS: &'static [(Symbol, Marker)] = &[
        (START, Marker::Start),
        (HANDLE, Marker::Handle),
        (END, Marker::End),
        (REJECTED, Marker::Rejected),
        (DEADLINE, Marker::Deadline),
    ];
    type Args = attr::ProcessArgs;

    fn parse_args(cx: &Ctxt, args: TokenStream) -> Self::Args {
        attr::ProcessArgs::parse(cx, args)
    }

    fn marker_hint(marker: Marker) -> &'static str {
        match marker {
            Marker::Rejected => ": the aggregate is the `A` of the first parameter, `&Rejected<A>`",
            _ => ": the deadline type is the type of the first parameter",
        }
    }

    fn marker_takes_args(marker: Marker) -> bool {
        marker.is_event()
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

/// A marked method of a process manager.
pub type Handler<'a> = Method<'a, Marker>;

/// The type a handler's first parameter refers to: the event, the
/// `Rejected<A>`, or the deadline.
pub fn subject<'a>(m: &Handler<'a>) -> Option<&'a syn::Type> {
    match m.params.first() {
        Some(Param::Ref {
            elem,
            mutable: false,
            ..
        }) => Some(elem),
        _ => None,
    }
}

/// Whether an event handler takes `&EventMeta`.
pub fn takes_meta(m: &Handler<'_>) -> bool {
    m.params
        .iter()
        .any(|p| matches!(p, Param::Context { kind, .. } if *kind == EVENT_META))
}

/// Whether a handler takes `&mut ProcessContext<Self>`.
pub fn takes_ctx(m: &Handler<'_>) -> bool {
    m.params
        .iter()
        .any(|p| matches!(p, Param::Context { kind, .. } if *kind == PROCESS_CONTEXT))
}

/// For a `#[rejected]` handler: the `A` of `&Rejected<A>`.
pub fn rejected_aggregate<'a>(m: &Handler<'a>) -> Option<&'a syn::Type> {
    let syn::Type::Path(tp) = subject(m)? else {
        return None;
    };
    let last = tp.path.segments.last()?;
    if last.ident != "Rejected" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(ty)) if args.args.len() == 1 => Some(ty),
        _ => None,
    }
}

/// The name a deadline type is stored under: its last path segment.
pub fn deadline_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(tp) if tp.qself.is_none() => {
            tp.path.segments.last().map(|s| s.ident.to_string())
        }
        _ => None,
    }
}

/// Expands `#[eventfold::process_manager(args)]` on `item`.
pub fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    impl_block::run::<ProcessManager>(args, item)
}

#[cfg(test)]
mod tests;
