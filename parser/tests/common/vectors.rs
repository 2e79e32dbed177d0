//! Reader for `spec/vectors/*.tsv` (spec §14): shared by the vector tests and
//! the fuzz seed-corpus example. Test support only; never part of the codec.

use std::path::{Path, PathBuf};

/// One vector: where it came from, its context, raw input octets, and the
/// expected fields with escapes decoded.
#[derive(Debug)]
pub struct Vector {
    pub line_no: usize,
    pub context: String,
    pub input: Vec<u8>,
    pub expected: Vec<String>,
}

/// `spec/vectors` in this checkout.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

/// Every vector of every `.tsv` file in [`dir`].
pub fn load_all() -> Vec<Vector> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("spec/vectors exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("vector file is UTF-8");
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let context = fields.next().expect("context").to_owned();
            let input = unescape(fields.next().expect("input field"));
            let expected = fields
                .map(|f| String::from_utf8(unescape(f)).expect("expected fields are UTF-8"))
                .collect();
            out.push(Vector {
                line_no: i + 1,
                context,
                input,
                expected,
            });
        }
    }
    out
}

/// Decodes §14's escapes (see `tagarela_parser::notation`).
pub fn unescape(s: &str) -> Vec<u8> {
    tagarela_parser::notation::unescape(s).expect("well-formed escapes")
}
