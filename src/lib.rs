//! Shared domain code for eventfold's examples, integration tests and
//! benchmarks. Everything here is written against eventfold's public API,
//! the way a user would write it.

pub mod bank;
pub mod bank_projections;
pub mod bank_service;
pub mod ledger;
pub mod transfers;
