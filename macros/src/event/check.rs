//! Checks of `#[derive(Event)]` input, each error at the tokens at fault.

use syn::Data;

use super::ast::Event;
use crate::common::Ctxt;

/// Reports every problem of the input to `cx`.
pub fn check(cx: &Ctxt, event: &Event<'_>) {
    match &event.input.data {
        Data::Struct(_) => {}
        Data::Enum(e) => cx.error_at(
            e.enum_token.span,
            "#[derive(Event)] works on structs: one struct per event type; list several events on the aggregate with #[aggregate(events(...))]",
        ),
        Data::Union(u) => cx.error_at(u.union_token.span, "#[derive(Event)] works on structs, not unions"),
    }
    if !event.input.generics.params.is_empty() {
        cx.error_spanned_by(
            &event.input.generics,
            "an event cannot be generic: its stored form must name one concrete type",
        );
    }
    let name = event.name();
    match (&event.attrs.version, &event.attrs.upcast_from) {
        (Some((0, lit)), _) => cx.error_spanned_by(lit, "event versions start at 1: use `version = 1` for a new event"),
        (Some((v, lit)), None) if *v > 1 => cx.error_spanned_by(
            lit,
            format!(
                "event `{name}` version {v} needs the type of version {} to upcast from: add `upcast_from = <{name} version {} type>` and `impl From<that type> for {}`",
                v - 1,
                v - 1,
                event.ident
            ),
        ),
        (None | Some((1, _)), Some(from)) => cx.error_spanned_by(
            from,
            format!("event `{name}` is at version 1, the first: it has nothing to upcast from; set `version = N` above 1 or remove `upcast_from`"),
        ),
        _ => {}
    }
}
