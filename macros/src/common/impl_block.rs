//! The machinery shared by the attribute macros on `impl` blocks
//! (`#[eventfold::handlers]`, `#[eventfold::projection]`, and any later one
//! such as a process manager's): one parse -> check -> expand driver,
//! [`run`], with one set of rules:
//!
//! - the item must be an inherent `impl` block of a named type (any type
//!   path: `impl Account`, `impl super::Account`, `impl crate::bank::Account`);
//! - methods are found by their marker attributes, from the macro's marker
//!   table ([`ImplMacro::MARKERS`]); misuse of a marker (arguments, two
//!   markers, one twice) is reported here, once;
//! - parameters are classified once ([`Param`]), context types by the shared
//!   table ([`symbol::CONTEXTS`]) whatever their passing mode, so that
//!   `ctx: CommandContext` is never mistaken for a command argument;
//! - the block is always re-emitted (markers stripped), and on any error the
//!   macro's [`ImplMacro::fallback`] stands in for the generated code, so the
//!   user sees the errors and no cascade.
//!
//! A new impl-block macro implements [`ImplMacro`] (its arguments, markers,
//! checks, expansion and fallback) and calls [`run`] from its entry point.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, Signature, Type};

use super::Ctxt;
use super::symbol::{self, Symbol};

/// One attribute macro on `impl` blocks.
pub trait ImplMacro: Sized {
    /// The attribute as users write it: `eventfold::handlers`.
    const ATTRIBUTE: &'static str;
    /// What the block's self type is, for messages: `aggregate`.
    const SUBJECT: &'static str;
    /// An example of the attribute on its block:
    /// `#[eventfold::handlers] impl BankAccount { ... }`.
    const EXAMPLE: &'static str;
    /// The method markers, by name.
    type Marker: Copy + Eq + std::hash::Hash + 'static;
    /// The marker table: `#[command]` -> `Marker::Command`, ...
    const MARKERS: &'static [(Symbol, Self::Marker)];
    /// Whether generic impl blocks are left alone (emitted unchanged, no
    /// error) because another macro reports the generic type already (the
    /// aggregate derive does); otherwise they are an error here.
    const GENERICS_REPORTED_ELSEWHERE: bool = false;
    /// The parsed attribute arguments.
    type Args;

    /// Parses `#[attribute(args)]`.
    fn parse_args(cx: &Ctxt, args: TokenStream) -> Self::Args;
    /// Why a marker takes no arguments (appended to the error).
    fn marker_hint(_marker: Self::Marker) -> &'static str {
        ""
    }
    /// Whether a marker takes arguments (`#[start(key = id)]`), which the
    /// macro reads from [`Method::attr`]; by default markers take none.
    fn marker_takes_args(_marker: Self::Marker) -> bool {
        false
    }
    /// The macro's own checks, each error at the tokens at fault.
    fn check(cx: &Ctxt, block: &Block<'_, Self>);
    /// The generated code (after the block) for a valid block.
    fn expand(block: &Block<'_, Self>) -> TokenStream;
    /// What stands in for [`ImplMacro::expand`] after errors: minimal impls
    /// that keep the rest of the program quiet.
    fn fallback(block: &Block<'_, Self>) -> TokenStream;
}

/// A parsed impl block.
pub struct Block<'a, M: ImplMacro> {
    /// The attribute's arguments.
    pub args: M::Args,
    /// The self type as written (a path), used in generated impls.
    pub self_ty: &'a Type,
    /// The self type's name (its path's last segment), used to name
    /// generated items (`<Name>Command`).
    pub self_ident: &'a Ident,
    /// The marked methods, in order.
    pub methods: Vec<Method<'a, M::Marker>>,
    /// The block as written (for checks that read unmarked methods too).
    pub item: &'a ItemImpl,
}

impl<M: ImplMacro> Block<'_, M> {
    /// The methods carrying `marker`.
    pub fn marked(&self, marker: M::Marker) -> impl Iterator<Item = &Method<'_, M::Marker>> {
        self.methods.iter().filter(move |m| m.marker == marker)
    }
}

/// How a method takes `self`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    /// No `self` at all.
    None,
    /// `self`, `mut self` or `self: Type`.
    Value,
    /// `&self`.
    Ref,
    /// `&mut self`.
    RefMut,
}

impl Receiver {
    /// The receiver of a method signature.
    pub fn of(sig: &Signature) -> Self {
        match sig.inputs.first() {
            Some(FnArg::Receiver(r)) => match &r.kind {
                syn::ReceiverKind::Reference(_, _, None) => Receiver::Ref,
                syn::ReceiverKind::Reference(_, _, Some(_)) => Receiver::RefMut,
                _ => Receiver::Value,
            },
            _ => Receiver::None,
        }
    }
}

