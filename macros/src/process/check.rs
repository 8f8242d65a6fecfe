//! Checks of an `#[eventfold::process_manager]` block, each error at the
//! tokens at fault.

use std::collections::HashMap;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;

use super::ast::{Handler, Param, Process, Receiver, deadline_name};
use super::attr::{Association, Lifecycle};
use crate::common::Ctxt;

const EVENT_SHAPE: &str = "an event handler has the shape `fn name(&mut self, event: &Event, ctx: &mut ProcessContext<Self>)` (with `meta: &EventMeta` before `ctx` if wanted; `ctx` may be left out), returning `()` or `Result<(), E>`";
const REJECTED_SHAPE: &str = "a #[rejected] handler has the shape `fn name(&mut self, rejected: &Rejected<Aggregate>, ctx: &mut ProcessContext<Self>)`, returning `()` or `Result<(), E>`";
const DEADLINE_SHAPE: &str = "a #[deadline] handler has the shape `fn name(&mut self, deadline: &Deadline, ctx: &mut ProcessContext<Self>)`, returning `()` or `Result<(), E>`";
const RULES: &str = "`key = field` (a field of the event), `key = method()` (a method of the event) or `correlated` (the events caused by the commands the instance sent)";

/// Reports every problem of the block to `cx`.
pub fn check(cx: &Ctxt, p: &Process<'_>) {
    let block = p.block;
    if let Some((path, _)) = &block.trait_ {
        cx.error_spanned_by(
            path,
            "#[eventfold::process_manager] goes on the process manager's inherent impl block (`impl Transfer { ... }`), not on a trait impl",
        );
    }
    if !block.generics.params.is_empty() {
        cx.error_spanned_by(
            &block.generics,
            "#[eventfold::process_manager] does not support generic impl blocks",
        );
    }
    if p.self_ident.is_none() {
        cx.error_spanned_by(
            &block.self_ty,
            "#[eventfold::process_manager] needs the process manager's type name here, such as `impl Transfer`",
        );
    }
    if !p.events.iter().any(|e| e.lifecycle == Lifecycle::Start) && block.trait_.is_none() {
        cx.error_spanned_by(
            &block.self_ty,
            "a process manager needs a #[start] handler, or no instance would ever begin: mark the method of the event that begins the workflow `#[start(key = field)]`",
        );
    }
    let mut sends: HashMap<String, &syn::Path> = HashMap::new();
    for target in &p.attrs.sends {
        let key = target.to_token_stream().to_string();
        if sends.insert(key.clone(), target).is_some() {
            cx.error_spanned_by(target, format!("`{key}` is listed twice in `sends(...)`"));
        }
    }

    let mut events: HashMap<String, &syn::Ident> = HashMap::new();
    for e in &p.events {
        let what = e.lifecycle.as_str();
        check_fn(cx, &e.handler, what, EVENT_SHAPE);
        match &e.association {
            None => cx.error_spanned_by(
                &e.attr,
                format!(
                    "event handler `{}` has no association rule: say how its event finds its instance with {what} and one of {RULES}",
                    e.handler.ident()
                ),
            ),
            Some(Association::Correlated(span)) if e.lifecycle == Lifecycle::Start => cx.error_at(
                *span,
                "a #[start] handler starts an instance by a key taken from the event (`key = field` or `key = method()`): a correlated event can only reach an instance that exists",
            ),
            Some(_) => {}
        }
        if let Some(ty) = check_params(cx, &e.handler, true, EVENT_SHAPE) {
            let key = ty.to_token_stream().to_string();
            if let Some(first) = events.get(&key) {
                cx.error_spanned_by(
                    ty,
                    format!("event `{key}` is already handled by `{first}`: a process manager has one handler per event type"),
                );
            } else {
                events.insert(key, e.handler.ident());
            }
        }
    }

    let mut rejected: HashMap<String, &syn::Ident> = HashMap::new();
    for h in &p.rejected {
        check_fn(cx, h, "#[rejected]", REJECTED_SHAPE);
        if check_params(cx, h, false, REJECTED_SHAPE).is_none() {
            continue;
        }
        let Some(aggregate) = h.rejected_aggregate() else {
            cx.error_spanned_by(
                h.subject(),
                format!("a #[rejected] handler takes `&Rejected<Aggregate>`; {REJECTED_SHAPE}"),
            );
            continue;
        };
        let key = aggregate.to_token_stream().to_string();
        if !sends.contains_key(&key) {
            cx.error_spanned_by(
                aggregate,
                format!("rejections of `{key}` come only from commands sent to it, and `{key}` is not in `sends(...)`: add it there"),
            );
        }
        if let Some(first) = rejected.get(&key) {
            cx.error_spanned_by(
                aggregate,
                format!("rejections of `{key}` are already handled by `{first}`"),
            );
        } else {
            rejected.insert(key, h.ident());
        }
    }

    let mut deadlines: HashMap<String, &syn::Ident> = HashMap::new();
    for h in &p.deadlines {
        check_fn(cx, h, "#[deadline]", DEADLINE_SHAPE);
        let Some(ty) = check_params(cx, h, false, DEADLINE_SHAPE) else {
            continue;
        };
        let Some(name) = deadline_name(ty) else {
            cx.error_spanned_by(
                ty,
                "a deadline is a named type (a struct or an enum with serde's derives)",
            );
            continue;
        };
        if let Some(first) = deadlines.get(&name) {
            cx.error_spanned_by(
                ty,
                format!("deadline `{name}` is already handled by `{first}`: one handler per deadline type"),
            );
            continue;
        }
        deadlines.insert(name.clone(), h.ident());
        let scheduled = p.block.items.iter().any(|item| match item {
            syn::ImplItem::Fn(f) if f.sig.ident != *h.ident() => {
                mentions(f.block.to_token_stream(), &name)
            }
            _ => false,
        });
        if !scheduled {
            cx.error_spanned_by(
                ty,
                format!("deadline `{name}` is never scheduled: no other method of this block names `{name}`; schedule it from a handler (`ctx.schedule_in(std::time::Duration::from_secs(30), {name} {{ .. }})`) or remove `{}`", h.ident()),
            );
        }
    }
}

