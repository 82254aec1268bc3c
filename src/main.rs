//! The `eventlistener` binary.

fn main() {
    println!("eventlistener {}", env!("CARGO_PKG_VERSION"));
}
