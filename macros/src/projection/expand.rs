//! Code generation of `#[eventfold::projection]`: the `Projection` impl
//! whose `handle` compares the stored type name with each handled event's
//! `Event::NAME` and decodes only on a match.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::Projection;
use super::attr::{Marker, OnError, is_marker};
use crate::common::private_path;

/// The impl block (markers stripped) and, when `valid`, the `Projection`
/// impl; otherwise a fallback impl that keeps the rest of the program quiet.
pub fn expand(p: &Projection<'_>, valid: bool) -> TokenStream {
    let mut block = p.block.clone();
    for item in &mut block.items {
        if let syn::ImplItem::Fn(f) = item {
            f.attrs.retain(|a| !is_marker(a));
        }
    }
    let Some(self_ident) = p.self_ident else {
        return quote!(#block);
    };
    let pp = private_path(p.attrs.krate.as_ref());
    let name = match &p.attrs.name {
        Some(lit) => lit.value(),
        None => self_ident.to_string(),
    };

    if !valid {
        return quote! {
            #block
            const _: () = {
                impl #pp::Projection for #self_ident {
                    fn name(&self) -> &str { #name }
                    fn event_types(&self) -> &[&str] { &[] }
                    fn handle(&mut self, _: &#pp::RecordedEvent) -> ::core::result::Result<(), #pp::HandleError> {
                        ::core::result::Result::Ok(())
                    }
                }
            };
        };
    }

    let codec = match &p.attrs.codec {
        Some(ty) => quote!(#ty),
        None => quote!(#pp::JsonCodec),
    };
    let events: Vec<_> = p.handlers.iter().filter_map(|h| h.event()).collect();
    let asserts = events.iter().map(|ty| {
        quote_spanned! {ty.span()=> const _: () = #pp::assert_event::<#ty>(); }
    });
    let arms = p.handlers.iter().filter_map(|h| {
        let ty = h.event()?;
        let method = h.ident();
        let meta = if h.takes_meta() {
            quote!(, &#pp::EventMeta::from(__event))
        } else {
            quote!()
        };
        let span = match &h.item.sig.output {
            syn::ReturnType::Type(_, out) => out.span(),
            syn::ReturnType::Default => method.span(),
        };
        let call = quote_spanned! {span=>
            #pp::handle_output(Self::#method(self, &__decoded #meta))
        };
        Some(quote! {
            if __event.event_type == <#ty as #pp::Event>::NAME {
                let __codec = <#codec as ::core::default::Default>::default();
                let __decoded = #pp::decode_handled::<#ty, _>(&__codec, __event)?;
                return #call;
            }
        })
    });
    let policy = match p.attrs.on_error {
        Some(OnError::DeadLetter) => quote! {
            fn failure_policy(&self) -> #pp::FailurePolicy { #pp::FailurePolicy::DeadLetter }
        },
        Some(OnError::Stop) | None => quote!(),
    };

    let hook = |marker: Marker| {
        p.hook(marker).map(|h| {
            let await_ = h.item.sig.asyncness.map(|_| quote!(.await));
            (h.ident(), h.item.sig.output.span(), await_)
        })
    };
    let checkpoint = hook(Marker::Checkpoint).map(|(m, span, await_)| {
        let call = quote_spanned!(span=> #pp::checkpoint_output(Self::#m(self)#await_));
        quote! {
            async fn load_checkpoint(
                &mut self,
            ) -> ::core::result::Result<::core::option::Option<::core::primitive::u64>, #pp::HandleError> {
                #call
            }
        }
    });
    let commit = hook(Marker::Commit).map(|(m, span, await_)| {
        let call = quote_spanned!(span=> #pp::handle_output(Self::#m(self, position)#await_));
        quote! {
            async fn commit(
                &mut self,
                position: ::core::primitive::u64,
            ) -> ::core::result::Result<(), #pp::HandleError> {
                #call
            }
        }
    });
    let rollback = hook(Marker::Rollback).map(|(m, _, _)| {
        quote! {
            fn rollback(&mut self) -> bool { Self::#m(self) }
        }
    });
    let reset = hook(Marker::Reset).map(|(m, span, await_)| {
        let call = quote_spanned!(span=> #pp::handle_output(Self::#m(self)#await_));
        quote! {
            async fn reset(&mut self) -> ::core::result::Result<(), #pp::HandleError> {
                #call
            }
        }
    });

    quote! {
        #block

        const _: () = {
            #(#asserts)*

            #[automatically_derived]
            impl #pp::Projection for #self_ident {
                fn name(&self) -> &str { #name }

                fn event_types(&self) -> &[&str] {
                    const EVENT_TYPES: &[&str] = &[#(<#events as #pp::Event>::NAME),*];
                    EVENT_TYPES
                }

                fn handle(
                    &mut self,
                    __event: &#pp::RecordedEvent,
                ) -> ::core::result::Result<(), #pp::HandleError> {
                    #(#arms)*
                    ::core::result::Result::Ok(())
                }

                #policy
                #checkpoint
                #commit
                #rollback
                #reset
            }
        };
    }
}
