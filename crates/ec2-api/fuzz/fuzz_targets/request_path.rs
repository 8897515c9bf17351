//! The request path past authentication: arbitrary forms through every action on a real
//! control plane (in-memory store). No input may panic or answer InternalError.
#![no_main]

use std::sync::{Arc, OnceLock};

use fort_control::{Config, Control, Scope};
use fort_ec2_api::query::Params;
use fort_store::EmbeddedStore;
use libfuzzer_sys::fuzz_target;

fn setup() -> &'static (tokio::runtime::Runtime, Arc<Control>) {
    static STATE: OnceLock<(tokio::runtime::Runtime, Arc<Control>)> = OnceLock::new();
    STATE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let control = rt.block_on(async {
            let store = Arc::new(EmbeddedStore::in_memory().unwrap());
            Control::open(store, Config::default()).await.unwrap()
        });
        (rt, control)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::from_form(data) else {
        return;
    };
    let (rt, control) = setup();
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    if let Err(e) = rt.block_on(fort_ec2_api::execute(control, &scope, &params)) {
        assert_ne!(e.code, "InternalError", "{e}");
    }
});
