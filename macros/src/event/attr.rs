//! `#[event(...)]` keys: `name`, `version`, `upcast_from`, `crate`.

use syn::{LitInt, LitStr, Path};

use crate::common::Ctxt;
use crate::common::attr::{Attr, Given, int_value, key_span, path_value, str_value, unknown_key};
use crate::common::symbol::{CRATE, EVENT_KEYS, NAME, UPCAST_FROM, VERSION};

/// The parsed `#[event(...)]` attributes.
pub struct EventAttrs {
    /// `name = "..."`.
    pub name: Option<LitStr>,
    /// `version = N`, with the literal for spans.
    pub version: Given<(u32, LitInt)>,
    /// `upcast_from = Type`.
    pub upcast_from: Given<Path>,
    /// `crate = path`.
    pub krate: Option<Path>,
    /// Whether a key was unknown (a misspelling may hide `upcast_from` or
    /// `version`, so checks about missing keys stay quiet).
    pub unknown_keys: bool,
}

impl EventAttrs {
    /// Parses every `#[event(...)]` attribute of the item.
    pub fn parse(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut name = Attr::none(NAME);
        let mut version = Attr::none(VERSION);
        let mut upcast_from = Attr::none(UPCAST_FROM);
        let mut krate = Attr::none(CRATE);
        let mut unknown_keys = false;
        for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
            let result = attr.parse_nested_meta(|meta| {
                let span = key_span(&meta);
                if meta.path == NAME {
                    let lit = str_value(cx, &meta, NAME, "name = \"MoneyDeposited\"")?;
                    if let Some(lit) = &lit
                        && lit.value().trim().is_empty()
                    {
                        cx.error_spanned_by(lit, "event name must not be empty");
                    }
                    name.set_opt(cx, span, lit);
                } else if meta.path == VERSION {
                    let v = int_value::<u32>(cx, &meta, VERSION, 1, "version = 2")?;
                    version.set_opt(cx, span, v);
                } else if meta.path == UPCAST_FROM {
                    let path =
                        path_value(cx, &meta, UPCAST_FROM, "upcast_from = MoneyDepositedV1")?;
                    upcast_from.set_opt(cx, span, path);
                } else if meta.path == CRATE {
                    krate.set_opt(
                        cx,
                        span,
                        path_value(cx, &meta, CRATE, "crate = ::eventfold")?,
                    );
                } else {
                    unknown_keys = true;
                    unknown_key(cx, &meta, "event", EVENT_KEYS)?;
                }
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        Self {
            name: name.get().value(),
            version: version.get(),
            upcast_from: upcast_from.get(),
            krate: krate.get().value(),
            unknown_keys,
        }
    }
}
