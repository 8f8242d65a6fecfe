//! The typed view of an `#[eventfold::projection]` impl block: its
//! `#[handle]` methods.

use syn::{Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Type};

use super::attr::{Marker, ProjectionAttrs, marker};
use crate::common::Ctxt;
pub use crate::common::impl_block::Receiver;
use crate::common::impl_block::{self_ident, typed_params};

/// The impl block.
pub struct Projection<'a> {
    /// The block as written.
    pub block: &'a ItemImpl,
    /// `#[eventfold::projection(...)]` arguments.
    pub attrs: ProjectionAttrs,
    /// The read model's name (the impl's self type, when it is a plain path).
    pub self_ident: Option<&'a Ident>,
    /// The `#[handle]` methods.
    pub handlers: Vec<Handler<'a>>,
    /// The lifecycle methods (`#[checkpoint]`, `#[commit]`, `#[rollback]`,
    /// `#[reset]`), in order of appearance.
    pub hooks: Vec<(Marker, Handler<'a>)>,
}

/// One parameter after the receiver.
pub enum Param<'a> {
    /// `name: &Type` (not `&EventMeta`).
    Ref {
        /// The whole parameter.
        param: &'a syn::PatType,
        /// The referenced type.
        elem: &'a Type,
    },
    /// `meta: &EventMeta`.
    Meta(&'a syn::PatType),
    /// Anything else (an owned value, a pattern).
    Other(&'a syn::PatType),
}

/// A marked method (`#[handle]` or a lifecycle hook).
pub struct Handler<'a> {
    /// The method.
    pub item: &'a ImplItemFn,
    /// Its receiver.
    pub receiver: Receiver,
    /// Its other parameters, in order.
    pub params: Vec<Param<'a>>,
}

impl<'a> Handler<'a> {
    fn new(item: &'a ImplItemFn) -> Self {
        Self {
            item,
            receiver: Receiver::of(&item.sig),
            params: typed_params(&item.sig).map(Param::classify).collect(),
        }
    }

    /// The method's name.
    pub fn ident(&self) -> &'a Ident {
        &self.item.sig.ident
    }

    /// The event type it handles, when its first parameter is a reference.
    pub fn event(&self) -> Option<&'a Type> {
        match self.params.first() {
            Some(Param::Ref { elem, .. }) => Some(elem),
            _ => None,
        }
    }

    /// Whether it takes `&EventMeta` after the event.
    pub fn takes_meta(&self) -> bool {
        matches!(self.params.get(1), Some(Param::Meta(_)))
    }
}

impl<'a> Param<'a> {
    fn classify(pt: &'a syn::PatType) -> Self {
        let plain = matches!(&*pt.pat, Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none())
            || matches!(&*pt.pat, Pat::Wild(_));
        if let (true, Type::Reference(r)) = (plain, &*pt.ty) {
            if let Type::Path(tp) = &*r.elem
                && let Some(last) = tp.path.segments.last()
                && last.ident == "EventMeta"
            {
                return Param::Meta(pt);
            }
            return Param::Ref {
                param: pt,
                elem: &r.elem,
            };
        }
        Param::Other(pt)
    }
}

impl<'a> Projection<'a> {
    /// Reads the impl block.
    pub fn from_impl(cx: &Ctxt, attrs: ProjectionAttrs, block: &'a ItemImpl) -> Self {
        let mut handlers = Vec::new();
        let mut hooks = Vec::new();
        for item in &block.items {
            if let ImplItem::Fn(f) = item {
                match marker(cx, &f.attrs) {
                    Some(Marker::Handle) => handlers.push(Handler::new(f)),
                    Some(other) => hooks.push((other, Handler::new(f))),
                    None => {}
                }
            }
        }
        let self_ident = self_ident(block);
        Self {
            block,
            attrs,
            self_ident,
            handlers,
            hooks,
        }
    }

    /// The method marked with `marker`, if any (the first one).
    pub fn hook(&self, marker: Marker) -> Option<&Handler<'a>> {
        self.hooks
            .iter()
            .find(|(m, _)| *m == marker)
            .map(|(_, h)| h)
    }
}
