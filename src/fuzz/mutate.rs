//! Byte-level mutations: flips, deletions, duplications, splices of two inputs, and insertion
//! of interesting tokens (extreme numbers, tiny and zero durations, empty strings, unicode,
//! control characters, deep nesting, duplicated and unknown keys).

use rand::{Rng, RngExt};

/// Text that parsers often get wrong, inserted or substituted by the mutator.
pub const TOKENS: &[&str] = &[
    "0",
    "-1",
    "-9223372036854775808",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "1e308",
    "-1e308",
    "1e-308",
    "nan",
    "inf",
    "-inf",
    "0.0",
    "-0",
    "\"1ns\"",
    "\"0s\"",
    "\"0ms\"",
    "\"-5s\"",
    "\"18446744073709551615s\"",
    "\"99999999999999999h\"",
    "\"1e308s\"",
    "\"9.999999999h\"",
    "\"0.000000001ms\"",
    "\".5s\"",
    "\"5.s\"",
    "\"999999999.999999999d\"",
    "\"0/s\"",
    "\"0b\"",
    "\"18446744073709551615gb\"",
    "\"101%\"",
    "\"-1%\"",
    "\"\"",
    "''",
    "\"é\"",
    "\"\u{1F600}\"",
    "\u{0301}",
    "\u{202E}",
    "\u{FEFF}",
    "\u{10FFFF}",
    "\0",
    "\r",
    "\t",
    "\x1b[31m",
    "\x7f",
    "\n",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    ".",
    "\"",
    "#",
    "[[",
    "{}",
    "[]",
    "null",
    "true",
    "nil",
    ":invoke",
    ":ok",
    ":fail",
    ":info",
    ":timed-out",
    ":read",
    ":write",
    ":cas",
    "[0 0]",
    ":get",
    ":put",
    ":append",
    "\"invoke\"",
    "\"ok\"",
    "\"fail\"",
    "\"info\"",
    "\"get\"",
    "\"set\"",
    "\"incr\"",
    "\"append\"",
    "\"del\"",
    "\"time_ns\": 18446744073709551615",
    "\"value\": {\"a\": [1]}",
    "bogus = 1\n",
    "[bogus]\n",
];

/// Applies one to four stacked mutations to `input`; `other` is a second corpus input for
/// splicing. The result is at most `max_len` bytes.
pub fn mutate(rng: &mut impl Rng, input: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = rng.random_range(1..=4);
    for _ in 0..rounds {
        match rng.random_range(0..11) {
            0 => flip_bit(rng, input),
            1 => set_byte(rng, input),
            2 => delete_range(rng, input),
            3 => duplicate_range(rng, input),
            4 | 5 => insert_token(rng, input),
            6 => splice(rng, input, other),
            7 => replace_number(rng, input),
            8 => duplicate_line(rng, input),
            9 => delete_line(rng, input),
            _ => insert_nesting(rng, input),
        }
    }
    input.truncate(max_len);
}

fn position(rng: &mut impl Rng, input: &[u8]) -> usize {
    rng.random_range(0..=input.len())
}

fn flip_bit(rng: &mut impl Rng, input: &mut [u8]) {
    if !input.is_empty() {
        let i = rng.random_range(0..input.len());
        input[i] ^= 1 << rng.random_range(0..8);
    }
}

fn set_byte(rng: &mut impl Rng, input: &mut [u8]) {
    if !input.is_empty() {
        let i = rng.random_range(0..input.len());
        input[i] = rng.random_range(0..=255u8);
    }
}

/// A short random range, biased to small lengths.
fn range(rng: &mut impl Rng, len: usize) -> (usize, usize) {
    let start = rng.random_range(0..=len);
    let longest = (len - start).min(if rng.random_range(0..4) == 0 { 256 } else { 16 });
    (start, start + rng.random_range(0..=longest))
}

fn delete_range(rng: &mut impl Rng, input: &mut Vec<u8>) {
    let (a, b) = range(rng, input.len());
    input.drain(a..b);
}

