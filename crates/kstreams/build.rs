//! Compiles `native/message_headers.c`, which tells a consumed record with no headers
//! from one with some without librdkafka parsing them, against the private headers of the
//! librdkafka that rdkafka-sys built (its vendored build, the default). Then
//! `cfg(kstreams_header_probe)` is set. Where that cannot be done (a system librdkafka, a
//! cmake build, or private headers that need development headers this machine lacks, such
//! as OpenSSL's or zlib's), the build says so in a warning and every record's headers go
//! through `rd_kafka_message_headers`, as before. `KSTREAMS_REQUIRE_HEADER_PROBE=1` (set by
//! `.ci/run`) turns that fallback into a build error, so that CI cannot lose the probe
//! silently.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kstreams_header_probe)");
    println!("cargo::rerun-if-changed=native/message_headers.c");
    println!("cargo::rerun-if-env-changed=DEP_RDKAFKA_ROOT");
    println!("cargo::rerun-if-env-changed=KSTREAMS_REQUIRE_HEADER_PROBE");
    match compile_probe() {
        Ok(()) => println!("cargo::rustc-cfg=kstreams_header_probe"),
        Err(why) if std::env::var_os("KSTREAMS_REQUIRE_HEADER_PROBE").is_some_and(|v| v == "1") => {
            panic!("the header probe is required (KSTREAMS_REQUIRE_HEADER_PROBE=1): {why}")
        }
        Err(why) => println!(
            "cargo::warning=consumed records' headers are always parsed by librdkafka: {why}"
        ),
    }
}

fn compile_probe() -> Result<(), String> {
    let root = std::env::var_os("DEP_RDKAFKA_ROOT")
        .map(PathBuf::from)
        .ok_or("rdkafka-sys names no librdkafka build tree (a system or cmake build)")?;
    if !root.join("src").join("rdkafka_msg.h").is_file() || !root.join("config.h").is_file() {
        return Err(format!(
            "librdkafka's private headers are not under {}",
            root.display()
        ));
    }
    cc::Build::new()
        .file("native/message_headers.c")
        .include(&root)
        .include(root.join("src"))
        .warnings(false)
        .try_compile("kstreams_native")
        .map_err(|e| format!("native/message_headers.c did not compile: {e}"))
}
