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
