//! The typed view of an `#[eventfold::process_manager]` impl block: its
//! event, rejection and deadline handlers.

use syn::{Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Type};

use super::attr::{Association, Lifecycle, Marker, ProcessAttrs, marker};
use crate::common::Ctxt;
pub use crate::common::impl_block::Receiver;
use crate::common::impl_block::{self_ident, typed_params};

/// The impl block.
pub struct Process<'a> {
    /// The block as written.
    pub block: &'a ItemImpl,
    /// `#[eventfold::process_manager(...)]` arguments.
    pub attrs: ProcessAttrs,
    /// The manager's type name (when the self type is a plain path).
    pub self_ident: Option<&'a Ident>,
    /// `#[start]`, `#[handle]` and `#[end]` methods.
    pub events: Vec<EventHandler<'a>>,
    /// `#[rejected]` methods.
    pub rejected: Vec<Handler<'a>>,
    /// `#[deadline]` methods.
    pub deadlines: Vec<Handler<'a>>,
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
    /// `ctx: &mut ProcessContext<Self>`.
    Ctx(&'a syn::PatType),
    /// Anything else.
    Other(&'a syn::PatType),
}

/// A marked method.
pub struct Handler<'a> {
    /// The method.
    pub item: &'a ImplItemFn,
    /// Its receiver.
    pub receiver: Receiver,
    /// Its other parameters, in order.
    pub params: Vec<Param<'a>>,
}

/// A `#[start]`, `#[handle]` or `#[end]` method.
pub struct EventHandler<'a> {
    /// The method.
    pub handler: Handler<'a>,
    /// Which marker.
    pub lifecycle: Lifecycle,
    /// Its association rule, if given.
    pub association: Option<Association>,
    /// The marker attribute (for error spans).
    pub attr: Box<syn::Attribute>,
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

    /// The type its first parameter refers to (the event, the rejection or
    /// the deadline).
    pub fn subject(&self) -> Option<&'a Type> {
        match self.params.first() {
            Some(Param::Ref { elem, .. }) => Some(elem),
            _ => None,
        }
    }

    /// Whether it takes `&EventMeta`.
    pub fn takes_meta(&self) -> bool {
        self.params.iter().any(|p| matches!(p, Param::Meta(_)))
    }

    /// Whether it takes the context.
    pub fn takes_ctx(&self) -> bool {
        self.params.iter().any(|p| matches!(p, Param::Ctx(_)))
    }

    /// For a `#[rejected]` handler: the `A` of `&Rejected<A>`.
    pub fn rejected_aggregate(&self) -> Option<&'a Type> {
        let Type::Path(tp) = self.subject()? else {
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
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(tp) if tp.qself.is_none() => tp.path.segments.last().map(|s| &s.ident),
        _ => None,
    }
}

/// The name a deadline type is stored under: its last path segment.
pub fn deadline_name(ty: &Type) -> Option<String> {
    last_ident(ty).map(ToString::to_string)
}

impl<'a> Param<'a> {
    fn classify(pt: &'a syn::PatType) -> Self {
        let plain = matches!(&*pt.pat, Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none())
            || matches!(&*pt.pat, Pat::Wild(_));
        if let (true, Type::Reference(r)) = (plain, &*pt.ty) {
            let name = last_ident(&r.elem).map(ToString::to_string);
            return match (r.mutability.is_some(), name.as_deref()) {
                (true, Some("ProcessContext")) => Param::Ctx(pt),
                (false, Some("EventMeta")) => Param::Meta(pt),
                (false, _) => Param::Ref {
                    param: pt,
                    elem: &r.elem,
                },
                (true, _) => Param::Other(pt),
            };
        }
        Param::Other(pt)
    }
}

impl<'a> Process<'a> {
    /// Reads the impl block.
    pub fn from_impl(cx: &Ctxt, attrs: ProcessAttrs, block: &'a ItemImpl) -> Self {
        let mut events = Vec::new();
        let mut rejected = Vec::new();
        let mut deadlines = Vec::new();
        for item in &block.items {
            if let ImplItem::Fn(f) = item {
                match marker(cx, &f.attrs) {
                    Some(Marker::Event {
                        lifecycle,
                        association,
                        attr,
                    }) => events.push(EventHandler {
                        handler: Handler::new(f),
                        lifecycle,
                        association,
                        attr,
                    }),
                    Some(Marker::Rejected) => rejected.push(Handler::new(f)),
                    Some(Marker::Deadline) => deadlines.push(Handler::new(f)),
                    None => {}
                }
            }
        }
        Self {
            block,
            attrs,
            self_ident: self_ident(block),
            events,
            rejected,
            deadlines,
        }
    }
}
