//! Checks of an `#[eventfold::projection]` block, each error at the tokens
//! at fault.

use std::collections::HashMap;

use quote::ToTokens;

use super::{Marker, ProjectionBlock, handled_event};
use crate::common::Ctxt;
use crate::common::impl_block::{Method, Param, Passing, Receiver, not_generic};
use crate::common::symbol::EVENT_META;

type Handler<'a> = Method<'a, Marker>;

const SHAPE: &str = "a #[handle] method has the shape `fn name(&mut self, event: &Event)` or `fn name(&mut self, event: &Event, meta: &EventMeta)`, returning `()` or `Result<(), E>`";

/// Reports every problem of the block to `cx`.
pub fn check(cx: &Ctxt, p: &ProjectionBlock<'_>) {
    if p.marked(Marker::Handle).next().is_none() {
        cx.error_spanned_by(
            p.self_ty,
            "a projection handles at least one event type: mark a method `#[handle] fn on_event(&mut self, event: &Event)`",
        );
    }
    let mut hooks: HashMap<Marker, &syn::Ident> = HashMap::new();
    for h in p.methods.iter().filter(|m| m.marker != Marker::Handle) {
        check_hook(cx, h.marker, h);
        if let Some(first) = hooks.get(&h.marker) {
            cx.error_spanned_by(
                h.ident(),
                format!(
                    "{} is already on `{first}`: mark one method",
                    h.marker.as_str()
                ),
            );
        } else {
            hooks.insert(h.marker, h.ident());
        }
    }
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for h in p.marked(Marker::Handle) {
        if let Some(ty) = check_handler(cx, h) {
            let key = ty.to_token_stream().to_string();
            if let Some(first) = seen.get(&key) {
                cx.error_spanned_by(
                    ty,
                    format!("event `{key}` is already handled by `{first}`: a projection has one #[handle] method per event type"),
                );
            } else {
                seen.insert(key, h.ident());
            }
        }
    }
}

/// Checks a lifecycle method: `&mut self`, synchronous, not generic, and
/// its parameters.
fn check_hook(cx: &Ctxt, marker: Marker, h: &Handler<'_>) {
    let shape = match marker {
        Marker::Checkpoint => {
            "a #[checkpoint] method has the shape `fn name(&mut self) -> Option<u64>` (or `Result<Option<u64>, E>`, sync or `async`): the checkpoint stored with the read model"
        }
        Marker::Commit => {
            "a #[commit] method has the shape `fn name(&mut self, position: u64)` (or returning `Result<(), E>`, sync or `async`): store `position` and commit"
        }
        Marker::Rollback => {
            "a #[rollback] method has the shape `fn name(&mut self) -> bool`: undo the uncommitted changes and return `true`"
        }
        Marker::Reset => {
            "a #[reset] method has the shape `fn name(&mut self)` (or returning `Result<(), E>`, sync or `async`): clear the read model and its checkpoint"
        }
        Marker::Handle => unreachable!("handlers are checked by check_handler"),
    };
    check_fn(cx, h, marker.as_str(), shape, marker != Marker::Rollback);
    let want = usize::from(marker == Marker::Commit);
    if h.params.len() != want {
        cx.error_spanned_by(&h.item.sig.inputs, format!("wrong parameters; {shape}"));
    }
    if marker == Marker::Rollback && matches!(h.item.sig.output, syn::ReturnType::Default) {
        cx.error_at(
            h.item.sig.paren_token.span.close(),
            format!("missing `-> bool`; {shape}"),
        );
    }
}

fn check_fn(cx: &Ctxt, h: &Handler<'_>, what: &str, shape: &str, may_be_async: bool) {
    let sig = &h.item.sig;
    if let (Some(a), false) = (&sig.asyncness, may_be_async) {
        let why = if what == "#[handle]" {
            "a projection applies events to its read model in order, one at a time; stage the changes and write them in an `async` #[commit] method"
        } else {
            "it only undoes staged changes"
        };
        cx.error_spanned_by(a, format!("{what} methods are synchronous: {why}"));
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(&sig.generics, not_generic(what));
    }
    match h.receiver {
        Receiver::RefMut => {}
        Receiver::Value | Receiver::Ref => cx.error_spanned_by(
            sig.inputs.first(),
            format!("a {what} method takes `&mut self`; {shape}"),
        ),
        Receiver::None => cx.error_spanned_by(
            &sig.ident,
            format!("a {what} method takes `&mut self`; {shape}"),
        ),
    }
}

/// Checks one `#[handle]` method; returns the event type it handles.
fn check_handler<'a>(cx: &Ctxt, h: &Handler<'a>) -> Option<&'a syn::Type> {
    let sig = &h.item.sig;
    check_fn(cx, h, "#[handle]", SHAPE, false);
    let mut params = h.params.iter();
    let event = handled_event(h);
    match params.next() {
        Some(Param::Ref { mutable: false, .. }) => {}
        Some(Param::Context { param, kind, .. }) if *kind == EVENT_META => {
            cx.error_spanned_by(param, format!("the event comes first; {SHAPE}"));
        }
        Some(other) => {
            let ty = &other.param().ty;
            let shown = match &**ty {
                syn::Type::Reference(r) => r.elem.to_token_stream(),
                other => other.to_token_stream(),
            };
            cx.error_spanned_by(
                ty,
                format!("take the event by shared reference (`&{shown}`); {SHAPE}"),
            );
        }
        None => {
            cx.error_at(
                sig.paren_token.span.close(),
                format!("a #[handle] method takes the event it handles; {SHAPE}"),
            );
        }
    }
    match params.next() {
        None => {}
        Some(Param::Context {
            kind,
            passing: Passing::Ref,
            ..
        }) if *kind == EVENT_META => {}
        Some(Param::Context { param, kind, .. }) if *kind == EVENT_META => cx.error_spanned_by(
            &param.ty,
            "take `&EventMeta`: the metadata is lent to the handler",
        ),
        Some(other) => cx.error_spanned_by(
            other.param(),
            format!("the second parameter, if any, is `meta: &EventMeta`; {SHAPE}"),
        ),
    }
    for extra in params {
        cx.error_spanned_by(extra.param(), format!("too many parameters; {SHAPE}"));
    }
    event
}
