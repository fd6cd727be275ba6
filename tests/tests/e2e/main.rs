//! The rendered platform against the real tools (`terraform`, moto, the validators, checkov), the
//! tools themselves, the runner image (built and run with podman and buildah), and the test layout
//! of the workspace, in one test binary.

mod layout;
mod platform;
mod platform_checks;
mod platform_function;
mod platform_network;
mod platform_state;
mod runner_image;
mod tools;
