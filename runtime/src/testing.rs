//! given-when-then testing of aggregates and projections (issue 4).
