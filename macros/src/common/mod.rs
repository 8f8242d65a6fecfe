//! Pieces shared by every macro: error collection, the crate path, name
//! suggestions and case conversion.

pub mod attr;
pub mod ctxt;
pub mod impl_block;
pub mod symbol;

use syn::Path;

pub use ctxt::Ctxt;

/// The path generated code uses to reach the runtime's hidden module:
/// `::eventfold::__private` unless `crate = ...` overrides the crate path.
pub fn private_path(krate: Option<&Path>) -> proc_macro2::TokenStream {
    match krate {
        Some(path) => quote::quote!(#path::__private),
        None => quote::quote!(::eventfold::__private),
    }
}

/// The tokens with every span set to `span` (paths in generated code are
/// absolute, so resolution does not change), so
/// that whatever the compiler reports about them points at the user's
/// tokens at `span`, the same for all of them (identical diagnostics at one
/// place are reported once).
pub fn respan(
    tokens: proc_macro2::TokenStream,
    span: proc_macro2::Span,
) -> proc_macro2::TokenStream {
    use proc_macro2::{Group, TokenTree};
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(g) => {
                let mut out = Group::new(g.delimiter(), respan(g.stream(), span));
                out.set_span(span);
                TokenTree::Group(out)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// `deposit_money` -> `DepositMoney`.
pub fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect()
}

/// "did you mean `x`?" for a misspelled key, if one known key is close.
pub fn did_you_mean(unknown: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(unknown, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("; did you mean `{k}`?"),
        None => format!(
            "; expected one of: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal() {
        assert_eq!(pascal_case("deposit_money"), "DepositMoney");
        assert_eq!(pascal_case("close"), "Close");
        assert_eq!(pascal_case("_x__y"), "XY");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("evnts", &["events", "error"]),
            "; did you mean `events`?"
        );
        assert!(did_you_mean("zzz", &["events", "error"]).contains("expected one of"));
    }
}
