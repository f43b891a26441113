//! The `kanade` operator CLI.
fn main() {}
