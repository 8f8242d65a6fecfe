//! Checks of an `#[eventfold::process_manager]` block, each error at the
//! tokens at fault. (The shared machinery has checked the block itself and
//! the markers.)

use std::collections::HashMap;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;

use super::attr::{Association, association};
use super::{Handler, Marker, ProcessBlock, deadline_name, rejected_aggregate, subject};
use crate::common::Ctxt;
use crate::common::impl_block::{Param, Passing, Receiver, check_plain_fn};
use crate::common::symbol::{EVENT_META, PROCESS_CONTEXT};

const EVENT_SHAPE: &str = "an event handler has the shape `fn name(&mut self, event: &Event, ctx: &mut ProcessContext<Self>)` (with `meta: &EventMeta` before `ctx` if wanted; `ctx` may be left out), returning `()` or `Result<(), E>`";
const REJECTED_SHAPE: &str = "a #[rejected] handler has the shape `fn name(&mut self, rejected: &Rejected<Aggregate>, ctx: &mut ProcessContext<Self>)`, returning `()` or `Result<(), E>`";
const DEADLINE_SHAPE: &str = "a #[deadline] handler has the shape `fn name(&mut self, deadline: &Deadline, ctx: &mut ProcessContext<Self>)`, returning `()` or `Result<(), E>`";
const RULES: &str = "`key = field` (a field of the event), `key = method()` (a method of the event) or `correlated` (the events caused by the commands the instance sent)";
const SYNC: &str = "they decide, and the runner sends the commands after the step is stored";

/// Reports every problem of the block to `cx`.
pub fn check(cx: &Ctxt, p: &ProcessBlock<'_>) {
    if p.marked(Marker::Start).next().is_none() {
        cx.error_spanned_by(
            p.self_ty,
            "a process manager needs a #[start] handler, or no instance would ever begin: mark the method of the event that begins the workflow `#[start(key = field)]`",
        );
    }
    let mut sends: HashMap<String, &syn::Path> = HashMap::new();
    for target in &p.args.sends {
        let key = target.to_token_stream().to_string();
        if sends.insert(key.clone(), target).is_some() {
            cx.error_spanned_by(target, format!("`{key}` is listed twice in `sends(...)`"));
        }
    }

    let mut events: HashMap<String, &syn::Ident> = HashMap::new();
    for e in p.methods.iter().filter(|m| m.marker.is_event()) {
        let what = e.marker.as_str();
        check_receiver(cx, e, what, EVENT_SHAPE);
        match association(cx, e.attr, what) {
            None if matches!(e.attr.meta, syn::Meta::Path(_)) => cx.error_spanned_by(
                e.attr,
                format!(
                    "event handler `{}` has no association rule: say how its event finds its instance with {what} and one of {RULES}",
                    e.ident()
                ),
            ),
            Some(Association::Correlated(span)) if e.marker == Marker::Start => cx.error_at(
                span,
                "a #[start] handler starts an instance by a key taken from the event (`key = field` or `key = method()`): a correlated event can only reach an instance that exists",
            ),
            _ => {}
        }
        if let Some(ty) = check_params(cx, e, true, EVENT_SHAPE) {
            let key = ty.to_token_stream().to_string();
            if let Some(first) = events.get(&key) {
                cx.error_spanned_by(
                    ty,
                    format!("event `{key}` is already handled by `{first}`: a process manager has one handler per event type"),
                );
            } else {
                events.insert(key, e.ident());
            }
        }
    }

    let mut rejected: HashMap<String, &syn::Ident> = HashMap::new();
    for h in p.marked(Marker::Rejected) {
        check_receiver(cx, h, "#[rejected]", REJECTED_SHAPE);
        if check_params(cx, h, false, REJECTED_SHAPE).is_none() {
            continue;
        }
        let Some(aggregate) = rejected_aggregate(h) else {
            cx.error_spanned_by(
                subject(h),
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
    for h in p.marked(Marker::Deadline) {
        check_receiver(cx, h, "#[deadline]", DEADLINE_SHAPE);
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
        if !scheduled_elsewhere(p, h, &name) {
            cx.error_spanned_by(
                ty,
                format!("deadline `{name}` is never scheduled: no other method of this block names `{name}`; schedule it from a handler (`ctx.schedule_in(std::time::Duration::from_secs(30), {name} {{ .. }})`) or remove `{}`", h.ident()),
            );
        }
    }
}

/// Whether a method of the block other than `handler` names `name`: a
/// deadline nobody schedules would never fire.
fn scheduled_elsewhere(p: &ProcessBlock<'_>, handler: &Handler<'_>, name: &str) -> bool {
    p.item.items.iter().any(|item| match item {
        syn::ImplItem::Fn(f) if f.sig.ident != *handler.ident() => {
            mentions(f.block.to_token_stream(), name)
        }
        _ => false,
    })
}

/// Whether `tokens` hold the identifier `name`, at any depth.
fn mentions(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => mentions(g.stream(), name),
        _ => false,
    })
}

/// `&mut self`, synchronous, not generic.
fn check_receiver(cx: &Ctxt, h: &Handler<'_>, what: &str, shape: &str) {
    check_plain_fn(cx, h, what, Some(SYNC));
    match h.receiver {
        Receiver::RefMut => {}
        _ => cx.error_spanned_by(
            h.receiver_tokens(),
            format!("a {what} handler takes `&mut self`; {shape}"),
        ),
    }
}

/// Checks the parameters: the subject by reference, then `&EventMeta` (for
/// events, when `meta` is allowed), then `&mut ProcessContext<Self>`.
/// Returns the subject's type.
fn check_params<'a>(cx: &Ctxt, h: &Handler<'a>, meta: bool, shape: &str) -> Option<&'a syn::Type> {
    let mut params = h.params.iter().peekable();
    let subject = match params.next() {
        Some(Param::Ref {
            elem,
            mutable: false,
            ..
        }) => Some(*elem),
        Some(Param::Context { param, .. }) => {
            cx.error_spanned_by(param, format!("the handled value comes first; {shape}"));
            None
        }
        Some(other) => {
            let ty = &other.param().ty;
            cx.error_spanned_by(
                ty,
                format!(
                    "take the handled value by shared reference (`&{}`); {shape}",
                    strip_ref(ty).to_token_stream()
                ),
            );
            None
        }
        None => {
            cx.error_at(
                h.close_paren(),
                format!("the handler takes the value it handles; {shape}"),
            );
            None
        }
    };
    if meta
        && matches!(params.peek(), Some(Param::Context { kind, passing: Passing::Ref, .. }) if *kind == EVENT_META)
    {
        params.next();
    }
    if matches!(params.peek(), Some(Param::Context { kind, passing: Passing::RefMut, .. }) if *kind == PROCESS_CONTEXT)
    {
        params.next();
    }
    for extra in params {
        let hint = match extra {
            Param::Context { kind, .. } if *kind == PROCESS_CONTEXT => {
                "take the context as `ctx: &mut ProcessContext<Self>`, last"
            }
            Param::Context { kind, .. } if *kind == EVENT_META && meta => {
                "take `meta: &EventMeta` right after the event"
            }
            _ => "unexpected parameter",
        };
        cx.error_spanned_by(extra.param(), format!("{hint}; {shape}"));
    }
    subject
}

fn strip_ref(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Reference(r) => &r.elem,
        other => other,
    }
}
