//! Test plugin for the host: a plain `wasi:cli` command component, to test
//! that loading a component that exports none of the plugin interfaces fails
//! cleanly.

fn main() {
    println!("hello");
}
