//! Attribute parsing against a table of known keys: unknown keys get a "did
//! you mean", duplicates an error on the second occurrence.

use syn::meta::ParseNestedMeta;

use super::{Ctxt, did_you_mean};

/// One attribute value that may be set at most once.
pub struct Attr<T> {
    name: &'static str,
    value: Option<(proc_macro2::Span, T)>,
}

impl<T> Attr<T> {
    /// An unset value for key `name`.
    pub fn none(name: &'static str) -> Self {
        Self { name, value: None }
    }

    /// Sets the value, reporting a duplicate on the key's span.
    pub fn set(&mut self, cx: &Ctxt, span: proc_macro2::Span, value: T) {
        if self.value.is_some() {
            cx.error_at(span, format!("duplicate `{}` key: set it once", self.name));
        } else {
            self.value = Some((span, value));
        }
    }

    /// The value, if set.
    pub fn get(self) -> Option<T> {
        self.value.map(|(_, v)| v)
    }
}

/// Reports a key not in `known`, with a suggestion, and skips its value
/// (`= value` or `(...)`) so that the keys after it are still read.
pub fn unknown_key(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    attribute: &str,
    known: &[&str],
) -> syn::Result<()> {
    let key = meta
        .path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_else(|| "?".into());
    cx.syn_error(meta.error(format!(
        "unknown key `{key}` in #[{attribute}(...)]{}",
        did_you_mean(&key, known)
    )));
    if meta.input.peek(syn::Token![=]) {
        meta.input.parse::<syn::Token![=]>()?;
    }
    while !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
        meta.input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}
