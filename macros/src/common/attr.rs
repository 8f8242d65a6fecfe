//! Attribute parsing against the table of known keys ([`super::symbol`]):
//! unknown keys get a "did you mean", duplicates an error on the second
//! occurrence, and a value of the wrong kind (a quoted type, a negative or
//! quoted number, a bare name where a string belongs) one error that shows
//! the right spelling. A key given with a bad value still counts as given,
//! so no second, false "missing key" error follows.

use proc_macro2::{Span, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::{Expr, Lit, LitStr, Path, Token, Type};

use super::symbol::Symbol;
use super::{Ctxt, did_you_mean};

/// One attribute value that may be set at most once.
pub struct Attr<T> {
    name: Symbol,
    value: Option<(Span, T)>,
    given: bool,
}

impl<T> Attr<T> {
    /// An unset value for key `name`.
    pub fn none(name: Symbol) -> Self {
        Self {
            name,
            value: None,
            given: false,
        }
    }

    /// Sets the value, reporting a duplicate on the key's span.
    pub fn set(&mut self, cx: &Ctxt, span: Span, value: T) {
        if self.value.is_some() {
            cx.error_at(span, format!("duplicate `{}` key: set it once", self.name));
        } else {
            self.value = Some((span, value));
        }
        self.given = true;
    }

    /// Sets the value when it was read; a key with a bad value (already
    /// reported) counts as given.
    pub fn set_opt(&mut self, cx: &Ctxt, span: Span, value: Option<T>) {
        match value {
            Some(v) => self.set(cx, span, v),
            None => self.given = true,
        }
    }

    /// The value and whether the key was written at all.
    pub fn get(self) -> Given<T> {
        match self.value {
            Some((_, v)) => Given::Value(v),
            None if self.given => Given::Invalid,
            None => Given::Missing,
        }
    }
}

/// A key's state after parsing.
pub enum Given<T> {
    /// Not written.
    Missing,
    /// Written with a value that was reported as wrong.
    Invalid,
    /// Written and read.
    Value(T),
}

impl<T> Given<T> {
    /// The value, if read.
    pub fn value(self) -> Option<T> {
        match self {
            Given::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Whether the key was written (well or not).
    pub fn is_given(&self) -> bool {
        !matches!(self, Given::Missing)
    }
}

/// The span of a key (its identifier).
pub fn key_span(meta: &ParseNestedMeta<'_>) -> Span {
    meta.path
        .get_ident()
        .map_or_else(Span::call_site, proc_macro2::Ident::span)
}

/// Reports a key not in `known`, with a suggestion, and skips its value.
pub fn unknown_key(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    attribute: &str,
    known: &[Symbol],
) -> syn::Result<()> {
    let key = meta
        .path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_else(|| "?".into());
    let names: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
    cx.syn_error(meta.error(format!(
        "unknown key `{key}` in #[{attribute}(...)]{}",
        did_you_mean(&key, &names)
    )));
    skip_value(meta)
}

/// Skips a key's value (`= value` or `(...)`), up to the next comma, so that
/// the keys after it are still read.
pub fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
    }
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        meta.input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Reads `= <tokens>` up to the next comma; reports `key(...)` or a missing
/// `=` with the expected spelling. `None` when reported.
fn value_tokens(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: Symbol,
    example: &str,
) -> syn::Result<Option<proc_macro2::TokenStream>> {
    if !meta.input.peek(Token![=]) {
        cx.syn_error(meta.error(format!("expected `{key} = ...`, such as `{example}`")));
        skip_value(meta)?;
        return Ok(None);
    }
    meta.input.parse::<Token![=]>()?;
    let mut tokens = proc_macro2::TokenStream::new();
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        tokens.extend([meta.input.parse::<TokenTree>()?]);
    }
    if tokens.is_empty() {
        cx.syn_error(meta.error(format!("`{key} =` needs a value, such as `{example}`")));
        return Ok(None);
    }
    Ok(Some(tokens))
}

/// `key = Type`. A quoted type gets "write it without quotes".
pub fn type_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: Symbol,
    example: &str,
) -> syn::Result<Option<Type>> {
    let Some(tokens) = value_tokens(cx, meta, key, example)? else {
        return Ok(None);
    };
    if let Ok(lit) = syn::parse2::<LitStr>(tokens.clone()) {
        cx.error_spanned_by(
            &lit,
            format!(
                "`{key}` takes a type, not a string: write `{key} = {}`",
                lit.value()
            ),
        );
        return Ok(None);
    }
    match syn::parse2::<Type>(tokens.clone()) {
        Ok(ty) if !matches!(ty, Type::Verbatim(_)) => Ok(Some(ty)),
        _ => {
            cx.error_spanned_by(
                &tokens,
                format!("`{key}` takes a type, such as `{example}`"),
            );
            Ok(None)
        }
    }
}

/// `key = path::To::Type`. A quoted path gets "write it without quotes".
pub fn path_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: Symbol,
    example: &str,
) -> syn::Result<Option<Path>> {
    let Some(tokens) = value_tokens(cx, meta, key, example)? else {
        return Ok(None);
    };
    if let Ok(lit) = syn::parse2::<LitStr>(tokens.clone()) {
        cx.error_spanned_by(
            &lit,
            format!(
                "`{key}` takes a type path, not a string: write `{key} = {}`",
                lit.value()
            ),
        );
        return Ok(None);
    }
    match syn::parse2::<Path>(tokens.clone()) {
        Ok(path) => Ok(Some(path)),
        Err(_) => {
            cx.error_spanned_by(
                &tokens,
                format!("`{key}` takes a type path, such as `{example}`"),
            );
            Ok(None)
        }
    }
}

/// `key = "text"`. A bare name gets "write it as a string".
pub fn str_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: Symbol,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    let Some(tokens) = value_tokens(cx, meta, key, example)? else {
        return Ok(None);
    };
    match syn::parse2::<LitStr>(tokens.clone()) {
        Ok(lit) => Ok(Some(lit)),
        Err(_) => {
            let text = tokens.to_string().replace(' ', "");
            cx.error_spanned_by(
                &tokens,
                format!("`{key}` takes a string: write `{key} = \"{text}\"`"),
            );
            Ok(None)
        }
    }
}

/// `key = N` with `N >= min`: a negative, quoted, fractional or too-large
/// number gets one error saying what is expected.
pub fn int_value<N>(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: Symbol,
    min: N,
    example: &str,
) -> syn::Result<Option<(N, syn::LitInt)>>
where
    N: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    N::Err: std::fmt::Display,
{
    let Some(tokens) = value_tokens(cx, meta, key, example)? else {
        return Ok(None);
    };
    let expected = format!("`{key}` is a whole number from {min}, such as `{example}`");
    match syn::parse2::<Expr>(tokens.clone()) {
        Ok(Expr::Lit(syn::ExprLit {
            lit: Lit::Int(lit), ..
        })) => match lit.base10_parse::<N>() {
            Ok(n) if n >= min => Ok(Some((n, lit))),
            Ok(_) => {
                cx.error_spanned_by(&lit, expected);
                Ok(None)
            }
            Err(e) => {
                cx.error_spanned_by(&lit, format!("{expected} ({e})"));
                Ok(None)
            }
        },
        Ok(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        })) => {
            cx.error_spanned_by(
                &lit,
                format!(
                    "`{key}` is a number, not a string: write `{key} = {}`",
                    lit.value()
                ),
            );
            Ok(None)
        }
        _ => {
            cx.error_spanned_by(&tokens, expected);
            Ok(None)
        }
    }
}
