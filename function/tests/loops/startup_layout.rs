//! `landfall-function` is linked with `startup.ld` (function/build.rs): the code that runs before
//! the first poll of the Lambda runtime API sits together in `.text.cold_start`, ahead of `.text`.
#![cfg(target_os = "linux")]

use object::{Object, ObjectSection, ObjectSymbol};

#[test]
fn start_up_code_sits_together_ahead_of_the_rest() {
    if option_env!("LANDFALL_STARTUP_LAYOUT") == Some("off") {
        return; // built without the layout, on purpose
    }
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_landfall-function")).expect("the binary");
    let binary = object::File::parse(&*bytes).expect("an ELF binary");
    let section = binary
        .section_by_name(".text.cold_start")
        .expect("a .text.cold_start section: startup.ld was not linked in");
    let text = binary.section_by_name(".text").expect("a .text section");
    assert!(section.size() > 0, "startup.ld matched no function");
    assert!(section.address() < text.address());

    // The entry points of the Lambda path, matched by names without their build hash, so the
    // layout holds in this (debug) build too.
    let start_up = section.address()..section.address() + section.size();
    for entry in [
        "17landfall_function4main17h",
        "17landfall_function3cli10no_command17h",
    ] {
        let symbol = binary
            .symbols()
            .find(|symbol| symbol.name().is_ok_and(|name| name.contains(entry)))
            .unwrap_or_else(|| panic!("no symbol {entry}"));
        assert!(
            start_up.contains(&symbol.address()),
            "{entry} is outside .text.cold_start"
        );
    }
}
