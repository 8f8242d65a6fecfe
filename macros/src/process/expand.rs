//! Code generation of `#[eventfold::process_manager]`: the
//! `ProcessManager` impl (routing by stored type name, dispatch to the
//! handlers), and the `Sends<A>` / `DeadlineOf<P>` marks that let
//! `ProcessContext::send` and `schedule_*` check their types.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::{Handler, Process, deadline_name};
use super::attr::{Association, Lifecycle, is_marker};
use crate::common::private_path;

/// The impl block (markers stripped) and, when `valid`, everything
/// generated; otherwise a fallback that keeps the rest of the program
/// quiet (the marks, and a `ProcessManager` impl that handles nothing).
pub fn expand(p: &Process<'_>, valid: bool) -> TokenStream {
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
    let pm = quote!(#pp::process);
    let name = match &p.attrs.name {
        Some(lit) => lit.value(),
        None => self_ident.to_string(),
    };

    let sends = &p.attrs.sends;
    let target_marks = sends.iter().map(|a| {
        quote_spanned! {a.span()=>
            #[automatically_derived]
            impl #pm::Sends<#a> for #self_ident {}
        }
    });
    let deadlines: Vec<(&syn::Type, String, &Handler<'_>)> = p
        .deadlines
        .iter()
        .filter_map(|h| Some((h.subject()?, deadline_name(h.subject()?)?, h)))
        .collect();
    let deadline_marks = deadlines.iter().map(|(ty, name, _)| {
        quote! {
            #[automatically_derived]
            impl #pm::DeadlineOf<#self_ident> for #ty {
                const NAME: &'static str = #name;
            }
        }
    });
    let marks = quote!(#(#target_marks)* #(#deadline_marks)*);

    if !valid {
        return quote! {
            #block
            const _: () = {
                #marks
                #[automatically_derived]
                impl #pm::ProcessManager for #self_ident {
                    const NAME: &'static str = #name;
                    const EVENT_TYPES: &'static [&'static str] = &[];
                    const TARGETS: &'static [&'static str] = &[];
                    const DEADLINES: &'static [&'static str] = &[];
                    fn route(_: &#pp::RecordedEvent) -> ::core::result::Result<::core::option::Option<#pm::Routed>, #pp::HandleError> {
                        ::core::result::Result::Ok(::core::option::Option::None)
                    }
                    fn handle(&mut self, _: #pm::Routed, _: &#pp::EventMeta<'_>, _: &mut #pm::ProcessContext<Self>) -> ::core::result::Result<(), #pp::HandleError> {
                        ::core::result::Result::Ok(())
                    }
                    fn on_deadline(&mut self, _: &#pm::DeadlineRecord, _: &mut #pm::ProcessContext<Self>) -> ::core::result::Result<(), #pp::HandleError> {
                        ::core::result::Result::Ok(())
                    }
                    fn on_rejected(&mut self, _: &#pm::CommandRejection, _: &mut #pm::ProcessContext<Self>) -> ::core::result::Result<bool, #pp::HandleError> {
                        ::core::result::Result::Ok(false)
                    }
                }
            };
        };
    }

    let events: Vec<&syn::Type> = p
        .events
        .iter()
        .filter_map(|e| e.handler.subject())
        .collect();
    let asserts = events.iter().map(|ty| {
        quote_spanned! {ty.span()=> const _: () = #pp::assert_event::<#ty>(); }
    });
    let routes = p.events.iter().enumerate().filter_map(|(i, e)| {
        let ty = e.handler.subject()?;
        let association = match e.association.as_ref()? {
            Association::Field(field) => quote_spanned! {field.span()=>
                #pm::Association::Key(::std::string::ToString::to_string(&__decoded.#field))
            },
            Association::Method(method) => quote_spanned! {method.span()=>
                #pm::Association::Key(::std::string::ToString::to_string(&__decoded.#method()))
            },
            Association::Correlated(_) => quote!(#pm::Association::Correlated),
        };
        let lifecycle = match e.lifecycle {
            Lifecycle::Start => quote!(#pm::Lifecycle::Start),
            Lifecycle::Continue => quote!(#pm::Lifecycle::Continue),
            Lifecycle::End => quote!(#pm::Lifecycle::End),
        };
        Some(quote! {
            if __event.event_type == <#ty as #pp::Event>::NAME {
                let __decoded = #pp::decode_handled::<#ty, _>(&#pp::JsonCodec, __event)?;
                let __association = #association;
                return ::core::result::Result::Ok(::core::option::Option::Some(
                    #pm::Routed::new(#i, __association, #lifecycle, __decoded),
                ));
            }
        })
    });
    let dispatch = p.events.iter().enumerate().filter_map(|(i, e)| {
        let ty = e.handler.subject()?;
        let h = &e.handler;
        let method = h.ident();
        let meta = h.takes_meta().then(|| quote!(, __meta));
        let ctx = h.takes_ctx().then(|| quote!(, __ctx));
        let call = output_call(h, quote!(Self::#method(self, &__decoded #meta #ctx)), &pp);
        Some(quote! {
            #i => {
                let __decoded: #ty = #pm::routed_event(__routed)?;
                #call
            }
        })
    });
    let on_deadline = deadlines.iter().map(|(ty, name, h)| {
        let method = h.ident();
        let ctx = h.takes_ctx().then(|| quote!(, __ctx));
        let call = output_call(h, quote!(Self::#method(self, &__payload #ctx)), &pp);
        quote! {
            if __deadline.name == #name {
                let __payload: #ty = #pm::deadline_payload(__deadline)?;
                return #call;
            }
        }
    });
    let on_rejected = p.rejected.iter().filter_map(|h| {
        let aggregate = h.rejected_aggregate()?;
        let method = h.ident();
        let ctx = h.takes_ctx().then(|| quote!(, __ctx));
        let call = output_call(h, quote!(Self::#method(self, __typed #ctx)), &pp);
        Some(quote! {
            if let ::core::option::Option::Some(__typed) = __rejection.downcast::<#aggregate>() {
                #call?;
                return ::core::result::Result::Ok(true);
            }
        })
    });
    let deadline_names = deadlines.iter().map(|(_, name, _)| name);

    quote! {
        #block

        const _: () = {
            #(#asserts)*
            #marks

            #[automatically_derived]
            impl #pm::ProcessManager for #self_ident {
                const NAME: &'static str = #name;
                const EVENT_TYPES: &'static [&'static str] = &[#(<#events as #pp::Event>::NAME),*];
                const TARGETS: &'static [&'static str] = &[#(<#sends as #pm::CommandTarget>::TYPE_NAME),*];
                const DEADLINES: &'static [&'static str] = &[#(#deadline_names),*];

                fn route(
                    __event: &#pp::RecordedEvent,
                ) -> ::core::result::Result<::core::option::Option<#pm::Routed>, #pp::HandleError> {
                    #(#routes)*
                    ::core::result::Result::Ok(::core::option::Option::None)
                }

                fn handle(
                    &mut self,
                    __routed: #pm::Routed,
                    __meta: &#pp::EventMeta<'_>,
                    __ctx: &mut #pm::ProcessContext<Self>,
                ) -> ::core::result::Result<(), #pp::HandleError> {
                    let _ = (&__meta, &__ctx);
                    match __routed.handler {
                        #(#dispatch)*
                        __other => #pm::unknown_handler(__other),
                    }
                }

                fn on_deadline(
                    &mut self,
                    __deadline: &#pm::DeadlineRecord,
                    __ctx: &mut #pm::ProcessContext<Self>,
                ) -> ::core::result::Result<(), #pp::HandleError> {
                    let _ = &__ctx;
                    #(#on_deadline)*
                    #pm::unknown_deadline(__deadline)
                }

                fn on_rejected(
                    &mut self,
                    __rejection: &#pm::CommandRejection,
                    __ctx: &mut #pm::ProcessContext<Self>,
                ) -> ::core::result::Result<bool, #pp::HandleError> {
                    let _ = &__ctx;
                    #(#on_rejected)*
                    ::core::result::Result::Ok(false)
                }
            }
        };
    }
}

/// `handle_output(call)`, spanned at the method's return type so that a
/// wrong return type is reported there.
fn output_call(h: &Handler<'_>, call: TokenStream, pp: &TokenStream) -> TokenStream {
    let span = match &h.item.sig.output {
        syn::ReturnType::Type(_, out) => out.span(),
        syn::ReturnType::Default => h.ident().span(),
    };
    quote_spanned! {span=> #pp::handle_output(#call) }
}
