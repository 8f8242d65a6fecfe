//! The typed view of a `#[derive(Event)]` input.

use syn::{DeriveInput, Ident};

use super::attr::EventAttrs;
use crate::common::Ctxt;
use crate::common::attr::Given;

/// A struct deriving `Event`.
pub struct Event<'a> {
    /// The input item.
    pub input: &'a DeriveInput,
    /// The struct's name.
    pub ident: &'a Ident,
    /// Its `#[event(...)]` attributes.
    pub attrs: EventAttrs,
}

impl<'a> Event<'a> {
    /// Reads the input.
    pub fn from_input(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        Self {
            input,
            ident: &input.ident,
            attrs: EventAttrs::parse(cx, &input.attrs),
        }
    }

    /// The event type name: `name = "..."` or the struct's name.
    pub fn name(&self) -> String {
        self.attrs
            .name
            .as_ref()
            .map_or_else(|| self.ident.to_string(), |lit| lit.value())
    }

    /// The stored fields: (name as serde writes it, type as normalised
    /// text). Field names follow `#[serde(rename)]` and the container's
    /// `rename_all`; `#[serde(skip)]` fields are not stored.
    pub fn fields(&self) -> Vec<(String, String)> {
        let syn::Data::Struct(data) = &self.input.data else {
            return Vec::new();
        };
        let container = serde_items(&self.input.attrs);
        let rename_all = container.iter().find_map(|(k, v)| match (k.as_str(), v) {
            ("rename_all", SerdeValue::Str(rule)) => Some(rule.clone()),
            ("rename_all", SerdeValue::Pair(ser, _)) => Some(ser.clone()),
            _ => None,
        });
        data.fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let items = serde_items(&f.attrs);
                if items.iter().any(|(k, _)| k == "skip") {
                    return None;
                }
                let renamed = items.iter().find_map(|(k, v)| match (k.as_str(), v) {
                    ("rename", SerdeValue::Str(n)) => Some(n.clone()),
                    ("rename", SerdeValue::Pair(ser, _)) => Some(ser.clone()),
                    _ => None,
                });
                let name = match (renamed, &f.ident) {
                    (Some(n), _) => n,
                    (None, Some(ident)) => {
                        let plain = ident.to_string();
                        let plain = plain.strip_prefix("r#").unwrap_or(&plain).to_owned();
                        match &rename_all {
                            Some(rule) => apply_rename_rule(rule, &plain),
                            None => plain,
                        }
                    }
                    (None, None) => i.to_string(),
                };
                Some((name, type_text(&f.ty)))
            })
            .collect()
    }

    /// The serde attributes that change the stored form, normalised, or ""
    /// when there are none: container keys (`rename_all`, `tag`, `content`,
    /// `transparent`, `default`, `from`, `into`, ...) and, per stored field,
    /// its keys other than `rename` (`skip_serializing_if`, `default`,
    /// `flatten`, `with`, `alias`, ...). Part of the schema lock line, so
    /// that changing any of them changes the lock.
    pub fn wire(&self) -> String {
        let mut parts: Vec<String> = serde_items(&self.input.attrs)
            .iter()
            .filter(|(k, _)| CONTAINER_WIRE_KEYS.contains(&k.as_str()))
            .map(|(k, v)| v.describe(k))
            .collect();
        if let syn::Data::Struct(data) = &self.input.data {
            let names = self.fields();
            let mut stored = names.iter();
            for (i, f) in data.fields.iter().enumerate() {
                let items = serde_items(&f.attrs);
                if items.iter().any(|(k, _)| k == "skip") {
                    continue;
                }
                let name = stored
                    .next()
                    .map_or_else(|| i.to_string(), |(n, _)| n.clone());
                let keys: Vec<String> = items
                    .iter()
                    .filter(|(k, _)| FIELD_WIRE_KEYS.contains(&k.as_str()))
                    .map(|(k, v)| v.describe(k))
                    .collect();
                if !keys.is_empty() {
                    parts.push(format!("{name}: {}", keys.join(" ")));
                }
            }
        }
        parts.join(", ")
    }

    /// The schema version: `version = N` or 1.
    pub fn version(&self) -> u32 {
        match &self.attrs.version {
            Given::Value((v, _)) => *v,
            _ => 1,
        }
    }
}

/// Container-level serde keys that change what is stored or what decodes.
const CONTAINER_WIRE_KEYS: &[&str] = &[
    "rename_all",
    "rename_all_fields",
    "tag",
    "content",
    "untagged",
    "transparent",
    "default",
    "deny_unknown_fields",
    "from",
    "try_from",
    "into",
    "remote",
    "rename",
];

/// Field-level serde keys that change what is stored or what decodes
/// (`rename` shows in the field's name, `skip` removes the field).
const FIELD_WIRE_KEYS: &[&str] = &[
    "skip_serializing",
    "skip_deserializing",
    "skip_serializing_if",
    "default",
    "flatten",
    "alias",
    "with",
    "serialize_with",
    "deserialize_with",
    "getter",
];

