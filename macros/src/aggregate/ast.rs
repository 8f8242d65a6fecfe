//! The typed view of a `#[derive(Aggregate)]` input.

use syn::{DeriveInput, Ident, Path};

use super::attr::AggregateAttrs;
use crate::common::Ctxt;
use crate::common::attr::Given;

/// A struct deriving `Aggregate`.
pub struct Aggregate<'a> {
    /// The input item.
    pub input: &'a DeriveInput,
    /// The struct's name.
    pub ident: &'a Ident,
    /// Its `#[aggregate(...)]` attributes.
    pub attrs: AggregateAttrs,
    /// The directory of the source file, for the schema lock path.
    pub source_dir: Option<std::path::PathBuf>,
}

/// One listed event: its path and the enum variant named after it.
pub struct ListedEvent<'a> {
    /// The path as written in `events(...)`.
    pub path: &'a Path,
    /// The variant: the path's last segment.
    pub variant: &'a Ident,
}

impl<'a> Aggregate<'a> {
    /// Reads the input.
    pub fn from_input(
        cx: &Ctxt,
        input: &'a DeriveInput,
        source_dir: Option<std::path::PathBuf>,
    ) -> Self {
        Self {
            input,
            ident: &input.ident,
            attrs: AggregateAttrs::parse(cx, &input.attrs),
            source_dir,
        }
    }

    /// The aggregate type name: `name = "..."` or the struct's name.
    pub fn name(&self) -> String {
        self.attrs
            .name
            .as_ref()
            .map_or_else(|| self.ident.to_string(), |lit| lit.value())
    }

    /// Every listed event, as written (duplicates included).
    pub fn listed(&self) -> Vec<ListedEvent<'_>> {
        self.event_list()
            .into_iter()
            .flatten()
            .filter_map(|path| {
                path.segments.last().map(|seg| ListedEvent {
                    path,
                    variant: &seg.ident,
                })
            })
            .collect()
    }

    /// The listed events, each variant name once (the first occurrence wins;
    /// `check` reports the others).
    pub fn events(&self) -> Vec<ListedEvent<'_>> {
        let mut seen = std::collections::HashSet::new();
        self.listed()
            .into_iter()
            .filter(|e| seen.insert(e.variant.to_string()))
            .collect()
    }

    /// Whether the input is complete enough to expand despite errors: a
    /// plain struct with events and an error type.
    pub fn expandable(&self) -> bool {
        matches!(self.input.data, syn::Data::Struct(_))
            && self.input.generics.params.is_empty()
            && self.error_type().is_some()
            && self.event_list().is_some_and(|l| !l.is_empty())
    }

    /// The `events(...)` list, when it was read.
    pub fn event_list(&self) -> Option<&Vec<Path>> {
        match &self.attrs.events {
            Given::Value((_, list)) => Some(list),
            _ => None,
        }
    }

    /// The `error = Type`, when it was read.
    pub fn error_type(&self) -> Option<&syn::Type> {
        match &self.attrs.error {
            Given::Value(ty) => Some(ty),
            _ => None,
        }
    }

    /// The event enum's name: `<Aggregate>Event`.
    pub fn event_enum(&self) -> Ident {
        quote::format_ident!("{}Event", self.ident)
    }

    /// The command enum's name: `<Aggregate>Command`.
    pub fn command_enum(&self) -> Ident {
        quote::format_ident!("{}Command", self.ident)
    }
}
