//! Guides, with examples compiled as doctests.

#[doc = include_str!("versioning.md")]
pub mod versioning {}

#[doc = include_str!("getting_started.md")]
pub mod getting_started {}
