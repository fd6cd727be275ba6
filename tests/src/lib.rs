//! Shared helpers for the end-to-end tests: where the locally installed tools live and how to
//! start the servers the tests talk to.
