//! Prints the watts per core the bill assumes for this machine's processor, for benchmark
//! scripts that give the same constant to a peer tool.
//!
//!     cargo run --release -p atelier-bill --example local_power

fn main() {
    println!(
        "{}",
        atelier_bill::hardware::local_cpu_power().watts_per_core
    );
}