/// How a parameter is passed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Passing {
    /// `x: T`.
    Value,
    /// `x: &T`.
    Ref,
    /// `x: &mut T`.
    RefMut,
}

/// One parameter after the receiver.
pub enum Param<'a> {
    /// `name: Type`, owned, not a context type.
    Arg {
        /// The whole parameter.
        param: &'a syn::PatType,
        /// The binding.
        ident: &'a Ident,
        /// The type.
        ty: &'a Type,
    },
    /// `pattern: &Type` or `pattern: &mut Type`, not a context type.
    Ref {
        /// The whole parameter.
        param: &'a syn::PatType,
        /// The referenced type.
        elem: &'a Type,
        /// Whether it is `&mut`.
        mutable: bool,
    },
    /// A context type from [`symbol::CONTEXTS`], however passed.
    Context {
        /// The whole parameter.
        param: &'a syn::PatType,
        /// Which context.
        kind: Symbol,
        /// How it is passed.
        passing: Passing,
    },
    /// An owned parameter bound by a pattern (`(a, b): (u8, u8)`, `_: u64`).
    Pattern {
        /// The whole parameter.
        param: &'a syn::PatType,
    },
}

impl<'a> Param<'a> {
    fn classify(pt: &'a syn::PatType) -> Self {
        let (elem, passing) = match &*pt.ty {
            Type::Reference(r) if r.mutability.is_some() => (&*r.elem, Passing::RefMut),
            Type::Reference(r) => (&*r.elem, Passing::Ref),
            other => (other, Passing::Value),
        };
        if let Type::Path(tp) = elem
            && let Some(last) = tp.path.segments.last()
            && let Some(kind) = symbol::CONTEXTS.iter().find(|k| last.ident == **k)
        {
            return Param::Context {
                param: pt,
                kind: *kind,
                passing,
            };
        }
        if passing != Passing::Value {
            return Param::Ref {
                param: pt,
                elem,
                mutable: passing == Passing::RefMut,
            };
        }
        match &*pt.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => Param::Arg {
                param: pt,
                ident: &pi.ident,
                ty: &pt.ty,
            },
            _ => Param::Pattern { param: pt },
        }
    }

    /// The whole parameter.
    pub fn param(&self) -> &'a syn::PatType {
        match self {
            Param::Arg { param, .. }
            | Param::Ref { param, .. }
            | Param::Context { param, .. }
            | Param::Pattern { param } => param,
        }
    }
}

/// A marked method.
pub struct Method<'a, K> {
    /// Its marker.
    pub marker: K,
    /// The marker attribute as written.
    pub attr: &'a syn::Attribute,
    /// The method.
    pub item: &'a ImplItemFn,
    /// Its receiver.
    pub receiver: Receiver,
    /// Its other parameters, in order.
    pub params: Vec<Param<'a>>,
}

