//! Fuzzes the loan-tape reader: any bytes give a portfolio or a clean error.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use riskpool::scenario::Scenario;

const SCENARIO: &str = r#"
[scenario]
name = "fuzz"
horizon_years = 2
[pool]
initial_balance = 1e9
[compensation]
pool_share = 0.5
[dependence]
correlation = 0.1
[dependence.sectors]
fintech = 0.05
[portfolio]
tape = "loans.csv"
"#;

fn scenario() -> &'static Scenario {
    static SC: OnceLock<Scenario> = OnceLock::new();
    SC.get_or_init(|| {
        riskpool::scenario::parse(SCENARIO, "fuzz.toml", Path::new("."), &[])
            .unwrap_or_else(|e| panic!("the fuzz scenario must load: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = riskpool::model::tape::parse(scenario(), "loans.csv", data);
});
