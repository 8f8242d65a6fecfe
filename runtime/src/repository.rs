//! Repositories: load (snapshot + tail), handle, append, retry (issue 6).
