//! What the attribute macros on `impl` blocks (`#[eventfold::handlers]`,
//! `#[eventfold::projection]`) share: reading the block, its self type, and
//! how each method takes `self`.

use proc_macro2::TokenStream;
use syn::{FnArg, Ident, ItemImpl, Signature, Type};

/// Parses the item as an `impl` block; otherwise returns the error (with
/// `hint` saying where the attribute goes) followed by the item unchanged.
pub fn parse(item: TokenStream, hint: &str) -> Result<ItemImpl, TokenStream> {
    syn::parse2(item.clone()).map_err(|_| {
        let mut out = syn::Error::new(proc_macro2::Span::call_site(), hint).to_compile_error();
        out.extend(item);
        out
    })
}

/// The name of the block's self type, when it is a plain path.
pub fn self_ident(block: &ItemImpl) -> Option<&Ident> {
    match &*block.self_ty {
        Type::Path(tp) if tp.qself.is_none() => tp.path.segments.last().map(|s| &s.ident),
        _ => None,
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

/// The typed parameters of a signature (everything but `self`).
pub fn typed_params(sig: &Signature) -> impl Iterator<Item = &syn::PatType> {
    sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(pt) => Some(pt),
        FnArg::Receiver(_) => None,
    })
}
