//! Attributes of `#[eventfold::handlers(...)]` (`crate`, `vis`) and of its
//! methods (`#[command]`, `#[apply]`).

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Path, Visibility};

use crate::common::Ctxt;
use crate::common::attr::{Attr, unknown_key};

const KEYS: &[&str] = &["crate", "vis"];

/// The parsed `#[eventfold::handlers(...)]` arguments.
pub struct HandlersAttrs {
    /// `crate = path`.
    pub krate: Option<Path>,
    /// `vis = pub(crate)`: visibility of the generated command enum
    /// (default `pub`).
    pub vis: Option<Visibility>,
}

impl HandlersAttrs {
    /// Parses the attribute's arguments.
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut krate = Attr::none("crate");
        let mut vis = Attr::none("vis");
        let parser = syn::meta::parser(|meta: ParseNestedMeta<'_>| {
            let span = meta
                .path
                .get_ident()
                .map_or_else(proc_macro2::Span::call_site, |i| i.span());
            if meta.path.is_ident("crate") {
                krate.set(cx, span, meta.value()?.parse::<Path>()?);
            } else if meta.path.is_ident("vis") {
                vis.set(cx, span, meta.value()?.parse::<Visibility>()?);
            } else {
                unknown_key(cx, &meta, "eventfold::handlers", KEYS)?;
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(err);
        }
        Self {
            krate: krate.get(),
            vis: vis.get(),
        }
    }
}

/// Which marker a method carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Marker {
    /// `#[command]`.
    Command,
    /// `#[apply]`.
    Apply,
}

impl Marker {
    /// The attribute as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::Command => "#[command]",
            Marker::Apply => "#[apply]",
        }
    }
}

/// Finds the marker attributes of a method, reporting misuse: arguments
/// (`#[command(x)]`), both markers, a marker given twice.
pub fn marker(cx: &Ctxt, attrs: &[syn::Attribute]) -> Option<Marker> {
    let mut found: Option<(Marker, &syn::Attribute)> = None;
    for attr in attrs {
        let this = if attr.path().is_ident("command") {
            Marker::Command
        } else if attr.path().is_ident("apply") {
            Marker::Apply
        } else {
            continue;
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            cx.error_spanned_by(attr, format!("{} takes no arguments", this.as_str()));
        }
        match found {
            Some((first, _)) if first == this => {
                cx.error_spanned_by(attr, format!("{} is given twice", this.as_str()));
            }
            Some((first, _)) => cx.error_spanned_by(
                attr,
                format!(
                    "a method is either a #[command] or an #[apply] handler, not both (it already has {})",
                    first.as_str()
                ),
            ),
            None => found = Some((this, attr)),
        }
    }
    found.map(|(m, _)| m)
}

/// Whether the attribute is one of the markers this macro consumes.
pub fn is_marker(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("command") || attr.path().is_ident("apply")
}
