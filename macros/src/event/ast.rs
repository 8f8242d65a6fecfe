//! The typed view of a `#[derive(Event)]` input.

use syn::{DeriveInput, Ident};

use super::attr::EventAttrs;
use crate::common::Ctxt;

/// A struct deriving `Event`.
pub struct Event<'a> {
    /// The input item.
    pub input: &'a DeriveInput,
    /// The struct's name.
    pub ident: &'a Ident,
    /// Its `#[event(...)]` attributes.
    pub attrs: EventAttrs,
}

impl<'a> Event<'a> {
    /// Reads the input.
    pub fn from_input(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        Self {
            input,
            ident: &input.ident,
            attrs: EventAttrs::parse(cx, &input.attrs),
        }
    }

    /// The event type name: `name = "..."` or the struct's name.
    pub fn name(&self) -> String {
        self.attrs
            .name
            .as_ref()
            .map_or_else(|| self.ident.to_string(), |lit| lit.value())
    }

    /// The schema version: `version = N` or 1.
    pub fn version(&self) -> u32 {
        self.attrs.version.as_ref().map_or(1, |(v, _)| *v)
    }
}
