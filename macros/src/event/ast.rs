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

    /// The stored fields: (name as serde writes it, type as written).
    pub fn fields(&self) -> Vec<(String, String)> {
        let syn::Data::Struct(data) = &self.input.data else {
            return Vec::new();
        };
        data.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !serde_flag(&f.attrs, "skip"))
            .map(|(i, f)| {
                let name = serde_rename(&f.attrs)
                    .or_else(|| f.ident.as_ref().map(|i| i.to_string()))
                    .unwrap_or_else(|| i.to_string());
                (name, type_text(&f.ty))
            })
            .collect()
    }

    /// The schema version: `version = N` or 1.
    pub fn version(&self) -> u32 {
        match &self.attrs.version {
            Given::Value((v, _)) => *v,
            _ => 1,
        }
    }
}

/// `#[serde(rename = "x")]` on a field, if present.
fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") && meta.input.peek(syn::Token![=]) {
                out = Some(meta.value()?.parse::<syn::LitStr>()?.value());
            } else if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            } else if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                meta.input.parse::<proc_macro2::TokenTree>()?;
            }
            Ok(())
        });
    }
    out
}

/// Whether `#[serde(<flag>)]` is on a field.
fn serde_flag(attrs: &[syn::Attribute], flag: &str) -> bool {
    let mut found = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(flag) {
                found = true;
            }
            if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            } else if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                meta.input.parse::<proc_macro2::TokenTree>()?;
            }
            Ok(())
        });
    }
    found
}

/// A type as compact text: `Vec<Option<u64>>`, `std::string::String`.
pub fn type_text(ty: &syn::Type) -> String {
    let raw = quote::ToTokens::to_token_stream(ty).to_string();
    let mut out = String::with_capacity(raw.len());
    let chars: Vec<char> = raw.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == ' ' {
            let prev = if i > 0 { chars[i - 1] } else { ' ' };
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let tight = |ch: char| matches!(ch, '<' | '>' | ':' | '&' | '(' | ')' | '[' | ']');
            if tight(prev) || tight(next) || next == ',' || next == ';' {
                if prev == ',' || (prev == '>' && next.is_alphanumeric()) {
                    out.push(' ');
                }
                continue;
            }
        }
        out.push(*c);
    }
    out.replace(",", ", ")
        .replace(",  ", ", ")
        .replace(";", "; ")
        .replace(";  ", "; ")
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
