//! Checks of `#[derive(Event)]` input, each error at the tokens at fault.

use syn::Data;

use super::ast::Event;
use crate::common::Ctxt;
use crate::common::attr::Given;

/// Reports every problem of the input to `cx`.
pub fn check(cx: &Ctxt, event: &Event<'_>) {
    match &event.input.data {
        Data::Struct(_) => {}
        Data::Enum(e) => cx.error_at(
            e.enum_token.span,
            "#[derive(Event)] works on structs, one struct per event type: make each variant a struct deriving Event, and list them all in the aggregate's #[aggregate(events(...))]",
        ),
        Data::Union(u) => cx.error_at(u.union_token.span, "#[derive(Event)] works on structs, not unions"),
    }
    if !event.input.generics.params.is_empty() {
        cx.error_spanned_by(
            &event.input.generics,
            "generic events are not supported: a stored event names one concrete type; write a struct per type (`MoneyDeposited { amount: u64 }`)",
        );
    }
    let name = event.name();
    let (version, upcast_from) = (&event.attrs.version, &event.attrs.upcast_from);
    match (version, upcast_from) {
        // A bad value or a misspelled key was reported already: a check on
        // what is missing would be a second, false error.
        (Given::Invalid, _) | (_, Given::Invalid) => {}
        (Given::Value((v, lit)), Given::Missing) if *v > 1 && !event.attrs.unknown_keys => cx.error_spanned_by(
            lit,
            format!(
                "event `{name}` version {v} needs the type of version {} to upcast from: add `upcast_from = <{name} version {} type>` and `impl From<that type> for {}`",
                v - 1,
                v - 1,
                event.ident
            ),
        ),
        (Given::Missing | Given::Value((1, _)), Given::Value(from)) => cx.error_spanned_by(
            from,
            format!("event `{name}` is at version 1, the first: it has nothing to upcast from; set `version = N` above 1 or remove `upcast_from`"),
        ),
        _ => {}
    }
}
