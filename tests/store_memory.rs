//! The store conformance suite against [`eventfold::MemoryStore`].

eventfold::store_conformance_tests!(eventfold::MemoryStore::new());