impl<'a, K> Method<'a, K> {
    /// The method's name.
    pub fn ident(&self) -> &'a Ident {
        &self.item.sig.ident
    }

    /// The span after the parameter list (for "missing ..." errors).
    pub fn close_paren(&self) -> Span {
        self.item.sig.paren_token.span.close()
    }

    /// The receiver as written, or the name when there is none (for
    /// errors spanning it).
    pub fn receiver_tokens(&self) -> TokenStream {
        match self.item.sig.inputs.first() {
            Some(FnArg::Receiver(r)) => quote!(#r),
            _ => {
                let ident = &self.item.sig.ident;
                quote!(#ident)
            }
        }
    }
}

/// Runs an impl-block macro: parse -> shared checks -> the macro's checks ->
/// expand (or, on errors, the errors, the block and the fallback).
pub fn run<M: ImplMacro>(args: TokenStream, item: TokenStream) -> TokenStream {
    let block: ItemImpl = match syn::parse2(item.clone()) {
        Ok(block) => block,
        Err(_) => {
            let msg = format!(
                "#[{}] goes on the {}'s inherent `impl` block: `{}`",
                M::ATTRIBUTE,
                M::SUBJECT,
                M::EXAMPLE
            );
            let mut out = syn::Error::new(Span::call_site(), msg).to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let cx = Ctxt::new();
    let args = M::parse_args(&cx, args);
    let methods = read_methods::<M>(&cx, &block);
    let stripped = strip_markers::<M>(&block);

    if let Some((path, _)) = &block.trait_ {
        cx.error_spanned_by(
            path,
            format!(
                "#[{}] goes on the {}'s inherent impl block (`{}`), not on a trait impl",
                M::ATTRIBUTE,
                M::SUBJECT,
                M::EXAMPLE
            ),
        );
        return finish(cx, quote!(#stripped), TokenStream::new());
    }
    if !block.generics.params.is_empty() {
        if M::GENERICS_REPORTED_ELSEWHERE {
            // The type's own derive reports that it cannot be generic; only
            // the block's own errors (arguments, markers) are added.
            return finish(cx, quote!(#stripped), TokenStream::new());
        }
        cx.error_spanned_by(
            &block.generics,
            format!("#[{}] does not support generic impl blocks", M::ATTRIBUTE),
        );
        return finish(cx, quote!(#stripped), TokenStream::new());
    }
    let self_ident = match &*block.self_ty {
        Type::Path(tp) if tp.qself.is_none() => tp.path.segments.last().map(|s| &s.ident),
        _ => None,
    };
    let Some(self_ident) = self_ident else {
        cx.error_spanned_by(
            &block.self_ty,
            format!(
                "#[{}] needs the {}'s type here, by name or path: `{}`",
                M::ATTRIBUTE,
                M::SUBJECT,
                M::EXAMPLE
            ),
        );
        return finish(cx, quote!(#stripped), TokenStream::new());
    };
    let parsed = Block::<M> {
        args,
        self_ty: &block.self_ty,
        self_ident,
        methods,
        item: &block,
    };
    M::check(&cx, &parsed);
    match cx.check() {
        Ok(()) => {
            let generated = M::expand(&parsed);
            quote!(#stripped #generated)
        }
        Err(err) => {
            let fallback = M::fallback(&parsed);
            let err = err.to_compile_error();
            quote!(#err #stripped #fallback)
        }
    }
}

fn finish(cx: Ctxt, block: TokenStream, fallback: TokenStream) -> TokenStream {
    match cx.check() {
        Ok(()) => quote!(#block #fallback),
        Err(err) => {
            let err = err.to_compile_error();
            quote!(#err #block #fallback)
        }
    }
}

/// The block with the macro's marker attributes removed.
fn strip_markers<M: ImplMacro>(block: &ItemImpl) -> ItemImpl {
    let mut block = block.clone();
    for item in &mut block.items {
        if let ImplItem::Fn(f) = item {
            f.attrs
                .retain(|a| !M::MARKERS.iter().any(|(name, _)| a.path() == name));
        }
    }
    block
}

/// The marked methods, reporting marker misuse: arguments
/// (`#[command(x)]`), two different markers, one marker twice.
fn read_methods<'a, M: ImplMacro>(cx: &Ctxt, block: &'a ItemImpl) -> Vec<Method<'a, M::Marker>> {
    let mut out = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(f) = item else { continue };
        let mut found: Option<(Symbol, M::Marker, &syn::Attribute)> = None;
        let mut conflicting = false;
        for attr in &f.attrs {
            let Some(&(name, this)) = M::MARKERS.iter().find(|(n, _)| attr.path() == n) else {
                continue;
            };
            if !matches!(attr.meta, syn::Meta::Path(_)) && !M::marker_takes_args(this) {
                cx.error_spanned_by(
                    attr,
                    format!("#[{name}] takes no arguments{}", M::marker_hint(this)),
                );
            }
            match found {
                Some((first, _, _)) if first == name => {
                    cx.error_spanned_by(attr, format!("#[{name}] is given twice"));
                }
                Some((first, _, _)) => {
                    conflicting = true;
                    cx.error_spanned_by(
                        attr,
                        format!("a method carries one marker: this one is already #[{first}]"),
                    );
                }
                None => found = Some((name, this, attr)),
            }
        }
        // A method with two markers is reported once; checking its shape
        // against either marker would add errors about the wrong one.
        if let (Some((_, marker, attr)), false) = (found, conflicting) {
            out.push(Method {
                marker,
                attr,
                item: f,
                receiver: Receiver::of(&f.sig),
                params: f
                    .sig
                    .inputs
                    .iter()
                    .filter_map(|input| match input {
                        FnArg::Typed(pt) => Some(Param::classify(pt)),
                        FnArg::Receiver(_) => None,
                    })
                    .collect(),
            });
        }
    }
    out
}

/// Shared shape checks of a marked method: synchronous (unless allowed),
/// not generic.
pub fn check_plain_fn<K>(cx: &Ctxt, m: &Method<'_, K>, what: &str, async_why: Option<&str>) {
    let sig = &m.item.sig;
    if let (Some(a), Some(why)) = (&sig.asyncness, async_why) {
        cx.error_spanned_by(a, format!("{what} methods are synchronous: {why}"));
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(&sig.generics, not_generic(what));
    }
}

/// The error for a generic marked method.
pub fn not_generic(what: &str) -> String {
    format!(
        "{what} methods cannot be generic: the generated code calls them with the types their signature names; write concrete types"
    )
}
