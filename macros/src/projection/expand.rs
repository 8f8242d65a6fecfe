//! Code generation of `#[eventfold::projection]`: the `Projection` impl
//! whose `handle` compares the stored type name with each handled event's
//! `Event::NAME` and decodes only on a match.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::attr::OnError;
use super::{Marker, ProjectionBlock, handled_event, takes_meta};
use crate::common::private_path;

fn name(p: &ProjectionBlock<'_>) -> String {
    match &p.args.name {
        Some(lit) => lit.value(),
        None => p.self_ident.to_string(),
    }
}

/// What stands in for the generated impl after an error: a `Projection`
/// impl that handles nothing, so uses of the read model stay quiet.
pub fn fallback(p: &ProjectionBlock<'_>) -> TokenStream {
    let pp = private_path(p.args.krate.as_ref());
    let self_ty = p.self_ty;
    let name = name(p);
    quote! {
        const _: () = {
            impl #pp::Projection for #self_ty {
                fn name(&self) -> &str { #name }
                fn event_types(&self) -> &[&str] { &[] }
                fn handle(&mut self, _: &#pp::RecordedEvent) -> ::core::result::Result<(), #pp::HandleError> {
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}

/// The `Projection` impl of a valid block.
pub fn expand(p: &ProjectionBlock<'_>) -> TokenStream {
    let pp = private_path(p.args.krate.as_ref());
    let self_ty = p.self_ty;
    let name = name(p);
    let codec = match &p.args.codec {
        Some(ty) => quote!(#ty),
        None => quote!(#pp::JsonCodec),
    };
    let handlers: Vec<_> = p.marked(Marker::Handle).collect();
    let events: Vec<_> = handlers.iter().filter_map(|h| handled_event(h)).collect();
    // Every use of a handled type goes through `ListedEvent`, spanned at the
    // type: a type that is not an event is one error there.
    let names = events.iter().map(|ty| {
        quote_spanned! {ty.span()=> <#ty as #pp::ListedEvent>::SCHEMA.name }
    });
    let arms = handlers.iter().filter_map(|h| {
        let ty = handled_event(h)?;
        let method = h.ident();
        let meta = if takes_meta(h) {
            quote!(, &#pp::EventMeta::from(__event))
        } else {
            quote!()
        };
        let span = match &h.item.sig.output {
            syn::ReturnType::Type(_, out) => out.span(),
            syn::ReturnType::Default => method.span(),
        };
        let call = quote_spanned! {span=>
            #pp::HandleOutput::into_handled(Self::#method(self, &__decoded #meta))
        };
        let name = quote_spanned!(ty.span()=> <#ty as #pp::ListedEvent>::SCHEMA.name);
        let decode = quote_spanned! {ty.span()=>
            <#ty as #pp::ListedEvent>::decode_event(&__codec, __event.schema_version, &__event.payload)
        };
        Some(quote! {
            if __event.event_type == #name {
                let __codec = <#codec as ::core::default::Default>::default();
                let __decoded = #decode.map_err(#pp::HandleError::Decode)?;
                return #call;
            }
        })
    });
    let policy = match p.args.on_error {
        Some(OnError::DeadLetter) => quote! {
            fn failure_policy(&self) -> #pp::FailurePolicy { #pp::FailurePolicy::DeadLetter }
        },
        Some(OnError::Stop) | None => quote!(),
    };

    let hook = |marker: Marker| {
        p.marked(marker).next().map(|h| {
            let await_ = h.item.sig.asyncness.map(|_| quote!(.await));
            (h.ident(), h.item.sig.output.span(), await_)
        })
    };
    let checkpoint = hook(Marker::Checkpoint).map(|(m, span, await_)| {
        let call = quote_spanned!(span=> #pp::CheckpointOutput::into_checkpoint(Self::#m(self)#await_));
        quote! {
            async fn load_checkpoint(
                &mut self,
            ) -> ::core::result::Result<::core::option::Option<::core::primitive::u64>, #pp::HandleError> {
                #call
            }
        }
    });
    let commit = hook(Marker::Commit).map(|(m, span, await_)| {
        let call =
            quote_spanned!(span=> #pp::HandleOutput::into_handled(Self::#m(self, position)#await_));
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
        let call = quote_spanned!(span=> #pp::HandleOutput::into_handled(Self::#m(self)#await_));
        quote! {
            async fn reset(&mut self) -> ::core::result::Result<(), #pp::HandleError> {
                #call
            }
        }
    });

    quote! {
        const _: () = {
            #[automatically_derived]
            impl #pp::Projection for #self_ty {
                fn name(&self) -> &str { #name }

                fn event_types(&self) -> &[&str] {
                    const EVENT_TYPES: &[&str] = &[#(#names),*];
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
