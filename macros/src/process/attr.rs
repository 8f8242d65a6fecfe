//! Arguments of `#[eventfold::process_manager(...)]` (`name`, `sends`,
//! `crate`) and the association rules of its event markers
//! (`#[start(key = field)]`, `#[handle(key = method())]`,
//! `#[end(correlated)]`).

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr, Path};

use crate::common::Ctxt;
use crate::common::attr::{Attr, key_span, path_value, str_value, unknown_key};
use crate::common::symbol::{ASSOCIATION_KEYS, CORRELATED, CRATE, KEY, NAME, PROCESS_KEYS, SENDS};

/// The parsed `#[eventfold::process_manager(...)]` arguments.
pub struct ProcessArgs {
    /// `name = "..."`: the manager's name (default: the type's name).
    pub name: Option<LitStr>,
    /// `sends(A, B)`: the aggregates it sends commands to.
    pub sends: Vec<Path>,
    /// `crate = path`.
    pub krate: Option<Path>,
}

impl ProcessArgs {
    /// Parses the attribute's arguments.
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut name = Attr::none(NAME);
        let mut sends = Attr::none(SENDS);
        let mut krate = Attr::none(CRATE);
        let parser = syn::meta::parser(|meta: ParseNestedMeta<'_>| {
            let span = key_span(&meta);
            if meta.path == NAME {
                let lit = str_value(cx, &meta, NAME, "name = \"transfers\"")?;
                if let Some(lit) = &lit
                    && lit.value().trim().is_empty()
                {
                    cx.error_spanned_by(
                        lit,
                        "the process manager's name cannot be empty: it keys its checkpoint and streams",
                    );
                }
                name.set_opt(cx, span, lit);
            } else if meta.path == SENDS {
                if !meta.input.peek(syn::token::Paren) {
                    cx.syn_error(
                        meta.error(
                            "expected `sends(Aggregate, ...)`, such as `sends(BankAccount)`",
                        ),
                    );
                    return crate::common::attr::skip_value(&meta);
                }
                let mut list = Vec::new();
                meta.parse_nested_meta(|inner| {
                    list.push(inner.path);
                    Ok(())
                })?;
                sends.set(cx, span, list);
            } else if meta.path == CRATE {
                krate.set_opt(
                    cx,
                    span,
                    path_value(cx, &meta, CRATE, "crate = ::eventfold")?,
                );
            } else {
                return unknown_key(cx, &meta, "eventfold::process_manager", PROCESS_KEYS);
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(err);
        }
        Self {
            name: name.get().value(),
            sends: sends.get().value().unwrap_or_default(),
            krate: krate.get().value(),
        }
    }
}

/// How an event finds its instance, as written.
#[derive(Clone)]
pub enum Association {
    /// `key = field`.
    Field(Ident),
    /// `key = method()`.
    Method(Ident),
    /// `correlated`.
    Correlated(Span),
}

/// The association rule of an event marker (`None`: none given, or one
/// already reported as wrong; `Some(None)` is never returned).
pub fn association(cx: &Ctxt, attr: &syn::Attribute, marker: &str) -> Option<Association> {
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return None;
    }
    let mut rule: Attr<Association> = Attr::none(KEY);
    let result = attr.parse_nested_meta(|meta| {
        let span = key_span(&meta);
        if meta.path == KEY {
            let expr: syn::Expr = meta.value()?.parse()?;
            match &expr {
                syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                    let ident = p.path.get_ident().cloned().expect("checked");
                    rule.set(cx, span, Association::Field(ident));
                }
                syn::Expr::Call(call) if call.args.is_empty() => match &*call.func {
                    syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                        let ident = p.path.get_ident().cloned().expect("checked");
                        rule.set(cx, span, Association::Method(ident));
                    }
                    other => key_error(cx, other, marker),
                },
                other => key_error(cx, other, marker),
            }
        } else if meta.path == CORRELATED {
            rule.set(cx, span, Association::Correlated(span));
        } else {
            return unknown_key(cx, &meta, &marker[2..marker.len() - 1], ASSOCIATION_KEYS);
        }
        Ok(())
    });
    if let Err(err) = result {
        cx.syn_error(err);
    }
    rule.get().value()
}

fn key_error(cx: &Ctxt, tokens: &syn::Expr, marker: &str) {
    cx.error_spanned_by(
        tokens,
        format!("{marker}: the key is a field of the event (`key = transfer_id`) or a method of it without arguments (`key = transfer_key()`)"),
    );
}
