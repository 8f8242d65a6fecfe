//! Checks of `#[derive(Aggregate)]` input, each error at the tokens at fault.

use std::collections::HashMap;

use quote::ToTokens;
use syn::Data;

use super::ast::Aggregate;
use crate::common::Ctxt;
use crate::common::attr::Given;

/// Reports every problem of the input to `cx`.
pub fn check(cx: &Ctxt, agg: &Aggregate<'_>) {
    match &agg.input.data {
        Data::Struct(_) => {}
        Data::Enum(e) => cx.error_at(
            e.enum_token.span,
            "#[derive(Aggregate)] works on structs: the aggregate's state is a struct, its events are listed in #[aggregate(events(...))]",
        ),
        Data::Union(u) => cx.error_at(u.union_token.span, "#[derive(Aggregate)] works on structs, not unions"),
    }
    if !agg.input.generics.params.is_empty() {
        cx.error_spanned_by(
            &agg.input.generics,
            "generic aggregates are not supported: an aggregate's stored events and state name concrete types; write a concrete struct (a type alias or a wrapper per type argument)",
        );
    }
    if !agg.attrs.present {
        cx.error_spanned_by(
            agg.ident,
            "#[derive(Aggregate)] needs #[aggregate(events(...), error = ...)] on the struct: list the aggregate's events and name its command error type, e.g. #[aggregate(events(AccountOpened, MoneyDeposited), error = AccountError)]",
        );
        return;
    }
    // A misspelled key was reported already: it may be the missing one.
    let quiet = agg.attrs.unknown_keys;
    let events_missing = !quiet && matches!(agg.attrs.events, Given::Missing);
    let error_missing = !quiet && !agg.attrs.error.is_given();
    match (events_missing, error_missing) {
        (true, true) => cx.error_spanned_by(
            agg.ident,
            "missing `events(...)` and `error = ...` in #[aggregate(...)]: list the aggregate's events and name its command error type, e.g. #[aggregate(events(AccountOpened, MoneyDeposited), error = AccountError)]",
        ),
        (true, false) => cx.error_spanned_by(
            agg.ident,
            "missing `events(...)` in #[aggregate(...)]: list the aggregate's events, e.g. #[aggregate(events(AccountOpened, MoneyDeposited), ...)]",
        ),
        (false, true) => cx.error_spanned_by(
            agg.ident,
            "missing `error = ...` in #[aggregate(...)]: name the error type the commands return, e.g. #[aggregate(events(...), error = AccountError)]",
        ),
        (false, false) => {}
    }
    if let Given::Value((span, list)) = &agg.attrs.events
        && list.is_empty()
    {
        cx.error_at(*span, "`events(...)` is empty: list at least one event");
    }
    for u in &agg.attrs.upcasters {
        if let super::attr::PayloadUpcaster::Rename { to, .. } = u {
            let key = to.to_token_stream().to_string();
            if !agg
                .listed()
                .iter()
                .any(|e| e.path.to_token_stream().to_string() == key)
            {
                cx.error_spanned_by(
                    to,
                    format!("rename target `{key}` is not listed in `events(...)`: a renamed event decodes as one of the aggregate's current events"),
                );
            }
        }
    }
    let mut seen_paths: HashMap<String, &syn::Path> = HashMap::new();
    let mut seen_variants: HashMap<String, &syn::Path> = HashMap::new();
    for ev in agg.listed() {
        let key = ev.path.to_token_stream().to_string();
        if seen_paths.contains_key(&key) {
            cx.error_spanned_by(
                ev.path,
                format!("event `{key}` is listed twice in `events(...)`: remove one"),
            );
            continue;
        }
        seen_paths.insert(key.clone(), ev.path);
        let variant = ev.variant.to_string();
        if let Some(first) = seen_variants.get(&variant) {
            cx.error_spanned_by(
                ev.path,
                format!(
                    "two listed events are named `{variant}` (`{}` and `{key}`): the event enum needs distinct variant names; import one under another name",
                    first.to_token_stream()
                ),
            );
        }
        seen_variants.insert(variant, ev.path);
    }
}
