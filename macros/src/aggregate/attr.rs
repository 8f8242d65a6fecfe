//! `#[aggregate(...)]` keys: `events(...)`, `error`, `name`,
//! `snapshot_every`, `schema_version`, `crate`.

use syn::punctuated::Punctuated;
use syn::{LitInt, LitStr, Path, Token, Type};

use crate::common::Ctxt;
use crate::common::attr::{Attr, unknown_key};

const KEYS: &[&str] = &[
    "events",
    "error",
    "name",
    "snapshot_every",
    "schema_version",
    "schema_lock",
    "upcasters",
    "crate",
];

const UPCASTER_KINDS: &[&str] = &["rename", "split", "retire"];

/// One payload-level upcaster from `upcasters(...)`.
pub enum PayloadUpcaster {
    /// `rename("OldName" => CurrentEvent)`: stored events of an old type
    /// name decode as `CurrentEvent` (through its version chain).
    Rename {
        /// The old type name.
        from: LitStr,
        /// The listed event it now is.
        to: Path,
    },
    /// `split(LegacyEvent => function)`: a legacy event type (a struct
    /// deriving `Event`, not listed) becomes what `function` returns.
    Split {
        /// The legacy event struct.
        legacy: Path,
        /// `fn(LegacyEvent) -> impl IntoEvents<Event enum>`.
        function: Path,
    },
    /// `retire("Name", ...)`: stored events of these type names are skipped.
    Retire {
        /// The retired names.
        names: Vec<LitStr>,
    },
}

/// The parsed `#[aggregate(...)]` attributes.
pub struct AggregateAttrs {
    /// `events(A, B, ...)`, with the span of the `events` key.
    pub events: Option<(proc_macro2::Span, Vec<Path>)>,
    /// `error = Type`.
    pub error: Option<Type>,
    /// `name = "..."`.
    pub name: Option<LitStr>,
    /// `snapshot_every = N`.
    pub snapshot_every: Option<(u64, LitInt)>,
    /// `schema_version = N`.
    pub schema_version: Option<(u32, LitInt)>,
    /// `schema_lock = "file"`.
    pub schema_lock: Option<LitStr>,
    /// `upcasters(...)`.
    pub upcasters: Vec<PayloadUpcaster>,
    /// `crate = path`.
    pub krate: Option<Path>,
    /// Whether any `#[aggregate]` attribute was present.
    pub present: bool,
}

impl AggregateAttrs {
    /// Parses every `#[aggregate(...)]` attribute of the item.
    pub fn parse(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut events = Attr::none("events");
        let mut error = Attr::none("error");
        let mut name = Attr::none("name");
        let mut snapshot_every = Attr::none("snapshot_every");
        let mut schema_version = Attr::none("schema_version");
        let mut krate = Attr::none("crate");
        let mut schema_lock = Attr::none("schema_lock");
        let mut upcasters = Vec::new();
        let mut present = false;
        for attr in attrs.iter().filter(|a| a.path().is_ident("aggregate")) {
            present = true;
            let result = attr.parse_nested_meta(|meta| {
                let span = meta
                    .path
                    .get_ident()
                    .map_or_else(proc_macro2::Span::call_site, |i| i.span());
                if meta.path.is_ident("events") {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let list = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
                    events.set(cx, span, (span, list.into_iter().collect()));
                } else if meta.path.is_ident("error") {
                    error.set(cx, span, meta.value()?.parse::<Type>()?);
                } else if meta.path.is_ident("name") {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().trim().is_empty() {
                        cx.error_spanned_by(&lit, "aggregate name must not be empty");
                    }
                    name.set(cx, span, lit);
                } else if meta.path.is_ident("snapshot_every") {
                    let lit: LitInt = meta.value()?.parse()?;
                    let n = lit.base10_parse::<u64>()?;
                    if n == 0 {
                        cx.error_spanned_by(
                            &lit,
                            "`snapshot_every` must be at least 1 (leave it out to never snapshot)",
                        );
                    }
                    snapshot_every.set(cx, span, (n, lit));
                } else if meta.path.is_ident("schema_version") {
                    let lit: LitInt = meta.value()?.parse()?;
                    let n = lit.base10_parse::<u32>()?;
                    if n == 0 {
                        cx.error_spanned_by(&lit, "`schema_version` starts at 1");
                    }
                    schema_version.set(cx, span, (n, lit));
                } else if meta.path.is_ident("schema_lock") {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().trim().is_empty() {
                        cx.error_spanned_by(&lit, "`schema_lock` names a file, such as \"events.lock\"");
                    }
                    schema_lock.set(cx, span, lit);
                } else if meta.path.is_ident("upcasters") {
                    meta.parse_nested_meta(|kind| {
                        let content;
                        syn::parenthesized!(content in kind.input);
                        if kind.path.is_ident("rename") {
                            let from: LitStr = content.parse()?;
                            content.parse::<Token![=>]>()?;
                            let to: Path = content.parse()?;
                            upcasters.push(PayloadUpcaster::Rename { from, to });
                        } else if kind.path.is_ident("split") {
                            let legacy: Path = content.parse()?;
                            content.parse::<Token![=>]>()?;
                            let function: Path = content.parse()?;
                            upcasters.push(PayloadUpcaster::Split { legacy, function });
                        } else if kind.path.is_ident("retire") {
                            let names = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                            upcasters.push(PayloadUpcaster::Retire {
                                names: names.into_iter().collect(),
                            });
                        } else {
                            let key = kind.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
                            cx.syn_error(kind.error(format!(
                                "unknown upcaster `{key}`{}; write rename(\"Old\" => Event), split(LegacyEvent => function) or retire(\"Name\")",
                                crate::common::did_you_mean(&key, UPCASTER_KINDS)
                            )));
                            while !content.is_empty() {
                                content.parse::<proc_macro2::TokenTree>()?;
                            }
                        }
                        Ok(())
                    })?;
                } else if meta.path.is_ident("crate") {
                    krate.set(cx, span, meta.value()?.parse::<Path>()?);
                } else {
                    unknown_key(cx, &meta, "aggregate", KEYS)?;
                }
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        Self {
            events: events.get(),
            error: error.get(),
            name: name.get(),
            snapshot_every: snapshot_every.get(),
            schema_version: schema_version.get(),
            schema_lock: schema_lock.get(),
            upcasters,
            krate: krate.get(),
            present,
        }
    }
}
