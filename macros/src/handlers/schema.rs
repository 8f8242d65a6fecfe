//! The command schema of `#[eventfold::handlers]`: a static description of
//! the generated command enum (each variant's serialized name, its docs, its
//! fields with their Rust types and docs), implemented as
//! `DescribeCommands` on the enum. The HTTP service builds its OpenAPI
//! document from it, so users describe their commands nowhere else.
//!
//! A field's docs come from the method's doc comment, from a list item that
//! starts with the argument's name in backticks (Rust has no doc comments on
//! parameters): `` /// * `amount`: how much, in cents ``.

use proc_macro2::TokenStream;
use quote::quote;

use super::{HandlersBlock, Marker};
use crate::common::impl_block::Param;

/// `impl DescribeCommands for <command enum>`; `tag`: the serde tag naming
/// the variant in JSON.
pub fn expand(h: &HandlersBlock<'_>, command_enum: &syn::Ident, p: &TokenStream) -> TokenStream {
    let variants = h.marked(Marker::Command).map(|m| {
        let method = m.ident().to_string();
        let name = crate::common::rename::variant(h.args.rename_all.as_deref(), &method);
        let doc_lines = doc_lines(&m.item.attrs);
        let docs = doc_lines
            .iter()
            .take_while(|l| !is_arg_line(l))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned();
        let fields = m.params.iter().filter_map(|param| match param {
            Param::Arg { ident, ty, .. } => {
                let field = ident.to_string();
                let ty = type_text(ty);
                let docs = arg_doc(&doc_lines, &field);
                Some(quote! {
                    #p::CommandFieldSchema { name: #field, ty: #ty, docs: #docs }
                })
            }
            _ => None,
        });
        quote! {
            #p::CommandVariantSchema {
                name: #name,
                method: #method,
                docs: #docs,
                fields: &[#(#fields),*],
            }
        }
    });
    let tag = super::expand::command_tag(h);
    quote! {
        #[automatically_derived]
        impl #p::DescribeCommands for #command_enum {
            const COMMANDS: #p::CommandSchema = #p::CommandSchema {
                tag: #tag,
                variants: &[#(#variants),*],
            };
        }
    }
}

/// A type as the compact, spacing-independent text the schema lock uses
/// too (one normaliser for both).
fn type_text(ty: &syn::Type) -> String {
    crate::event::type_text(ty)
}

/// The text of the `#[doc = "..."]` attributes, one entry per line.
fn doc_lines(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|s| s.lines().map(|l| l.trim().to_owned()).collect::<Vec<_>>())
        .collect()
}

/// `* `name`: ...` or `- `name`: ...`: the name and the rest.
fn arg_line(line: &str) -> Option<(&str, &str)> {
    let rest = line
        .strip_prefix("* ")
        .or_else(|| line.strip_prefix("- "))?
        .trim_start()
        .strip_prefix('`')?;
    let (name, rest) = rest.split_once('`')?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix(':')
        .or_else(|| rest.strip_prefix('-'))
        .unwrap_or(rest);
    Some((name, rest.trim()))
}

fn is_arg_line(line: &str) -> bool {
    arg_line(line).is_some()
}

/// The doc of argument `name`, from its list item in the method's docs.
fn arg_doc(lines: &[String], name: &str) -> String {
    lines
        .iter()
        .filter_map(|l| arg_line(l))
        .find(|(n, _)| *n == name)
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::arg_line;

    #[test]
    fn type_texts() {
        let t = |s: &str| super::type_text(&syn::parse_str(s).unwrap());
        assert_eq!(t("Option < Vec < u64 > >"), "Option<Vec<u64>>");
        assert_eq!(
            t("std::collections::HashMap<String, u64>"),
            "std::collections::HashMap<String, u64>"
        );
        assert_eq!(t("[u8; 4]"), "[u8; 4]");
        assert_eq!(t("Box<dyn Fn()>"), "Box<dyn Fn()>");
    }

    #[test]
    fn argument_doc_lines() {
        assert_eq!(
            arg_line("* `amount`: in cents"),
            Some(("amount", "in cents"))
        );
        assert_eq!(
            arg_line("- `to` - the account"),
            Some(("to", "the account"))
        );
        assert_eq!(arg_line("Deposits money."), None);
        assert_eq!(arg_line("* a list item"), None);
    }
}