/// The value of one serde key.
enum SerdeValue {
    /// A bare flag: `transparent`.
    Flag,
    /// `key = "text"` (a string, or any other expression as text).
    Str(String),
    /// `key(serialize = "a", deserialize = "b")`.
    Pair(String, String),
}

impl SerdeValue {
    fn describe(&self, key: &str) -> String {
        match self {
            SerdeValue::Flag => key.to_owned(),
            SerdeValue::Str(v) => format!("{key} = {v:?}"),
            SerdeValue::Pair(s, d) => format!("{key}(serialize = {s:?}, deserialize = {d:?})"),
        }
    }
}

/// Every `#[serde(...)]` key of an item or field, in order, with its value.
fn serde_items(attrs: &[syn::Attribute]) -> Vec<(String, SerdeValue)> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map_or_else(|| type_text_of_path(&meta.path), |i| i.to_string());
            if meta.input.peek(syn::Token![=]) {
                let expr: syn::Expr = meta.value()?.parse()?;
                let text = match &expr {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => s.value(),
                    other => tokens_text(&quote::ToTokens::to_token_stream(other)),
                };
                out.push((key, SerdeValue::Str(text)));
            } else if meta.input.peek(syn::token::Paren) {
                let (mut ser, mut de) = (String::new(), String::new());
                meta.parse_nested_meta(|inner| {
                    let v: syn::LitStr = inner.value()?.parse()?;
                    if inner.path.is_ident("serialize") {
                        ser = v.value();
                    } else {
                        de = v.value();
                    }
                    Ok(())
                })?;
                out.push((key, SerdeValue::Pair(ser, de)));
            } else {
                out.push((key, SerdeValue::Flag));
            }
            Ok(())
        });
    }
    out
}

fn type_text_of_path(path: &syn::Path) -> String {
    tokens_text(&quote::ToTokens::to_token_stream(path))
}

/// serde's `rename_all` rules, applied to a field name written in
/// snake_case. An unknown rule (serde reports it) leaves the name as is.
fn apply_rename_rule(rule: &str, field: &str) -> String {
    let capitalize = |part: &str| {
        let mut chars = part.chars();
        chars.next().map_or_else(String::new, |c| {
            c.to_uppercase().chain(chars).collect::<String>()
        })
    };
    match rule {
        "lowercase" | "snake_case" => field.to_owned(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => field.split('_').map(capitalize).collect(),
        "camelCase" => {
            let pascal: String = field.split('_').map(capitalize).collect();
            let mut chars = pascal.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_lowercase().chain(chars).collect::<String>()
            })
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.replace('_', "-").to_ascii_uppercase(),
        _ => field.to_owned(),
    }
}

/// A type as normalised text: the same type always gives the same text,
/// whatever its spacing or line breaks in the source (`Vec<Option<u64>>`,
/// `std::collections::HashMap<String, u64>`, `&'static str`, `[u8; 4]`).
pub fn type_text(ty: &syn::Type) -> String {
    tokens_text(&quote::ToTokens::to_token_stream(ty))
}

/// Tokens as normalised text: a space only between two words (identifiers,
/// literals, lifetimes), after `,` and `;`, and around `+`, `=` and `->`.
pub fn tokens_text(tokens: &proc_macro2::TokenStream) -> String {
    let mut out = String::new();
    push_tokens(tokens.clone(), &mut out, &mut false);
    out
}

fn push_tokens(tokens: proc_macro2::TokenStream, out: &mut String, space_next: &mut bool) {
    use proc_macro2::{Delimiter, TokenTree};
    let wordy_end = |out: &String| {
        out.chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"')
    };
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                if *space_next {
                    out.push(' ');
                    *space_next = false;
                }
                out.push_str(open);
                push_tokens(g.stream(), out, space_next);
                *space_next = false;
                out.push_str(close);
            }
            TokenTree::Ident(_) | TokenTree::Literal(_) => {
                if *space_next || wordy_end(out) {
                    out.push(' ');
                }
                *space_next = false;
                out.push_str(&tt.to_string());
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                if c == '-'
                    && p.spacing() == proc_macro2::Spacing::Joint
                    && matches!(iter.peek(), Some(TokenTree::Punct(n)) if n.as_char() == '>')
                {
                    iter.next();
                    out.push_str(" -> ");
                    *space_next = false;
                    continue;
                }
                match c {
                    ',' | ';' => {
                        out.push(c);
                        *space_next = true;
                    }
                    '+' | '=' => {
                        out.push(' ');
                        out.push(c);
                        *space_next = true;
                    }
                    '\'' => {
                        if *space_next || wordy_end(out) {
                            out.push(' ');
                        }
                        *space_next = false;
                        out.push(c);
                    }
                    _ => {
                        *space_next = false;
                        out.push(c);
                    }
                }
            }
        }
    }
}

impl Event<'_> {
    /// The `upcast_from` type, when it was read.
    pub fn upcast_from(&self) -> Option<&syn::Path> {
        match &self.attrs.upcast_from {
            Given::Value(p) => Some(p),
            _ => None,
        }
    }
}
