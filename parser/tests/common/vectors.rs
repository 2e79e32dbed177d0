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

/// Decodes §14's escapes: `\\ \t \r \n \s \xHH \u{H..} \[N*unit]`.
pub fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let esc = &rest[1..];
        let (bytes, used): (Vec<u8>, usize) = match esc.as_bytes().first() {
            Some(b'\\') => (vec![b'\\'], 1),
            Some(b't') => (vec![b'\t'], 1),
            Some(b'r') => (vec![b'\r'], 1),
            Some(b'n') => (vec![b'\n'], 1),
            Some(b's') => (vec![b' '], 1),
            Some(b'x') => {
                let v = u8::from_str_radix(&esc[1..3], 16).expect("\\xHH");
                (vec![v], 3)
            }
            Some(b'u') => {
                let end = esc.find('}').expect("\\u{...}");
                let v = u32::from_str_radix(&esc[2..end], 16).expect("hex scalar");
                let c = char::from_u32(v).expect("scalar value");
                (c.to_string().into_bytes(), end + 1)
            }
            Some(b'[') => {
                let end = esc.find(']').expect("\\[N*unit]");
                let (n, unit) = esc[1..end].split_once('*').expect("N*unit");
                let n: usize = n.parse().expect("repeat count");
                (unescape(unit).repeat(n), end + 1)
            }
            other => panic!("unknown escape {other:?} in {s:?}"),
        };
        out.extend_from_slice(&bytes);
        rest = &esc[used..];
    }
    out
}
