//! Project selection benchmark (filled in with the selection module).
fn main() {}
