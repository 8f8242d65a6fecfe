//! Code generation of `#[derive(Event)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::Event;
use crate::common::private_path;

/// The `Event` impl, plus compile-time checks of the upcaster chain.
pub fn expand(event: &Event<'_>) -> TokenStream {
    let p = private_path(event.attrs.krate.as_ref());
    let ident = event.ident;
    let name = event.name();
    let version = event.version();
    let (decode, chain_check) = match event.upcast_from() {
        None => (
            quote!(#p::decode_current::<Self, C>(codec, version, payload)),
            quote!(),
        ),
        Some(prev) => {
            let name_msg = format!(
                "`upcast_from` of event `{name}` version {version} names a type of another event name: it must be version {} of `{name}`",
                version - 1
            );
            let version_msg = format!(
                "`upcast_from` of event `{name}` version {version} must name version {} of `{name}` (versions go up by one: no gaps, no duplicate versions)",
                version - 1
            );
            let checks = quote_spanned! {prev.span()=>
                const _: () = {
                    ::core::assert!(#p::str_eq(<#prev as #p::Event>::NAME, #name), #name_msg);
                    ::core::assert!(<#prev as #p::Event>::VERSION + 1 == #version, #version_msg);
                };
            };
            let decode = quote_spanned! {prev.span()=>
                <Self as #p::Upcast<#prev>>::decode_chain(codec, version, payload, <#prev as #p::Event>::decode_payload::<C>)
            };
            (decode, checks)
        }
    };
    let schema = schema(event, &p, version);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::Event for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
                const SCHEMA: #p::EventSchema = #schema;

                fn decode_payload<C: #p::Codec>(
                    codec: &C,
                    version: u32,
                    payload: &[u8],
                ) -> ::core::result::Result<Self, #p::DecodeError> {
                    #decode
                }
            }
            #chain_check
        };
    }
}

/// A minimal impl emitted next to errors, so that uses of the event elsewhere
/// do not add follow-up errors.
pub fn fallback(event: &Event<'_>) -> TokenStream {
    if matches!(event.input.data, syn::Data::Union(_)) {
        return TokenStream::new();
    }
    let p = private_path(event.attrs.krate.as_ref());
    let ident = event.ident;
    let name = event.name();
    let version = event.version();
    let schema = schema(event, &p, version);
    // A generic event (reported) gets a generic impl, bounded so that it
    // holds where the struct's own derives do: uses such as
    // `events(MoneyDeposited<u64>)` add no second error.
    let (impl_generics, ty_generics, where_clause) = event.input.generics.split_for_impl();
    let mut where_clause = where_clause
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(where));
    if !event.input.generics.params.is_empty() {
        where_clause.predicates.push(syn::parse_quote! {
            Self: #p::serde::Serialize
                + #p::serde::de::DeserializeOwned
                + ::core::clone::Clone
                + ::core::fmt::Debug
                + ::core::cmp::PartialEq
                + ::core::marker::Send
                + ::core::marker::Sync
                + 'static
        });
    }
    quote! {
        const _: () = {
            impl #impl_generics #p::Event for #ident #ty_generics #where_clause {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
                const SCHEMA: #p::EventSchema = #schema;
                fn decode_payload<C: #p::Codec>(
                    codec: &C,
                    version: u32,
                    payload: &[u8],
                ) -> ::core::result::Result<Self, #p::DecodeError> {
                    #p::decode_current::<Self, C>(codec, version, payload)
                }
            }
        };
    }
}

/// The `EventSchema` literal: name, version, fields (serde's names, types as
/// written) and the previous version's schema.
fn schema(event: &Event<'_>, p: &TokenStream, version: u32) -> TokenStream {
    let name = event.name();
    let rust_type = event.ident.to_string();
    let wire = event.wire();
    let fields = event
        .fields()
        .into_iter()
        .map(|(field, ty)| quote!(#p::FieldSchema { name: #field, ty: #ty }));
    let previous = match event.upcast_from() {
        Some(prev) if version > 1 => {
            quote!(::core::option::Option::Some(&<#prev as #p::Event>::SCHEMA))
        }
        _ => quote!(::core::option::Option::None),
    };
    quote! {
        #p::EventSchema {
            name: #name,
            version: #version,
            fields: &[#(#fields),*],
            rust_type: #rust_type,
            previous: #previous,
            wire: #wire,
        }
    }
}
