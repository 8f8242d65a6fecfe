//! Guides, with examples compiled as doctests.

#[doc = include_str!("versioning.md")]
pub mod versioning {}
