//! The `landfall` binary and what it renders, in one test binary (each file of `tests/` would be
//! its own, each linking the function's AWS and Kubernetes clients): the CLI end to end in
//! temporary folders, `landfall locks` on the embedded store, and insta snapshots of every
//! rendered file.

mod cli;
mod cli_apps;
mod down;
mod locks;
mod platform_additions;
mod render_tree;
mod up;
mod up_confirm;
mod up_hooks;
mod up_image;
mod up_resume;
mod up_stages;
