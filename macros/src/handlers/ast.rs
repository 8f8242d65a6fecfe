//! The typed view of an `#[eventfold::handlers]` impl block: its
//! `#[command]` and `#[apply]` methods.

use syn::{Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Type};

use super::attr::{HandlersAttrs, Marker, marker};
use crate::common::Ctxt;
pub use crate::common::impl_block::Receiver;
use crate::common::impl_block::{self_ident, typed_params};

/// The impl block.
pub struct Handlers<'a> {
    /// The block as written.
    pub block: &'a ItemImpl,
    /// `#[eventfold::handlers(...)]` arguments.
    pub attrs: HandlersAttrs,
    /// The aggregate's name (the impl's self type, when it is a plain path).
    pub self_ident: Option<&'a Ident>,
    /// The `#[command]` methods.
    pub commands: Vec<Method<'a>>,
    /// The `#[apply]` methods.
    pub applies: Vec<Method<'a>>,
}

/// One parameter after the receiver.
pub enum Param<'a> {
    /// `name: Type` (owned).
    Arg {
        /// The binding.
        ident: &'a Ident,
        /// The type.
        ty: &'a Type,
    },
    /// `name: &Type`: a reference to something else than a context.
    Ref {
        /// The whole parameter.
        param: &'a syn::PatType,
        /// The referenced type.
        elem: &'a Type,
    },
    /// `ctx: &CommandContext` or `ctx: &ApplyContext`.
    Context {
        /// The whole parameter.
        param: &'a syn::PatType,
        /// `CommandContext` or `ApplyContext`.
        kind: &'a Ident,
    },
    /// A pattern that is not a plain binding (`(a, b): (u8, u8)`).
    Pattern(&'a Pat),
}

/// A marked method.
pub struct Method<'a> {
    /// The method.
    pub item: &'a ImplItemFn,
    /// Its receiver.
    pub receiver: Receiver,
    /// Its other parameters, in order.
    pub params: Vec<Param<'a>>,
}

impl<'a> Method<'a> {
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
}

impl<'a> Param<'a> {
    fn classify(pt: &'a syn::PatType) -> Self {
        if let Type::Reference(r) = &*pt.ty {
            if let Type::Path(tp) = &*r.elem
                && let Some(last) = tp.path.segments.last()
                && (last.ident == "CommandContext" || last.ident == "ApplyContext")
            {
                return Param::Context {
                    param: pt,
                    kind: &last.ident,
                };
            }
            return Param::Ref {
                param: pt,
                elem: &r.elem,
            };
        }
        match &*pt.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => Param::Arg {
                ident: &pi.ident,
                ty: &pt.ty,
            },
            other => Param::Pattern(other),
        }
    }
}

impl<'a> Handlers<'a> {
    /// Reads the impl block.
    pub fn from_impl(cx: &Ctxt, attrs: HandlersAttrs, block: &'a ItemImpl) -> Self {
        let mut commands = Vec::new();
        let mut applies = Vec::new();
        for item in &block.items {
            if let ImplItem::Fn(f) = item {
                match marker(cx, &f.attrs) {
                    Some(Marker::Command) => commands.push(Method::new(f)),
                    Some(Marker::Apply) => applies.push(Method::new(f)),
                    None => {}
                }
            }
        }
        let self_ident = self_ident(block);
        Self {
            block,
            attrs,
            self_ident,
            commands,
            applies,
        }
    }
}
