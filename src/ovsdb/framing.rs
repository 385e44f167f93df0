//! Splitting an OVSDB byte stream into JSON values. RFC 7047 messages are
//! JSON values written back to back, without newlines or length prefixes,
//! so the reader must find where each value ends: a scanner that tracks
//! nesting depth, whether it is inside a string, and backslash escapes.
//! Bytes are scanned, not chars: in UTF-8 every byte of a multi-byte
//! character is ≥ 0x80, so it can never be mistaken for `"`, `\`, `{`, `}`,
//! `[` or `]`, and a character split across two reads is simply completed
//! by the next one.

use serde_json::Value;

/// Largest message accepted: a full Interface table of thousands of rows
/// is a few MiB; anything far beyond that is a broken peer.
pub const MAX_MESSAGE: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("the peer sent {0:?} outside any JSON object or array")]
    Garbage(char),
    #[error("the peer sent a message of more than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("the peer sent invalid JSON: {0}")]
    Json(String),
    #[error("unbalanced {0:?}")]
    Unbalanced(char),
}

#[derive(Debug, Default)]
pub struct Splitter {
    buf: Vec<u8>,
    /// how far `buf` has been scanned
    pos: usize,
    /// start of the value being scanned, if any
    start: Option<usize>,
    depth: usize,
    in_str: bool,
    escape: bool,
}

impl Splitter {
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Feed bytes as they arrive; get every value completed by them.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Value>, FramingError> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            let i = self.pos;
            self.pos += 1;
            if self.in_str {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_str = false;
                }
                continue;
            }
            match b {
                b'"' if self.start.is_some() => self.in_str = true,
                b'{' | b'[' => {
                    if self.start.is_none() {
                        self.start = Some(i);
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err(FramingError::Unbalanced(b as char));
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        let s = self.start.take().expect("value started");
                        let v = serde_json::from_slice(&self.buf[s..=i])
                            .map_err(|e| FramingError::Json(e.to_string()))?;
                        out.push(v);
                    }
                }
                b' ' | b'\t' | b'\r' | b'\n' => {}
                other if self.start.is_none() => return Err(FramingError::Garbage(other as char)),
                _ => {}
            }
        }
        // drop what has been consumed
        let keep_from = self.start.unwrap_or(self.pos);
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.pos -= keep_from;
            if let Some(s) = self.start.as_mut() {
                *s -= keep_from;
            }
        }
        if self.buf.len() > MAX_MESSAGE {
            return Err(FramingError::TooLarge);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_concatenated_values() {
        let mut s = Splitter::new();
        let v = s.feed(br#"{"a":1}{"b":[1,2,{"c":"}"}]} [3]"#).unwrap();
        assert_eq!(
            v,
            vec![json!({"a":1}), json!({"b":[1,2,{"c":"}"}]}), json!([3])]
        );
    }

    #[test]
    fn escapes_and_braces_in_strings() {
        let mut s = Splitter::new();
        let msg = json!({"s": "a \"quoted\" {brace} [bracket] \\ back\\slash \\\" end"});
        let text = serde_json::to_vec(&msg).unwrap();
        let mut both = text.clone();
        both.extend_from_slice(&text);
        assert_eq!(s.feed(&both).unwrap(), vec![msg.clone(), msg]);
    }

    #[test]
    fn values_split_across_reads_and_utf8() {
        let msg = json!({"name": "brücke-🦀", "id": "echo", "params": []});
        let text = serde_json::to_vec(&msg).unwrap();
        for cut in 0..text.len() {
            let mut s = Splitter::new();
            let mut got = s.feed(&text[..cut]).unwrap();
            got.extend(s.feed(&text[cut..]).unwrap());
            assert_eq!(got, vec![msg.clone()], "cut at {cut}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Splitter::new().feed(b"x{}").is_err());
        assert!(Splitter::new().feed(b"}").is_err());
        assert!(Splitter::new().feed(b"{\"a\":}").is_err());
    }

    /// Property: any sequence of JSON values, serialized back to back and
    /// cut into arbitrary pieces, comes back whole and in order.
    #[test]
    fn property_random_values_random_cuts() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        fn gen_value(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            let strings = [
                "",
                "\"",
                "\\",
                "\\\"",
                "{",
                "}]",
                "[",
                "é€🦀",
                "a b",
                "\u{1}",
            ];
            match next() % if depth > 3 { 4 } else { 6 } {
                0 => Value::from(next() as i64 % 1000),
                1 => Value::from(strings[(next() % strings.len() as u64) as usize]),
                2 => Value::Bool(next().is_multiple_of(2)),
                3 => Value::Null,
                4 => Value::Array(
                    (0..next() % 4)
                        .map(|_| gen_value(next, depth + 1))
                        .collect(),
                ),
                _ => Value::Object(
                    (0..next() % 4)
                        .map(|i| {
                            (
                                format!("{}{i}", strings[(next() % 9) as usize]),
                                gen_value(next, depth + 1),
                            )
                        })
                        .collect(),
                ),
            }
        }
        for _ in 0..500 {
            let vals: Vec<Value> = (0..1 + next() % 5)
                .map(|_| {
                    // top-level messages are objects or arrays
                    let v = gen_value(&mut next, 0);
                    if v.is_object() || v.is_array() {
                        v
                    } else {
                        json!([v])
                    }
                })
                .collect();
            let mut bytes = Vec::new();
            for v in &vals {
                bytes.extend(serde_json::to_vec(v).unwrap());
                if next() % 2 == 0 {
                    bytes.push(b'\n');
                }
            }
            let mut s = Splitter::new();
            let mut got = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                let n = 1 + (next() as usize % 7);
                let end = (i + n).min(bytes.len());
                got.extend(s.feed(&bytes[i..end]).unwrap());
                i = end;
            }
            assert_eq!(got, vals);
        }
    }
}
