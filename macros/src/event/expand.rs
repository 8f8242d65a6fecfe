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
    let (decode, chain_check) = match &event.attrs.upcast_from {
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
                "`upcast_from` of event `{name}` version {version} must name version {} of `{name}` (versions go up one at a time, without gaps)",
                version - 1
            );
            let checks = quote_spanned! {prev.span()=>
                const _: () = {
                    ::core::assert!(#p::str_eq(<#prev as #p::Event>::NAME, #name), #name_msg);
                    ::core::assert!(<#prev as #p::Event>::VERSION + 1 == #version, #version_msg);
                };
                const _: () = #p::assert_upcast::<#prev, #ident>();
            };
            (
                quote!(#p::decode_upcast::<Self, #prev, C>(codec, version, payload)),
                checks,
            )
        }
    };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #p::Event for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;

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
    if !matches!(event.input.data, syn::Data::Struct(_)) || !event.input.generics.params.is_empty()
    {
        return TokenStream::new();
    }
    let p = private_path(event.attrs.krate.as_ref());
    let ident = event.ident;
    let name = event.name();
    quote! {
        const _: () = {
            impl #p::Event for #ident {
                const NAME: &'static str = #name;
                const VERSION: u32 = 1;
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
