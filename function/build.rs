//! Links `landfall-function` with `startup.ld`, which gathers the code that runs from exec to the
//! first poll of the Lambda runtime API into one output section (`.text.cold_start`) ahead of
//! `.text`. A cold start then faults in a few neighbouring pages of code instead of some sixty
//! scattered ones (docs/function.md, "Start-up layout"). `scripts/startup-layout` regenerates it.
//!
//! The script ends in `INSERT BEFORE .text`, which GNU ld, LLD (Rust's default linker on x86_64
//! Linux) and `zig cc` (what `cargo lambda build` links with) understand, and gold and mold do
//! not. It is left out for those two (with a warning), for targets other than Linux, and when
//! `LANDFALL_STARTUP_LAYOUT=off`.
//!
//! Builds of the dev profiles (tests, `cargo build`) link the script with only its lines that
//! name Landfall's own functions: the linker matches each of its 569 patterns against every
//! section of the binary, and a debug build has so many sections that the whole list cost 11 s of
//! a 12 s link. The layout matters only to the release builds, which take the whole list.
#![allow(
    clippy::disallowed_methods,
    reason = "a build script's inputs are cargo's variables"
)]

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=startup.ld");
    println!("cargo:rerun-if-env-changed=LANDFALL_STARTUP_LAYOUT");
    if env::var("LANDFALL_STARTUP_LAYOUT").is_ok_and(|v| v == "off")
        || env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
    {
        return;
    }
    if let Some(linker) = unsupported_linker() {
        println!(
            "cargo:warning=landfall-function is linked without startup.ld: {linker} has no INSERT \
             (set LANDFALL_STARTUP_LAYOUT=off to silence this)"
        );
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut script = Path::new(&dir).join("startup.ld");
    if env::var("PROFILE").as_deref() == Ok("debug") {
        let full = fs::read_to_string(&script).expect("function/startup.ld is readable");
        let own = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
        script = Path::new(&own).join("startup-own-functions.ld");
        fs::write(&script, own_functions(&full)).expect("OUT_DIR is writable");
    }
    if script.to_string_lossy().contains(',') {
        // `-Wl,` splits its argument at commas.
        println!(
            "cargo:warning=landfall-function is linked without startup.ld: its path has a comma"
        );
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=landfall-function=-Wl,-T,{}",
        script.display()
    );
}

/// `script` without the patterns of other crates' functions: every line but the patterns, and
/// the patterns that name `landfall_function`.
fn own_functions(script: &str) -> String {
    let mut own = String::with_capacity(script.len());
    for line in script.lines() {
        if !line.trim_start().starts_with("*(") || line.contains("landfall_function") {
            own.push_str(line);
            own.push('\n');
        }
    }
    own
}

/// gold or mold, when the configuration names one: `-C link-arg=-fuse-ld=mold` and the like in
/// the flags, or a `linker` (cargo config or `-C linker`) whose file name says so.
fn unsupported_linker() -> Option<&'static str> {
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let linker = env::var("RUSTC_LINKER").unwrap_or_default();
    let linker_name = Path::new(&linker)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    ["mold", "gold"].into_iter().find(|name| {
        linker_name.contains(name)
            || flags.split('\x1f').any(|flag| {
                flag.contains(&format!("fuse-ld={name}"))
                    || flag.contains(&format!("ld.{name}"))
                    || (flag.contains("linker=") && flag.contains(name))
            })
    })
}
