//! trybuild cases live in `tests/` and `pass/` + `fail/`.
