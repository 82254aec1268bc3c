//! Link options for the `eventlistener` binary.
//!
//! On Linux with glibc, relative relocations are packed (`-z pack-relative-relocs`, DT_RELR,
//! glibc 2.36 and binutils 2.38 or later): a position-independent executable carries one
//! relocation per pointer in its read-only data (about 58,000 here, 1.4 MB of table), and the
//! loader reads the whole table at every start, which stays in the process's RSS. Packed, the
//! table is 22 KB and idle RSS about 0.8 MB lower (BENCHMARKS.md, "Stop 22"). The executable
//! stays position-independent (address-space randomisation is kept). Not for musl (the image's
//! static build): its loader reads packed relocations only from musl 1.2.4 on.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
