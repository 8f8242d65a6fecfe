//! Code generation of `#[derive(Aggregate)]`: the event enum, its
//! `EventSet` impl, the conversions and the `Aggregate` impl.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::ast::Aggregate;
use super::attr::PayloadUpcaster;
use crate::common::private_path;

/// Everything the derive generates.
pub fn expand(agg: &Aggregate<'_>) -> TokenStream {
    let p = private_path(agg.attrs.krate.as_ref());
    let ident = agg.ident;
    let name = agg.name();
    let enum_ident = agg.event_enum();
    let events = agg.events();
    let paths: Vec<_> = events.iter().map(|e| e.path).collect();
    let variants: Vec<_> = events.iter().map(|e| e.variant).collect();
    // The error type as written appears once, in `AggregateParts`; every
    // other use goes through it, so a misspelled type is one error.
    let error_as_written = agg.error_type().expect("checked: error is set");
    let error = quote!(<#ident as #p::AggregateParts>::Error);
    // `Aggregate::Error`'s bounds are reported at the type as written.
    let aggregate_error = crate::common::respan(error.clone(), error_as_written.span());
    let schema_version = agg.attrs.schema_version.as_ref().map_or(1, |(v, _)| *v);
    let snapshot_every = match &agg.attrs.snapshot_every {
        Some((n, _)) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };

    // Each use of a listed path is spanned at the path, so an error about an
    // event (not an Event, no #[apply] handler) points at the list entry.
    // The impls' (empty) generics stay at the derive: rustc would otherwise
    // suggest, at the list entry, adding a type parameter to a misspelled
    // event, as a second error.
    let no_generics = quote!(<>);
    let per_event = events.iter().map(|e| {
        let path = e.path;
        let variant = e.variant;
        quote_spanned! {path.span()=>
            impl #no_generics ::core::convert::From<#path> for #enum_ident {
                fn from(event: #path) -> Self {
                    #enum_ident::#variant(event)
                }
            }
            impl #no_generics #p::IntoEvents<#enum_ident> for #path {
                fn into_events(self, out: &mut #p::std::vec::Vec<#enum_ident>) {
                    out.push(#enum_ident::#variant(self));
                }
            }
            impl #no_generics #p::CommandOutput<#path, #error> for #enum_ident {
                fn into_output(event: #path) -> ::core::result::Result<#p::std::vec::Vec<Self>, #error> {
                    ::core::result::Result::Ok(#p::std::vec![#enum_ident::#variant(event)])
                }
            }
            impl #no_generics #p::HasEvent<#path> for #enum_ident {}
            impl #no_generics #p::EventOfAggregate<#path> for #ident {
                fn into_event(event: #path) -> #enum_ident {
                    #enum_ident::#variant(event)
                }
            }
        }
    });

    let apply_arms = events.iter().map(|e| {
        let path = e.path;
        let variant = e.variant;
        let call = quote_spanned! {path.span()=>
            <_ as #p::Apply<#path>>::apply_event(this, event, ctx)
        };
        quote!(#enum_ident::#variant(event) => #call,)
    });

    let decode_arms = events.iter().map(|e| {
        let path = e.path;
        let variant = e.variant;
        quote! {
            if event_type == <#path as #p::ListedEvent>::SCHEMA.name {
                return <#path as #p::ListedEvent>::decode_event(codec, version, payload)
                    .map(|e| #p::Upcasted::One(#enum_ident::#variant(e)));
            }
        }
    });
    let payload_upcasters = payload_upcasters(agg, &p, &enum_ident);

    let event_enum = event_enum(agg, &p);
    let command_alias = command_alias(agg, &p);
    let unique_names = unique_name_asserts(agg, &p);
    let schema_lock = schema_lock(agg, &p);
    // The `Aggregate` impl's header at the derive: a missing supertrait
    // (`Default`) is reported there, once, not again at the struct's name.
    let self_at_derive = syn::Ident::new(&ident.to_string(), proc_macro2::Span::call_site());

    quote! {
        #event_enum
        #command_alias

        const _: () = {
            #(#per_event)*

            impl #p::CommandOutput<#enum_ident, #error> for #enum_ident {
                fn into_output(event: Self) -> ::core::result::Result<#p::std::vec::Vec<Self>, #error> {
                    ::core::result::Result::Ok(#p::std::vec![event])
                }
            }

            impl #p::EventOfAggregate<#enum_ident> for #ident {
                fn into_event(event: #enum_ident) -> #enum_ident {
                    event
                }
            }

            impl #p::AggregateParts for #ident {
                type Events = #enum_ident;
                type Error = #error_as_written;
            }

            impl #p::IntoEvents<#enum_ident> for #enum_ident {
                fn into_events(self, out: &mut #p::std::vec::Vec<#enum_ident>) {
                    out.push(self);
                }
            }

            #[automatically_derived]
            impl #p::EventSet for #enum_ident {
                const EVENT_TYPES: &'static [&'static str] = &[#(<#paths as #p::ListedEvent>::SCHEMA.name),*];

                fn event_type(&self) -> &'static str {
                    match self {
                        #(#enum_ident::#variants(_) => <#paths as #p::ListedEvent>::SCHEMA.name,)*
                    }
                }

                fn schema_version(&self) -> u32 {
                    match self {
                        #(#enum_ident::#variants(_) => <#paths as #p::ListedEvent>::SCHEMA.version,)*
                    }
                }

                fn encode<C: #p::Codec>(&self, codec: &C) -> ::core::result::Result<#p::EncodedEvent, #p::CodecError> {
                    match self {
                        #(#enum_ident::#variants(event) => <#paths as #p::ListedEvent>::encode_event(event, codec),)*
                    }
                }

                const SCHEMAS: &'static [&'static #p::EventSchema] = &[#(<#paths as #p::ListedEvent>::SCHEMA),*];

                fn upcast<C: #p::Codec>(
                    codec: &C,
                    event_type: &str,
                    version: u32,
                    payload: &[u8],
                ) -> ::core::result::Result<#p::Upcasted<Self>, #p::DecodeError> {
                    #(#decode_arms)*
                    #payload_upcasters
                    ::core::result::Result::Err(#p::unknown_event_type(event_type, Self::EVENT_TYPES))
                }
            }

            #[automatically_derived]
            impl #p::Aggregate for #self_at_derive {
                const TYPE_NAME: &'static str = #name;
                const SCHEMA_VERSION: u32 = #schema_version;
                const SNAPSHOT_EVERY: ::core::option::Option<u64> = #snapshot_every;
                const APPLY_READS_METADATA: bool = <Self as #p::Handlers>::APPLY_READS_METADATA;
                type Event = #enum_ident;
                type Command = <Self as #p::Handlers>::Command;
                type Error = #aggregate_error;

                fn apply(&mut self, event: &Self::Event, ctx: &#p::ApplyContext<'_>) {
                    // Through `Handlers`: see `Handlers::Applier`.
                    let this = <Self as #p::Handlers>::applier(self);
                    match event {
                        #(#apply_arms)*
                    }
                }

                fn handle(
                    &self,
                    command: Self::Command,
                    ctx: &#p::CommandContext,
                ) -> ::core::result::Result<#p::std::vec::Vec<Self::Event>, Self::Error> {
                    <Self as #p::Handlers>::handle_command(self, command, ctx)
                }
            }

            #unique_names
        };

        #schema_lock
    }
}

