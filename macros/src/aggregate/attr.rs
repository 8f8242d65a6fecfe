//! `#[aggregate(...)]` keys: `events(...)`, `error`, `name`,
//! `snapshot_every`, `schema_version`, `crate`.

use syn::punctuated::Punctuated;
use syn::{LitInt, LitStr, Path, Token, Type};

use crate::common::Ctxt;
use crate::common::attr::{
    Attr, Given, int_value, key_span, path_value, skip_value, str_value, type_value, unknown_key,
};
use crate::common::symbol::{
    AGGREGATE_KEYS, CRATE, ERROR, EVENTS, NAME, RENAME, RETIRE, SCHEMA_LOCK, SCHEMA_VERSION,
    SNAPSHOT_EVERY, SPLIT, UPCASTER_KINDS, UPCASTERS,
};

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
    pub events: Given<(proc_macro2::Span, Vec<Path>)>,
    /// `error = Type`.
    pub error: Given<Type>,
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
    /// Whether a key was unknown (a misspelling may hide `events` or
    /// `error`, so checks about missing keys stay quiet).
    pub unknown_keys: bool,
}

/// Reads `events(A, B, ...)`; a list written otherwise is one error showing
/// the syntax. `None` when reported.
fn events_list(cx: &Ctxt, meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Option<Vec<Path>>> {
    if !meta.input.peek(syn::token::Paren) {
        cx.syn_error(
            meta.error("write the events in parentheses: `events(AccountOpened, MoneyDeposited)`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let mut list = Vec::new();
    let mut ok = true;
    while !content.is_empty() {
        if content.peek(LitStr) {
            let lit: LitStr = content.parse()?;
            cx.error_spanned_by(
                &lit,
                format!(
                    "`events(...)` lists event types, not strings: write `{}` without quotes",
                    lit.value()
                ),
            );
            ok = false;
        } else {
            match content.parse::<Path>() {
                Ok(path) => list.push(path),
                Err(_) => {
                    cx.syn_error(content.error("expected an event type, such as `MoneyDeposited`"));
                    while !content.is_empty() {
                        content.parse::<proc_macro2::TokenTree>()?;
                    }
                    return Ok(None);
                }
            }
        }
        if content.is_empty() {
            break;
        }
        if content.peek(Token![,]) {
            content.parse::<Token![,]>()?;
        } else {
            cx.syn_error(content.error("separate the events with commas: `events(A, B)`"));
            while !content.is_empty() {
                content.parse::<proc_macro2::TokenTree>()?;
            }
            return Ok(None);
        }
    }
    Ok(ok.then_some(list))
}

impl AggregateAttrs {
    /// Parses every `#[aggregate(...)]` attribute of the item.
    pub fn parse(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut events = Attr::none(EVENTS);
        let mut error = Attr::none(ERROR);
        let mut name = Attr::none(NAME);
        let mut snapshot_every = Attr::none(SNAPSHOT_EVERY);
        let mut schema_version = Attr::none(SCHEMA_VERSION);
        let mut krate = Attr::none(CRATE);
        let mut schema_lock = Attr::none(SCHEMA_LOCK);
        let mut upcasters = Vec::new();
        let mut present = false;
        let mut unknown_keys = false;
        for attr in attrs.iter().filter(|a| a.path().is_ident("aggregate")) {
            present = true;
            if let syn::Meta::Path(_) = attr.meta {
                continue; // reported by check as missing keys
            }
            let result = attr.parse_nested_meta(|meta| {
                let span = key_span(&meta);
                if meta.path == EVENTS {
                    let list = events_list(cx, &meta)?;
                    events.set_opt(cx, span, list.map(|l| (span, l)));
                } else if meta.path == ERROR {
                    error.set_opt(cx, span, type_value(cx, &meta, ERROR, "error = AccountError")?);
                } else if meta.path == NAME {
                    let lit = str_value(cx, &meta, NAME, "name = \"account\"")?;
                    if let Some(lit) = &lit && lit.value().trim().is_empty() {
                        cx.error_spanned_by(lit, "aggregate name must not be empty");
                    }
                    name.set_opt(cx, span, lit);
                } else if meta.path == SNAPSHOT_EVERY {
                    let n = int_value::<u64>(cx, &meta, SNAPSHOT_EVERY, 1, "snapshot_every = 100")?;
                    snapshot_every.set_opt(cx, span, n);
                } else if meta.path == SCHEMA_VERSION {
                    let n = int_value::<u32>(cx, &meta, SCHEMA_VERSION, 1, "schema_version = 2")?;
                    schema_version.set_opt(cx, span, n);
                } else if meta.path == SCHEMA_LOCK {
                    let lit = str_value(cx, &meta, SCHEMA_LOCK, "schema_lock = \"events.lock\"")?;
                    if let Some(lit) = &lit && lit.value().trim().is_empty() {
                        cx.error_spanned_by(lit, "`schema_lock` names a file, such as \"events.lock\"");
                    }
                    schema_lock.set_opt(cx, span, lit);
                } else if meta.path == UPCASTERS {
                    meta.parse_nested_meta(|kind| {
                        let content;
                        syn::parenthesized!(content in kind.input);
                        if kind.path == RENAME {
                            let from: LitStr = content.parse()?;
                            content.parse::<Token![=>]>()?;
                            let to: Path = content.parse()?;
                            upcasters.push(PayloadUpcaster::Rename { from, to });
                        } else if kind.path == SPLIT {
                            let legacy: Path = content.parse()?;
                            content.parse::<Token![=>]>()?;
                            let function: Path = content.parse()?;
                            upcasters.push(PayloadUpcaster::Split { legacy, function });
                        } else if kind.path == RETIRE {
                            let names = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                            upcasters.push(PayloadUpcaster::Retire {
                                names: names.into_iter().collect(),
                            });
                        } else {
                            let key = kind.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
                            let kinds: Vec<&str> = UPCASTER_KINDS.iter().map(|k| k.as_str()).collect();
                            cx.syn_error(kind.error(format!(
                                "unknown upcaster `{key}`{}; write rename(\"Old\" => Event), split(LegacyEvent => function) or retire(\"Name\")",
                                crate::common::did_you_mean(&key, &kinds)
                            )));
                            while !content.is_empty() {
                                content.parse::<proc_macro2::TokenTree>()?;
                            }
                        }
                        Ok(())
                    })?;
                } else if meta.path == CRATE {
                    krate.set_opt(cx, span, path_value(cx, &meta, CRATE, "crate = ::eventfold")?);
                } else {
                    unknown_keys = true;
                    unknown_key(cx, &meta, "aggregate", AGGREGATE_KEYS)?;
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
            name: name.get().value(),
            snapshot_every: snapshot_every.get().value(),
            schema_version: schema_version.get().value(),
            schema_lock: schema_lock.get().value(),
            upcasters,
            krate: krate.get().value(),
            present,
            unknown_keys,
        }
    }
}
