//! The Tagarela chat server binary. Not built yet: see issue "The chat server".

fn main() {
    eprintln!("tagarela-server is not implemented yet");
    std::process::exit(2);
}