/// The event enum, with `Clone`, `Debug` and `PartialEq` written through
/// [`ListedEvent`](eventfold::__private::ListedEvent) (a derive would require
/// the traits of each event again, repeating an event's missing derive).
pub fn event_enum(agg: &Aggregate<'_>, p: &TokenStream) -> TokenStream {
    let ident = agg.ident;
    let vis = &agg.input.vis;
    let enum_ident = agg.event_enum();
    let events = agg.events();
    let paths: Vec<_> = events.iter().map(|e| e.path).collect();
    let variants: Vec<_> = events.iter().map(|e| e.variant).collect();
    let enum_doc = format!("The events of [`{ident}`], generated by `#[derive(Aggregate)]`.");
    let variant_docs = paths.iter().map(|path| format!("[`{}`]", path_text(path)));
    let method = |name: &str| -> Vec<TokenStream> {
        let name = quote::format_ident!("{name}");
        paths
            .iter()
            .map(|path| quote_spanned!(path.span()=> <#path as #p::ListedEvent>::#name))
            .collect()
    };
    let (clone, fmt, eq) = (
        method("clone_event"),
        method("fmt_event"),
        method("eq_event"),
    );
    quote! {
        #[doc = #enum_doc]
        #vis enum #enum_ident {
            #(
                #[doc = #variant_docs]
                #variants(#paths),
            )*
        }

        const _: () = {
            #[automatically_derived]
            impl ::core::clone::Clone for #enum_ident {
                fn clone(&self) -> Self {
                    match self {
                        #(#enum_ident::#variants(event) => #enum_ident::#variants(#clone(event)),)*
                    }
                }
            }
            #[automatically_derived]
            impl ::core::fmt::Debug for #enum_ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match self {
                        #(#enum_ident::#variants(event) => #fmt(event, f),)*
                    }
                }
            }
            #[automatically_derived]
            impl ::core::cmp::PartialEq for #enum_ident {
                fn eq(&self, other: &Self) -> bool {
                    match (self, other) {
                        #((#enum_ident::#variants(a), #enum_ident::#variants(b)) => #eq(a, b),)*
                        #[allow(unreachable_patterns)]
                        _ => false,
                    }
                }
            }
        };
    }
}

