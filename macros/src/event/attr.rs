//! `#[event(...)]` keys: `name`, `version`, `upcast_from`, `crate`.

use syn::{LitInt, LitStr, Path};

use crate::common::Ctxt;
use crate::common::attr::{Attr, unknown_key};

const KEYS: &[&str] = &["name", "version", "upcast_from", "crate"];

/// The parsed `#[event(...)]` attributes.
pub struct EventAttrs {
    /// `name = "..."`.
    pub name: Option<LitStr>,
    /// `version = N`, with the literal for spans.
    pub version: Option<(u32, LitInt)>,
    /// `upcast_from = Type`.
    pub upcast_from: Option<Path>,
    /// `crate = path`.
    pub krate: Option<Path>,
}

impl EventAttrs {
    /// Parses every `#[event(...)]` attribute of the item.
    pub fn parse(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut name = Attr::none("name");
        let mut version = Attr::none("version");
        let mut upcast_from = Attr::none("upcast_from");
        let mut krate = Attr::none("crate");
        for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
            let result = attr.parse_nested_meta(|meta| {
                let span = meta
                    .path
                    .get_ident()
                    .map_or_else(proc_macro2::Span::call_site, |i| i.span());
                if meta.path.is_ident("name") {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().trim().is_empty() {
                        cx.error_spanned_by(&lit, "event name must not be empty");
                    }
                    name.set(cx, span, lit);
                } else if meta.path.is_ident("version") {
                    let lit: LitInt = meta.value()?.parse()?;
                    let value = lit.base10_parse::<u32>()?;
                    version.set(cx, span, (value, lit));
                } else if meta.path.is_ident("upcast_from") {
                    upcast_from.set(cx, span, meta.value()?.parse::<Path>()?);
                } else if meta.path.is_ident("crate") {
                    krate.set(cx, span, meta.value()?.parse::<Path>()?);
                } else {
                    unknown_key(cx, &meta, "event", KEYS)?;
                }
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        Self {
            name: name.get(),
            version: version.get(),
            upcast_from: upcast_from.get(),
            krate: krate.get(),
        }
    }
}
