//! Writes every input of `spec/vectors/*.tsv` (spec §14) as a seed file for
//! the `parser` fuzz target: `cargo run -p tagarela-parser --example
//! seed_corpus -- fuzz/corpus/parser`. Each seed is prefixed with the chunk
//! size byte the target expects and terminated with LF.

#[allow(dead_code)]
#[path = "../tests/common/vectors.rs"]
mod vectors;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus/parser".into());
    std::fs::create_dir_all(&dir)?;
    let all = vectors::load_all();
    for (i, v) in all.iter().enumerate() {
        let mut seed = vec![7u8];
        seed.extend_from_slice(&v.input);
        seed.push(b'\n');
        std::fs::write(format!("{dir}/vector-{i:03}"), seed)?;
    }
    println!("wrote {} seeds to {dir}", all.len());
    Ok(())
}