/// `<Aggregate>Command`, the name of the command enum that
/// `#[eventfold::handlers]` generates (inside an anonymous `const`): an
/// alias declared here, next to the aggregate and with its visibility, like
/// the event enum. The block itself then defines no name, so a second block
/// for the aggregate collides with the first on its `Handlers` impl only
/// (one error), and the name is the same wherever the block is written.
fn command_alias(agg: &Aggregate<'_>, p: &TokenStream) -> TokenStream {
    let ident = agg.ident;
    let vis = &agg.input.vis;
    let alias = agg.command_enum();
    let doc = format!(
        "The commands of [`{ident}`]: one variant per `#[command]` method of its `#[eventfold::handlers]` block, built by the constructor of the same name (`{alias}::method(..)`) or deserialized from JSON. Declared by `#[derive(Aggregate)]`, generated by `#[eventfold::handlers]`."
    );
    quote! {
        #[doc = #doc]
        #vis type #alias = <#ident as #p::Handlers>::Command;
    }
}

/// What `#[derive(Aggregate)]` emits next to its errors when the input is
/// too broken to expand: the parts `#[eventfold::handlers]` relies on, with
/// [`Unknown`](eventfold::__private::Unknown) as event enum and error type
/// (it accepts every command output and lists every event), so that the
/// only errors are the derive's own. The event enum is kept when the events
/// could be read (other code names it).
pub fn fallback(agg: &Aggregate<'_>) -> TokenStream {
    if !matches!(agg.input.data, syn::Data::Struct(_)) || !agg.input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let p = private_path(agg.attrs.krate.as_ref());
    let ident = agg.ident;
    let event_enum = if agg.event_list().is_some_and(|l| !l.is_empty()) {
        event_enum(agg, &p)
    } else {
        TokenStream::new()
    };
    let command_alias = command_alias(agg, &p);
    quote! {
        #event_enum
        #command_alias
        const _: () = {
            impl #p::AggregateParts for #ident {
                type Events = #p::Unknown;
                type Error = #p::Unknown;
            }
        };
    }
}

