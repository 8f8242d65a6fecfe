//! Checks of an `#[eventfold::handlers]` block, each error at the tokens at
//! fault. The shared rules (inherent impl, markers, self type) are checked
//! by [`crate::common::impl_block::run`].

use std::collections::HashMap;

use quote::ToTokens;

use super::{HandlersBlock, Marker};
use crate::common::impl_block::{Method, Param, Passing, Receiver, check_plain_fn};
use crate::common::symbol::{APPLY_CONTEXT, COMMAND_CONTEXT, PROCESS_CONTEXT};
use crate::common::{Ctxt, pascal_case};

const SYNC_WHY: &str = "load what a decision needs before sending the command";

/// Reports every problem of the block to `cx`.
pub fn check(cx: &Ctxt, h: &HandlersBlock<'_>) {
    let mut variants: HashMap<String, &syn::Ident> = HashMap::new();
    for m in h.marked(Marker::Command) {
        check_plain_fn(cx, m, "#[command]", Some(SYNC_WHY));
        check_command(cx, m);
        let variant = pascal_case(&m.ident().to_string());
        if let Some(first) = variants.get(&variant) {
            cx.error_spanned_by(
                m.ident(),
                format!(
                    "commands `{first}` and `{}` would both be the variant `{}Command::{variant}` of the command enum: rename one of them",
                    m.ident(),
                    h.self_ident
                ),
            );
        } else {
            variants.insert(variant, m.ident());
        }
    }
    let mut applied: HashMap<String, &syn::Ident> = HashMap::new();
    for m in h.marked(Marker::Apply) {
        check_plain_fn(cx, m, "#[apply]", Some(SYNC_WHY));
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

fn check_command(cx: &Ctxt, m: &Method<'_, Marker>) {
    let sig = &m.item.sig;
    match m.receiver {
        Receiver::Ref => {}
        Receiver::Value | Receiver::RefMut => cx.error_spanned_by(
            m.receiver_tokens(),
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
            Param::Context {
                param,
                kind,
                passing,
            } if *kind == COMMAND_CONTEXT => {
                if *passing != Passing::Ref {
                    cx.error_spanned_by(
                        &param.ty,
                        "take `&CommandContext`: the context is lent to the command, never owned or changed by it",
                    );
                } else if ctx_seen {
                    cx.error_spanned_by(param, "a #[command] takes at most one `&CommandContext`");
                }
                ctx_seen = true;
            }
            Param::Context { param, kind, .. } => cx.error_spanned_by(
                &param.ty,
                format!("a #[command] may take `&CommandContext`; `{kind}` belongs to {}", if *kind == APPLY_CONTEXT { "#[apply] handlers" } else if *kind == PROCESS_CONTEXT { "process managers" } else { "projections" }),
            ),
            Param::Ref { param, elem, .. } => cx.error_spanned_by(
                &param.ty,
                format!(
                    "#[command] arguments become fields of the command enum, so they must be owned: take `{}` instead of a reference",
                    owned_suggestion(elem),
                ),
            ),
            Param::Pattern { param } => cx.error_spanned_by(
                &param.pat,
                "#[command] arguments must be plain names (`amount: u64`): each becomes a field of the command enum",
            ),
        }
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        cx.error_at(
            m.close_paren(),
            "a #[command] returns the events it decides: add a return type such as `-> MoneyDeposited` or `-> Result<MoneyDeposited, AccountError>`",
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

const SHAPE: &str = "an #[apply] handler has the shape `fn name(&mut self, event: &Event)` or `fn name(&mut self, event: &Event, ctx: &ApplyContext)`";

/// Checks an `#[apply]` method; returns the event type it applies.
fn check_apply<'a>(cx: &Ctxt, m: &Method<'a, Marker>) -> Option<&'a syn::Type> {
    let sig = &m.item.sig;
    match m.receiver {
        Receiver::RefMut => {}
        Receiver::Value | Receiver::Ref => cx.error_spanned_by(
            m.receiver_tokens(),
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
    let mut params = m.params.iter();
    let event = match params.next() {
        Some(Param::Ref {
            elem,
            mutable: false,
            ..
        }) => Some(*elem),
        Some(Param::Ref { param, elem, .. }) => {
            cx.error_spanned_by(
                &param.ty,
                format!(
                    "take the event by shared reference, `&{}`: a stored event is never changed",
                    elem.to_token_stream()
                ),
            );
            None
        }
        Some(Param::Arg { ty, .. }) => {
            cx.error_spanned_by(
                ty,
                format!("take the event by reference: `&{}`", ty.to_token_stream()),
            );
            None
        }
        Some(Param::Pattern { param }) => {
            let ty = &param.ty;
            cx.error_spanned_by(
                ty,
                format!("take the event by reference: `&{}`", ty.to_token_stream()),
            );
            None
        }
        Some(Param::Context { param, .. }) => {
            cx.error_spanned_by(param, format!("the event comes first; {SHAPE}"));
            None
        }
        None => {
            cx.error_at(
                m.close_paren(),
                format!("an #[apply] handler takes the event it applies; {SHAPE}"),
            );
            None
        }
    };
    match params.next() {
        None => {}
        Some(Param::Context {
            kind,
            passing: Passing::Ref,
            ..
        }) if *kind == APPLY_CONTEXT => {}
        Some(Param::Context { param, kind, .. }) if *kind == APPLY_CONTEXT => cx.error_spanned_by(
            &param.ty,
            "take `&ApplyContext`: the context is lent to the handler, never owned or changed by it",
        ),
        Some(other) => cx.error_spanned_by(other.param(), format!("unexpected parameter; {SHAPE}")),
    }
    for extra in params {
        cx.error_spanned_by(extra.param(), format!("too many parameters; {SHAPE}"));
    }
    event
}
