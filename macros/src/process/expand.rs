//! Code generation of `#[eventfold::process_manager]`: the
//! `ProcessManager` impl (routing by stored type name, dispatch to the
//! handlers), and the marks `Sends<A>` (on the manager, per aggregate in
//! `sends(...)`) and `DeadlineOf<P>` (on each deadline type) that let
//! `ProcessContext::send` and `schedule_*` check their types.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::attr::{Association, association};
use super::{
    Handler, Marker, ProcessBlock, deadline_name, rejected_aggregate, subject, takes_ctx,
    takes_meta,
};
use crate::common::{Ctxt, private_path};

fn name(p: &ProcessBlock<'_>) -> String {
    match &p.args.name {
        Some(lit) => lit.value(),
        None => p.self_ident.to_string(),
    }
}

/// The association rule of an event handler (errors were reported by the
/// checks).
fn rule(h: &Handler<'_>) -> Option<Association> {
    let cx = Ctxt::new();
    let rule = association(&cx, h.attr, h.marker.as_str());
    let _ = cx.check();
    rule
}

/// The `Sends<A>` and `DeadlineOf<P>` marks: emitted after errors too, so
/// that `ctx.send` and `ctx.schedule_in` in the handlers raise no second
/// error.
fn marks(p: &ProcessBlock<'_>) -> TokenStream {
    let pm = process_path(p);
    let self_ty = p.self_ty;
    let targets = p.args.sends.iter().map(|a| {
        quote_spanned! {a.span()=>
            #[automatically_derived]
            impl #pm::Sends<#a> for #self_ty {}
        }
    });
    let deadlines = p.marked(Marker::Deadline).filter_map(|h| {
        let ty = subject(h)?;
        let name = deadline_name(ty)?;
        Some(quote! {
            #[automatically_derived]
            impl #pm::DeadlineOf<#self_ty> for #ty {
                const NAME: &'static str = #name;
            }
        })
    });
    quote!(#(#targets)* #(#deadlines)*)
}

fn process_path(p: &ProcessBlock<'_>) -> TokenStream {
    let pp = private_path(p.args.krate.as_ref());
    quote!(#pp::process)
}

/// What stands in for the generated code after an error: the marks and a
/// `ProcessManager` impl that handles nothing.
pub fn fallback(p: &ProcessBlock<'_>) -> TokenStream {
    let pp = private_path(p.args.krate.as_ref());
    let pm = process_path(p);
    let self_ty = p.self_ty;
    let name = name(p);
    let marks = marks(p);
    quote! {
        const _: () = {
            #marks
            #[automatically_derived]
            impl #pm::ProcessManager for #self_ty {
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
    }
}

/// The generated code of a valid block.
pub fn expand(p: &ProcessBlock<'_>) -> TokenStream {
    let pp = private_path(p.args.krate.as_ref());
    let pm = process_path(p);
    let self_ty = p.self_ty;
    let name = name(p);
    let marks = marks(p);
    let sends = &p.args.sends;

    let events: Vec<&Handler<'_>> = p.methods.iter().filter(|m| m.marker.is_event()).collect();
    // Every use of a handled type goes through `ListedEvent`, spanned at the
    // type: a type that is not an event is one error there.
    let event_names = events.iter().filter_map(|h| {
        let ty = subject(h)?;
        Some(quote_spanned!(ty.span()=> <#ty as #pp::ListedEvent>::SCHEMA.name))
    });
    let routes = events.iter().enumerate().filter_map(|(i, h)| {
        let ty = subject(h)?;
        let association = match rule(h)? {
            Association::Field(field) => quote_spanned! {field.span()=>
                #pm::Association::Key(::std::string::ToString::to_string(&__decoded.#field))
            },
            Association::Method(method) => quote_spanned! {method.span()=>
                #pm::Association::Key(::std::string::ToString::to_string(&__decoded.#method()))
            },
            Association::Correlated(_) => quote!(#pm::Association::Correlated),
        };
        let lifecycle = match h.marker {
            Marker::Start => quote!(#pm::Lifecycle::Start),
            Marker::End => quote!(#pm::Lifecycle::End),
            _ => quote!(#pm::Lifecycle::Continue),
        };
        let name = quote_spanned!(ty.span()=> <#ty as #pp::ListedEvent>::SCHEMA.name);
        let decode = quote_spanned! {ty.span()=>
            <#ty as #pp::ListedEvent>::decode_event(&#pp::JsonCodec, __event.schema_version, &__event.payload)
        };
        Some(quote! {
            if __event.event_type == #name {
                let __decoded: #ty = #decode.map_err(#pp::HandleError::Decode)?;
                let __association = #association;
                return ::core::result::Result::Ok(::core::option::Option::Some(
                    #pm::Routed::new(#i, __association, #lifecycle, __decoded),
                ));
            }
        })
    });
    let dispatch = events.iter().enumerate().filter_map(|(i, h)| {
        let ty = subject(h)?;
        let method = h.ident();
        let meta = takes_meta(h).then(|| quote!(, __meta));
        let ctx = takes_ctx(h).then(|| quote!(, __ctx));
        let call = output_call(h, quote!(Self::#method(self, &__decoded #meta #ctx)), &pp);
        Some(quote! {
            #i => {
                let __decoded: #ty = #pm::routed_event(__routed)?;
                #call
            }
        })
    });
    let deadlines: Vec<(&syn::Type, String, &Handler<'_>)> = p
        .marked(Marker::Deadline)
        .filter_map(|h| Some((subject(h)?, deadline_name(subject(h)?)?, h)))
        .collect();
    let on_deadline = deadlines.iter().map(|(ty, name, h)| {
        let method = h.ident();
        let ctx = takes_ctx(h).then(|| quote!(, __ctx));
        let call = output_call(h, quote!(Self::#method(self, &__payload #ctx)), &pp);
        quote! {
            if __deadline.name == #name {
                let __payload: #ty = #pm::deadline_payload(__deadline)?;
                return #call;
            }
        }
    });
    let on_rejected = p.marked(Marker::Rejected).filter_map(|h| {
        let aggregate = rejected_aggregate(h)?;
        let method = h.ident();
        let ctx = takes_ctx(h).then(|| quote!(, __ctx));
        let call = output_call(h, quote!(Self::#method(self, __typed #ctx)), &pp);
        Some(quote! {
            if let ::core::option::Option::Some(__typed) = __rejection.downcast::<#aggregate>() {
                #call?;
                return ::core::result::Result::Ok(true);
            }
        })
    });
    let deadline_names = deadlines.iter().map(|(_, name, _)| name);
    let target_names = sends
        .iter()
        .map(|a| quote_spanned!(a.span()=> <#a as #pm::CommandTarget>::TYPE_NAME));

    quote! {
        const _: () = {
            #marks

            #[automatically_derived]
            impl #pm::ProcessManager for #self_ty {
                const NAME: &'static str = #name;
                const EVENT_TYPES: &'static [&'static str] = &[#(#event_names),*];
                const TARGETS: &'static [&'static str] = &[#(#target_names),*];
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

/// `HandleOutput::into_handled(call)`, spanned at the method's return type so that a
/// wrong return type is reported there.
fn output_call(h: &Handler<'_>, call: TokenStream, pp: &TokenStream) -> TokenStream {
    let span = match &h.item.sig.output {
        syn::ReturnType::Type(_, out) => out.span(),
        syn::ReturnType::Default => h.ident().span(),
    };
    quote_spanned! {span=> #pp::HandleOutput::into_handled(#call) }
}
