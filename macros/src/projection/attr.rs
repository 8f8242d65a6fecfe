//! Arguments of `#[eventfold::projection(...)]`: `name`, `codec`,
//! `on_error`, `crate`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{LitStr, Path, Type};

use crate::common::Ctxt;
use crate::common::attr::{Attr, key_span, path_value, str_value, type_value, unknown_key};
use crate::common::symbol::{CODEC, CRATE, NAME, ON_ERROR, PROJECTION_KEYS};

/// What the projection does when a handler fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnError {
    /// `on_error = "stop"` (the default).
    Stop,
    /// `on_error = "dead_letter"`.
    DeadLetter,
}

/// The parsed `#[eventfold::projection(...)]` arguments.
pub struct ProjectionArgs {
    /// `name = "..."`: the checkpoint key (default: the type's name).
    pub name: Option<LitStr>,
    /// `codec = Type`: the payload codec, built with `Default` (default
    /// `JsonCodec`).
    pub codec: Option<Type>,
    /// `on_error = "stop" | "dead_letter"`.
    pub on_error: Option<OnError>,
    /// `crate = path`.
    pub krate: Option<Path>,
}

impl ProjectionArgs {
    /// Parses the attribute's arguments.
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut name = Attr::none(NAME);
        let mut codec = Attr::none(CODEC);
        let mut on_error = Attr::none(ON_ERROR);
        let mut krate = Attr::none(CRATE);
        let parser = syn::meta::parser(|meta: ParseNestedMeta<'_>| {
            let span = key_span(&meta);
            if meta.path == NAME {
                let lit = str_value(cx, &meta, NAME, "name = \"balances\"")?;
                if let Some(lit) = &lit
                    && lit.value().trim().is_empty()
                {
                    cx.error_spanned_by(
                        lit,
                        "the projection name cannot be empty: it keys the checkpoint",
                    );
                }
                name.set_opt(cx, span, lit);
            } else if meta.path == CODEC {
                codec.set_opt(cx, span, type_value(cx, &meta, CODEC, "codec = JsonCodec")?);
            } else if meta.path == ON_ERROR {
                let Some(lit) = str_value(cx, &meta, ON_ERROR, "on_error = \"dead_letter\"")?
                else {
                    return Ok(());
                };
                match lit.value().as_str() {
                    "stop" => on_error.set(cx, span, OnError::Stop),
                    "dead_letter" => on_error.set(cx, span, OnError::DeadLetter),
                    other => cx.error_spanned_by(
                        &lit,
                        format!("unknown failure policy `{other}`: expected `\"stop\"` (stop the projection at the failed event) or `\"dead_letter\"` (park it and go on)"),
                    ),
                }
            } else if meta.path == CRATE {
                krate.set_opt(
                    cx,
                    span,
                    path_value(cx, &meta, CRATE, "crate = ::eventfold")?,
                );
            } else {
                return unknown_key(cx, &meta, "eventfold::projection", PROJECTION_KEYS);
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(err);
        }
        Self {
            name: name.get().value(),
            codec: codec.get().value(),
            on_error: on_error.get().value(),
            krate: krate.get().value(),
        }
    }
}