/// `const` asserts that no two listed events share an event type name, one
/// per pair so that the message names both.
fn unique_name_asserts(agg: &Aggregate<'_>, p: &TokenStream) -> TokenStream {
    let events = agg.events();
    let ident = agg.ident;
    let mut out = TokenStream::new();
    for (i, a) in events.iter().enumerate() {
        for b in &events[i + 1..] {
            let (pa, pb) = (a.path, b.path);
            let (a_text, b_text) = (path_text(pa), path_text(pb));
            let old_version = format!(
                "events `{a_text}` and `{b_text}` of aggregate `{ident}` are two versions of one event: list only the current version in `events(...)`; older versions are reached through `upcast_from`"
            );
            let same_name = format!(
                "events `{a_text}` and `{b_text}` of aggregate `{ident}` have the same event type name, so stored events could not be told apart: give one of them #[event(name = \"...\")]"
            );
            out.extend(quote_spanned! {pb.span()=>
                if #p::str_eq(<#pa as #p::ListedEvent>::SCHEMA.name, <#pb as #p::ListedEvent>::SCHEMA.name) {
                    if <#pa as #p::ListedEvent>::SCHEMA.version != <#pb as #p::ListedEvent>::SCHEMA.version {
                        ::core::panic!(#old_version);
                    }
                    ::core::panic!(#same_name);
                }
            });
        }
    }
    // Payload-level upcasters must not claim a current event type name.
    for u in &agg.attrs.upcasters {
        let claimed: Vec<(TokenStream, String)> = match u {
            PayloadUpcaster::Rename { from, .. } => {
                vec![(
                    quote!(#from),
                    format!("rename(\"{}\" => ...)", from.value()),
                )]
            }
            PayloadUpcaster::Split { legacy, .. } => vec![(
                quote!(<#legacy as #p::ListedEvent>::SCHEMA.name),
                format!("split({} => ...)", path_text(legacy)),
            )],
            PayloadUpcaster::Retire { names } => names
                .iter()
                .map(|n| (quote!(#n), format!("retire(\"{}\")", n.value())))
                .collect(),
        };
        for (name, what) in claimed {
            for e in &events {
                let path = e.path;
                let msg = format!(
                    "upcaster `{what}` of aggregate `{ident}` claims the type name of the current event `{}`: stored events of that name would be read as the current event, never upcast; remove the upcaster or rename the event",
                    path_text(path)
                );
                out.extend(quote_spanned! {name.span()=>
                    if #p::str_eq(#name, <#path as #p::ListedEvent>::SCHEMA.name) {
                        ::core::panic!(#msg);
                    }
                });
            }
        }
    }
    if out.is_empty() {
        return out;
    }
    quote!(const _: () = { #out };)
}

fn path_text(path: &syn::Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

/// The `upcast` branches of `rename`, `split` and `retire` upcasters.
fn payload_upcasters(agg: &Aggregate<'_>, p: &TokenStream, enum_ident: &syn::Ident) -> TokenStream {
    let events = agg.events();
    let mut out = TokenStream::new();
    for u in &agg.attrs.upcasters {
        match u {
            PayloadUpcaster::Rename { from, to } => {
                let Some(target) = events.iter().find(|e| path_text(e.path) == path_text(to))
                else {
                    continue; // reported by check
                };
                let variant = target.variant;
                out.extend(quote! {
                    if event_type == #from {
                        return <#to as #p::ListedEvent>::decode_event(codec, version, payload)
                            .map(|e| #p::Upcasted::One(#enum_ident::#variant(e)));
                    }
                });
            }
            PayloadUpcaster::Split { legacy, function } => {
                // A trait call spanned at the function: a wrong output is one
                // error there, naming the aggregate's events.
                let split = quote_spanned! {function.span()=>
                    #p::IntoEvents::<Self>::into_events(#function(legacy), &mut out)
                };
                out.extend(quote! {
                    if event_type == <#legacy as #p::ListedEvent>::SCHEMA.name {
                        let legacy = <#legacy as #p::ListedEvent>::decode_event(codec, version, payload)?;
                        let mut out = #p::std::vec::Vec::new();
                        #split;
                        return ::core::result::Result::Ok(#p::Upcasted::Many(out));
                    }
                });
            }
            PayloadUpcaster::Retire { names } => {
                out.extend(quote! {
                    if #(event_type == #names)||* {
                        return ::core::result::Result::Ok(#p::Upcasted::Retired);
                    }
                });
            }
        }
    }
    out
}

/// The compile-time schema lock check and the test that writes the lock.
fn schema_lock(agg: &Aggregate<'_>, p: &TokenStream) -> TokenStream {
    let Some(lock) = &agg.attrs.schema_lock else {
        return TokenStream::new();
    };
    let ident = agg.ident;
    let name = agg.name();
    let paths: Vec<_> = agg.events().iter().map(|e| e.path).collect();
    let lock_file = lock.value();
    let absolute = agg.source_dir.as_ref().map_or_else(
        || lock_file.clone(),
        |dir| dir.join(&lock_file).display().to_string(),
    );
    let update = std::env::var_os("EVENTFOLD_UPDATE_SCHEMA_LOCK").is_some();
    let module = quote::format_ident!("__eventfold_schema_lock_{}", ident);
    let test = quote! {
        #[cfg(test)]
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #module {
            #[test]
            fn schema_lock_matches_the_code() {
                if let ::core::result::Result::Err(e) =
                    #p::write_or_check_lock(&<super::#ident as #p::Aggregate>::schema(), #absolute)
                {
                    ::core::panic!("{}", e);
                }
            }
        }
    };
    // Depending on the variable makes Cargo rebuild when it is set or unset.
    let tracked = quote! {
        const _: ::core::option::Option<&str> = ::core::option_env!("EVENTFOLD_UPDATE_SCHEMA_LOCK");
    };
    if update {
        return quote!(#tracked #test);
    }
    if agg.source_dir.is_some() && !std::path::Path::new(&absolute).exists() {
        let msg = format!(
            "schema lock `{lock_file}` of aggregate `{ident}` does not exist (looked for {absolute}): create it with EVENTFOLD_UPDATE_SCHEMA_LOCK=1 cargo test, then commit it"
        );
        return quote_spanned! {lock.span()=> ::core::compile_error!(#msg);};
    }
    let checks = paths.iter().map(|path| {
        quote_spanned! {path.span()=>
            const _: () = {
                let msg = #p::lock_violation(LOCK, #lock_file, #name, <#path as #p::ListedEvent>::SCHEMA);
                if !msg.is_empty() {
                    ::core::panic!("{}", msg.as_str());
                }
            };
        }
    });
    quote! {
        #tracked
        const _: () = {
            const LOCK: &str = ::core::include_str!(#lock);
            #(#checks)*
        };
        #test
    }
}
