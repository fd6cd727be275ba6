//! The rendered platform against the real tools (`terraform`, moto, the validators, checkov), the
//! tools themselves, and the test layout of the workspace, in one test binary.

mod layout;
mod platform;
mod platform_checks;
mod tools;
