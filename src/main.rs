//! `natter`: the Natter server and client in one binary.

fn main() {
    println!("natter");
}
