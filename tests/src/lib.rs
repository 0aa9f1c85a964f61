//! Cross-crate tests live in `tests/tests/`; the JavaScript interoperability harness in
//! `tests/interop-js/`.
