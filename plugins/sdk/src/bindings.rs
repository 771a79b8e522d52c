//! The generated bindings for the contract in `wit/plugin.wit`.
//!
//! wit-bindgen names the macro that exports an interface after the interface,
//! not the world, so generating `filter-plugin` and `transform-plugin` in one
//! crate would define `init`'s export macro twice. Instead each exported
//! interface is generated exactly once, in a world of its own that exports
//! just it. A plugin's export macro invokes the hook worlds it needs, and
//! `wit-component` unions their component-type sections into one world:
//! `init-hook` + `filter-hook` is exactly `filter-plugin`, and all four are
//! `plugin`.
//!
//! The shared `types` and `log` interfaces are generated once, in [`init`],
//! and reused by the others through `with`, so there is one `Event` type.

/// `init`, plus the shared `types` and the `log` import.
pub mod init {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "
            package switchyard:sdk;
            world init-hook {
                import switchyard:plugin/log@0.1.0;
                import switchyard:plugin/types@0.1.0;
                export switchyard:plugin/init@0.1.0;
            }
        ",
        world: "switchyard:sdk/init-hook",
        pub_export_macro: true,
        export_macro_name: "export_init_hook",
        generate_all,
    });
}

/// `filter`.
pub mod filter {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "
            package switchyard:sdk;
            world filter-hook {
                export switchyard:plugin/filter@0.1.0;
            }
        ",
        world: "switchyard:sdk/filter-hook",
        pub_export_macro: true,
        export_macro_name: "export_filter_hook",
        with: {
            "switchyard:plugin/types@0.1.0": crate::bindings::init::switchyard::plugin::types,
        },
    });
}

/// `transform`.
pub mod transform {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "
            package switchyard:sdk;
            world transform-hook {
                export switchyard:plugin/transform@0.1.0;
            }
        ",
        world: "switchyard:sdk/transform-hook",
        pub_export_macro: true,
        export_macro_name: "export_transform_hook",
        with: {
            "switchyard:plugin/types@0.1.0": crate::bindings::init::switchyard::plugin::types,
        },
    });
}

/// `classify`.
pub mod classify {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "
            package switchyard:sdk;
            world classify-hook {
                export switchyard:plugin/classify@0.1.0;
            }
        ",
        world: "switchyard:sdk/classify-hook",
        pub_export_macro: true,
        export_macro_name: "export_classify_hook",
        with: {
            "switchyard:plugin/types@0.1.0": crate::bindings::init::switchyard::plugin::types,
        },
    });
}
