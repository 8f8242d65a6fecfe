//! Projections: checkpointed read models fed from all streams (issue 7).
