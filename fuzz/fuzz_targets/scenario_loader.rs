//! Fuzzes the scenario loader: any bytes give a scenario or a clean error,
//! and a scenario that loads builds a model or gives a clean error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sc) = riskpool::scenario::parse(text, "fuzz.toml", Path::new("."), &[]) {
        // Keep each input fast: huge portfolios are valid but slow.
        if sc.tape.is_none() {
            let _ = riskpool::model::Model::build(&sc);
        }
    }
});
