//! Arguments of `#[eventfold::handlers(...)]`: `crate`, `vis`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Path, Visibility};

use crate::common::Ctxt;
use crate::common::attr::{Attr, key_span, path_value, unknown_key};
use crate::common::symbol::{CRATE, HANDLERS_KEYS, VIS};

/// The parsed `#[eventfold::handlers(...)]` arguments.
pub struct HandlersArgs {
    /// `crate = path`.
    pub krate: Option<Path>,
    /// `vis = pub(crate)`: visibility of the generated command enum
    /// (default `pub`).
    pub vis: Option<Visibility>,
}

impl HandlersArgs {
    /// Parses the attribute's arguments.
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut krate = Attr::none(CRATE);
        let mut vis = Attr::none(VIS);
        let parser = syn::meta::parser(|meta: ParseNestedMeta<'_>| {
            let span = key_span(&meta);
            if meta.path == CRATE {
                krate.set_opt(
                    cx,
                    span,
                    path_value(cx, &meta, CRATE, "crate = ::eventfold")?,
                );
            } else if meta.path == VIS {
                vis.set(cx, span, meta.value()?.parse::<Visibility>()?);
            } else {
                unknown_key(cx, &meta, "eventfold::handlers", HANDLERS_KEYS)?;
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(err);
        }
        Self {
            krate: krate.get().value(),
            vis: vis.get().value(),
        }
    }
}
