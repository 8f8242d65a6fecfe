//! Attributes of `#[eventfold::projection(...)]` (`name`, `codec`,
//! `on_error`, `crate`) and its method marker `#[handle]`.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{LitStr, Path, Type};

use crate::common::Ctxt;
use crate::common::attr::{Attr, unknown_key};

const KEYS: &[&str] = &["name", "codec", "on_error", "crate"];

/// What the projection does when a handler fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnError {
    /// `on_error = "stop"` (the default).
    Stop,
    /// `on_error = "dead_letter"`.
    DeadLetter,
}

/// The parsed `#[eventfold::projection(...)]` arguments.
pub struct ProjectionAttrs {
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

impl ProjectionAttrs {
    /// Parses the attribute's arguments.
    pub fn parse(cx: &Ctxt, args: TokenStream) -> Self {
        let mut name = Attr::none("name");
        let mut codec = Attr::none("codec");
        let mut on_error = Attr::none("on_error");
        let mut krate = Attr::none("crate");
        let parser = syn::meta::parser(|meta: ParseNestedMeta<'_>| {
            let span = meta
                .path
                .get_ident()
                .map_or_else(Span::call_site, |i| i.span());
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().trim().is_empty() {
                    cx.error_spanned_by(
                        &lit,
                        "the projection name cannot be empty: it keys the checkpoint",
                    );
                }
                name.set(cx, span, lit);
            } else if meta.path.is_ident("codec") {
                codec.set(cx, span, meta.value()?.parse::<Type>()?);
            } else if meta.path.is_ident("on_error") {
                let lit: LitStr = meta.value()?.parse()?;
                match lit.value().as_str() {
                    "stop" => on_error.set(cx, span, OnError::Stop),
                    "dead_letter" => on_error.set(cx, span, OnError::DeadLetter),
                    other => cx.error_spanned_by(
                        &lit,
                        format!("unknown failure policy `{other}`: expected `\"stop\"` (stop the projection at the failed event) or `\"dead_letter\"` (park it and go on)"),
                    ),
                }
            } else if meta.path.is_ident("crate") {
                krate.set(cx, span, meta.value()?.parse::<Path>()?);
            } else {
                return unknown_key(cx, &meta, "eventfold::projection", KEYS);
            }
            Ok(())
        });
        if let Err(err) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(err);
        }
        Self {
            name: name.get(),
            codec: codec.get(),
            on_error: on_error.get(),
            krate: krate.get(),
        }
    }
}

/// The method markers of a projection block.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Marker {
    /// `#[handle]`: one event type's handler.
    Handle,
    /// `#[checkpoint]`: loads the checkpoint kept in the read model.
    Checkpoint,
    /// `#[commit]`: commits a batch with its checkpoint.
    Commit,
    /// `#[rollback]`: undoes the uncommitted changes.
    Rollback,
    /// `#[reset]`: clears the read model for a rebuild.
    Reset,
}

const MARKERS: &[(&str, Marker)] = &[
    ("handle", Marker::Handle),
    ("checkpoint", Marker::Checkpoint),
    ("commit", Marker::Commit),
    ("rollback", Marker::Rollback),
    ("reset", Marker::Reset),
];

impl Marker {
    /// The attribute as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::Handle => "#[handle]",
            Marker::Checkpoint => "#[checkpoint]",
            Marker::Commit => "#[commit]",
            Marker::Rollback => "#[rollback]",
            Marker::Reset => "#[reset]",
        }
    }
}

/// The marker a method carries, reporting misuse (arguments, two markers).
pub fn marker(cx: &Ctxt, attrs: &[syn::Attribute]) -> Option<Marker> {
    let mut found: Option<Marker> = None;
    for attr in attrs {
        let Some(&(_, this)) = MARKERS.iter().find(|(n, _)| attr.path().is_ident(n)) else {
            continue;
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            let why = if this == Marker::Handle {
                ": the event type is the type of the method's first parameter"
            } else {
                ""
            };
            cx.error_spanned_by(attr, format!("{} takes no arguments{why}", this.as_str()));
        }
        match found {
            Some(first) if first == this => {
                cx.error_spanned_by(attr, format!("{} is given twice", this.as_str()))
            }
            Some(first) => cx.error_spanned_by(
                attr,
                format!(
                    "a method carries one marker; it already has {}",
                    first.as_str()
                ),
            ),
            None => found = Some(this),
        }
    }
    found
}

/// Whether the attribute is one of the markers this macro consumes.
pub fn is_marker(attr: &syn::Attribute) -> bool {
    MARKERS.iter().any(|(n, _)| attr.path().is_ident(n))
}
