//! Test plugin for the host: a component that exports `init` and `filter` under
//! the plugin contract's names and version, but with `filter` returning
//! `result<u32, string>`, to test that a hook of the wrong type fails the load
//! rather than every call.

wit_bindgen::generate!({
    path: "wit",
    world: "wrong-type",
});

struct WrongType;

impl exports::switchyard::plugin::init::Guest for WrongType {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }
}

impl exports::switchyard::plugin::filter::Guest for WrongType {
    fn filter(_event: exports::switchyard::plugin::filter::Event) -> Result<u32, String> {
        Ok(1)
    }
}

export!(WrongType);
