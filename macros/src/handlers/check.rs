//! Checks of an `#[eventfold::handlers]` block, each error at the tokens at
//! fault.

use std::collections::HashMap;

use quote::ToTokens;
use syn::spanned::Spanned;

use super::ast::{Handlers, Method, Param, Receiver};
use crate::common::Ctxt;

/// Reports every problem of the block to `cx`.
pub fn check(cx: &Ctxt, h: &Handlers<'_>) {
    let block = h.block;
    if let Some((path, _)) = &block.trait_ {
        cx.error_spanned_by(
            path,
            "#[eventfold::handlers] goes on the aggregate's inherent impl block (`impl BankAccount { ... }`), not on a trait impl",
        );
    }
    if !block.generics.params.is_empty() {
        cx.error_spanned_by(
            &block.generics,
            "#[eventfold::handlers] does not support generic impl blocks",
        );
    }
    if h.self_ident.is_none() {
        cx.error_spanned_by(&block.self_ty, "#[eventfold::handlers] needs the aggregate's type name here, such as `impl BankAccount`");
    }
    for m in &h.commands {
        check_common(cx, m, "#[command]");
        check_command(cx, m);
    }
    let mut applied: HashMap<String, &syn::Ident> = HashMap::new();
    for m in &h.applies {
        check_common(cx, m, "#[apply]");
        if let Some(ty) = check_apply(cx, m) {
            let key = ty.to_token_stream().to_string();
            if let Some(first) = applied.get(&key) {
                cx.error_spanned_by(
                    ty,
                    format!("event `{key}` already has an #[apply] handler, `{first}`: an event is applied by exactly one method"),
                );
            } else {
                applied.insert(key, m.ident());
            }
        }
    }
}

fn check_common(cx: &Ctxt, m: &Method<'_>, what: &str) {
    let sig = &m.item.sig;
    if let Some(a) = &sig.asyncness {
        cx.error_spanned_by(
            a,
            format!("{what} methods are synchronous: load what a decision needs before sending the command"),
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(&sig.generics, format!("{what} methods cannot be generic"));
    }
}

fn check_command(cx: &Ctxt, m: &Method<'_>) {
    let sig = &m.item.sig;
    match m.receiver {
        Receiver::Ref => {}
        Receiver::Value | Receiver::RefMut => cx.error_spanned_by(
            sig.inputs.first(),
            "a #[command] takes `&self`: it decides from the current state without changing it (state changes happen in #[apply] handlers)",
        ),
        Receiver::None => cx.error_spanned_by(
            &sig.ident,
            "a #[command] takes `&self` as its first parameter: it decides from the aggregate's current state",
        ),
    }
    let mut ctx_seen = false;
    for p in &m.params {
        match p {
            Param::Arg { .. } => {}
            Param::Context { param, kind } if *kind == "CommandContext" && !ctx_seen => ctx_seen = true,
            Param::Context { param, kind } if *kind == "CommandContext" => {
                cx.error_spanned_by(param, "a #[command] takes at most one `&CommandContext`")
            }
            Param::Context { param, .. } => cx.error_spanned_by(
                param,
                "a #[command] may take `&CommandContext`; `&ApplyContext` belongs to #[apply] handlers",
            ),
            Param::Ref { param, elem } => cx.error_spanned_by(
                &param.ty,
                format!(
                    "#[command] arguments become fields of the command enum, so they must be owned: take `{}` instead of a reference{}",
                    owned_suggestion(elem),
                    ""
                ),
            ),
            Param::Pattern(pat) => cx.error_spanned_by(
                pat,
                "#[command] arguments must be plain names (`amount: u64`): each becomes a field of the command enum",
            ),
        }
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        cx.error_at(
            sig.paren_token.span.close(),
            "a #[command] returns `Result<events, Error>`: add a return type such as `-> Result<MoneyDeposited, AccountError>`",
        );
    }
}

/// `str` -> `String`, `[T]` -> `Vec<T>`, `T` -> `T`.
fn owned_suggestion(elem: &syn::Type) -> String {
    match elem {
        syn::Type::Path(tp) if tp.path.is_ident("str") => "String".into(),
        syn::Type::Slice(s) => format!("Vec<{}>", s.elem.to_token_stream()),
        other => other.to_token_stream().to_string(),
    }
}

/// Checks an `#[apply]` method; returns the event type it applies.
fn check_apply<'a>(cx: &Ctxt, m: &Method<'a>) -> Option<&'a syn::Type> {
    let sig = &m.item.sig;
    const SHAPE: &str = "an #[apply] handler has the shape `fn name(&mut self, event: &Event)` or `fn name(&mut self, event: &Event, ctx: &ApplyContext)`";
    match m.receiver {
        Receiver::RefMut => {}
        Receiver::Value | Receiver::Ref => cx.error_spanned_by(
            sig.inputs.first(),
            format!("an #[apply] handler takes `&mut self`: it changes the state; {SHAPE}"),
        ),
        Receiver::None => cx.error_spanned_by(
            &sig.ident,
            format!("an #[apply] handler takes `&mut self`; {SHAPE}"),
        ),
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        cx.error_spanned_by(
            ty,
            "an #[apply] handler returns nothing: applying a stored event cannot fail",
        );
    }
    let mut event = None;
    let mut params = m.params.iter();
    match params.next() {
        Some(Param::Ref { elem, .. }) => event = Some(*elem),
        Some(Param::Arg { ty, .. }) => cx.error_spanned_by(
            ty,
            format!("take the event by reference: `&{}`", ty.to_token_stream()),
        ),
        Some(Param::Context { param, .. }) => {
            cx.error_spanned_by(param, format!("the event comes first; {SHAPE}"))
        }
        Some(Param::Pattern(pat)) => cx.error_spanned_by(
            pat,
            format!("the event parameter must be a plain name; {SHAPE}"),
        ),
        None => cx.error_at(
            sig.paren_token.span.close(),
            format!("an #[apply] handler takes the event it applies; {SHAPE}"),
        ),
    }
    match params.next() {
        None => {}
        Some(Param::Context { kind, .. }) if *kind == "ApplyContext" => {}
        Some(other) => cx.error_at(param_span(other), format!("unexpected parameter; {SHAPE}")),
    }
    for extra in params {
        cx.error_at(param_span(extra), format!("too many parameters; {SHAPE}"));
    }
    event
}

fn param_span(p: &Param<'_>) -> proc_macro2::Span {
    match p {
        Param::Arg { ident, ty } => ident.span().join(ty.span()).unwrap_or_else(|| ident.span()),
        Param::Ref { param, .. } | Param::Context { param, .. } => param.span(),
        Param::Pattern(pat) => pat.span(),
    }
}
