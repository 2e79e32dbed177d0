//! The Tagarela terminal client binary. Not built yet: see issue "The terminal chat client".

fn main() {
    eprintln!("tagarela is not implemented yet");
    std::process::exit(2);
}