fn duplicate_range(rng: &mut impl Rng, input: &mut Vec<u8>) {
    let (a, b) = range(rng, input.len());
    let chunk = input[a..b].to_vec();
    let at = position(rng, input);
    input.splice(at..at, chunk);
}

fn insert_token(rng: &mut impl Rng, input: &mut Vec<u8>) {
    let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
    let at = position(rng, input);
    if rng.random_range(0..2) == 0 {
        input.splice(at..at, token.iter().copied());
    } else {
        // Overwrite what follows, so values are replaced rather than only grown.
        let end = (at + token.len()).min(input.len());
        input.splice(at..end, token.iter().copied());
    }
}

/// Crosses two inputs: the head of one and the tail of the other, or a chunk of the other
/// inserted in place.
fn splice(rng: &mut impl Rng, input: &mut Vec<u8>, other: &[u8]) {
    let at = position(rng, input);
    let from = rng.random_range(0..=other.len());
    if rng.random_range(0..2) == 0 {
        input.truncate(at);
        input.extend_from_slice(&other[from..]);
    } else {
        let (a, b) = range(rng, other.len());
        input.splice(at..at, other[a..b].iter().copied());
    }
}

/// Replaces the digits of one number in the input with an interesting one.
fn replace_number(rng: &mut impl Rng, input: &mut Vec<u8>) {
    let digits: Vec<usize> = (0..input.len())
        .filter(|&i| input[i].is_ascii_digit() && (i == 0 || !input[i - 1].is_ascii_digit()))
        .collect();
    if digits.is_empty() {
        return insert_token(rng, input);
    }
    let start = digits[rng.random_range(0..digits.len())];
    let end = (start..input.len())
        .find(|&i| !input[i].is_ascii_digit())
        .unwrap_or(input.len());
    let token = TOKENS[rng.random_range(0..16)].as_bytes();
    input.splice(start..end, token.iter().copied());
}

fn line_bounds(rng: &mut impl Rng, input: &[u8]) -> (usize, usize) {
    let at = position(rng, input);
    let start = input[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = input[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(input.len(), |i| at + i + 1);
    (start, end)
}

/// Duplicates a line in place: duplicated keys in TOML, repeated events in a history.
fn duplicate_line(rng: &mut impl Rng, input: &mut Vec<u8>) {
    let (a, b) = line_bounds(rng, input);
    let mut line = input[a..b].to_vec();
    if !line.ends_with(b"\n") {
        line.insert(0, b'\n');
    }
    input.splice(b..b, line);
}

fn delete_line(rng: &mut impl Rng, input: &mut Vec<u8>) {
    let (a, b) = line_bounds(rng, input);
    input.drain(a..b);
}

/// Inserts deep nesting (`[[[[`, `{{{{`, `{"a":{"a":`) of up to a few thousand levels.
fn insert_nesting(rng: &mut impl Rng, input: &mut Vec<u8>) {
    let depth = 1usize << rng.random_range(2..12);
    let unit: &[u8] = match rng.random_range(0..4) {
        0 => b"[",
        1 => b"{",
        2 => b"a = [",
        _ => b"{\"a\":",
    };
    let at = position(rng, input);
    let chunk: Vec<u8> = unit
        .iter()
        .copied()
        .cycle()
        .take(unit.len() * depth)
        .collect();
    input.splice(at..at, chunk);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn mutations_are_bounded_and_seeded() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut outputs = Vec::new();
            for _ in 0..2000 {
                let mut v = b"a = 1\n[t]\nb = \"5s\"\n".to_vec();
                mutate(&mut rng, &mut v, b"x = [1, 2]\n", 64);
                assert!(v.len() <= 64);
                outputs.push(v);
            }
            outputs
        };
        let first = run(7);
        assert_eq!(first, run(7));
        assert_ne!(first, run(8));
        let changed = first
            .iter()
            .filter(|v| v.as_slice() != b"a = 1\n[t]\nb = \"5s\"\n");
        assert!(changed.count() > 1800);
    }
}
