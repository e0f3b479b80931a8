//! `JsonSerde` into a free-form `serde_json::Value` and into a small struct. JSON text is
//! not canonical, so the checks are on values: whatever reads must write, and the struct
//! (no floats, whose text serde_json does not re-read exactly) reads back equal.
#![no_main]

use kstreams::serde::{JsonSerde, Nullable, Serde};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Deposit,
    Withdrawal { reason: String },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Account {
    id: String,
    balance: i64,
    #[serde(default)]
    tags: Vec<String>,
    owner: Option<u32>,
    kind: Option<Kind>,
    parent: Option<Box<Account>>,
}

fn rewrite<T: std::fmt::Debug + 'static>(serde: &dyn Serde<T>, value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    serde
        .serialize(value, &mut out)
        .unwrap_or_else(|e| panic!("{value:?} was read but cannot be written: {e}"));
    out
}

fuzz_target!(|bytes: &[u8]| {
    let any = JsonSerde::<serde_json::Value>::new();
    if let Ok(value) = any.deserialize(bytes) {
        let text = rewrite(&any, &value);
        any.deserialize(&text).expect("written JSON reads");
    }
    let accounts = JsonSerde::<Account>::new();
    if let Ok(account) = accounts.deserialize(bytes) {
        let text = rewrite(&accounts, &account);
        assert_eq!(
            accounts.deserialize(&text).expect("written JSON reads"),
            account
        );
    }
    let nullable = Nullable(JsonSerde::<Vec<i64>>::new());
    if let Ok(Some(numbers)) = nullable.deserialize(bytes) {
        let text = rewrite(&nullable, &Some(numbers.clone()));
        assert_eq!(nullable.deserialize(&text).expect("reads"), Some(numbers));
    }
});