/// Whether `tokens` hold the identifier `name`, at any depth.
fn mentions(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => mentions(g.stream(), name),
        _ => false,
    })
}

/// Checks the receiver, asyncness and generics of a handler.
fn check_fn(cx: &Ctxt, h: &Handler<'_>, what: &str, shape: &str) {
    let sig = &h.item.sig;
    if let Some(a) = &sig.asyncness {
        cx.error_spanned_by(
            a,
            format!("{what} handlers are synchronous: they decide, and the runner sends the commands after the step is stored"),
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(&sig.generics, format!("{what} handlers cannot be generic"));
    }
    match h.receiver {
        Receiver::RefMut => {}
        Receiver::Value | Receiver::Ref => cx.error_spanned_by(
            sig.inputs.first(),
            format!("a {what} handler takes `&mut self`; {shape}"),
        ),
        Receiver::None => cx.error_spanned_by(
            &sig.ident,
            format!("a {what} handler takes `&mut self`; {shape}"),
        ),
    }
}

/// Checks the parameters: the subject by reference, then `&EventMeta` (for
/// events, when `meta` is allowed), then the context. Returns the subject's
/// type.
fn check_params<'a>(cx: &Ctxt, h: &Handler<'a>, meta: bool, shape: &str) -> Option<&'a syn::Type> {
    let sig = &h.item.sig;
    let mut params = h.params.iter().peekable();
    let subject = match params.next() {
        Some(Param::Ref { elem, .. }) => Some(*elem),
        Some(Param::Meta(param) | Param::Ctx(param)) => {
            cx.error_spanned_by(param, format!("the handled value comes first; {shape}"));
            None
        }
        Some(Param::Other(param)) => {
            cx.error_spanned_by(
                &param.ty,
                format!(
                    "take the handled value by reference (`&{}`) and bind it to a plain name; {shape}",
                    param.ty.to_token_stream()
                ),
            );
            None
        }
        None => {
            cx.error_at(
                sig.paren_token.span.close(),
                format!("the handler takes the value it handles; {shape}"),
            );
            None
        }
    };
    if meta && matches!(params.peek(), Some(Param::Meta(_))) {
        params.next();
    }
    if matches!(params.peek(), Some(Param::Ctx(_))) {
        params.next();
    }
    for extra in params {
        let (Param::Ref { param, .. }
        | Param::Meta(param)
        | Param::Ctx(param)
        | Param::Other(param)) = extra;
        cx.error_spanned_by(param, format!("unexpected parameter; {shape}"));
    }
    subject
}
