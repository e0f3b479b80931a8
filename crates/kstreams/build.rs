//! Compiles `native/message_headers.c`, which tells a consumed record with no headers
//! from one with some without librdkafka parsing them, when the private headers of the
//! librdkafka that rdkafka-sys built are at hand (its vendored build, the default). Then
//! `cfg(kstreams_header_probe)` is set; without them (a system librdkafka), every record's
//! headers go through `rd_kafka_message_headers`, as before.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kstreams_header_probe)");
    println!("cargo::rerun-if-changed=native/message_headers.c");
    println!("cargo::rerun-if-env-changed=DEP_RDKAFKA_ROOT");
    let Some(root) = std::env::var_os("DEP_RDKAFKA_ROOT").map(PathBuf::from) else {
        return;
    };
    let private = root.join("src").join("rdkafka_msg.h");
    if !private.is_file() || !root.join("config.h").is_file() {
        println!(
            "cargo::warning=librdkafka's private headers are not under {}: consumed records' \
             headers are always parsed",
            root.display()
        );
        return;
    }
    cc::Build::new()
        .file("native/message_headers.c")
        .include(&root)
        .include(root.join("src"))
        .warnings(false)
        .compile("kstreams_native");
    println!("cargo::rustc-cfg=kstreams_header_probe");
}
