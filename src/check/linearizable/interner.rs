//! Interned strings for the Redis string model. A string that Redis would parse as an integer
//! is kept as that integer; any other string gets a number, equal strings the same one.
//!
//! An APPEND key's string grows with the history, so a long result of APPEND is not copied: it
//! is kept as the pair it was joined from, with its length and a polynomial hash computed from
//! the pair's. Strings are looked up by (length, hash) and compared in full only when those
//! match, which for distinct strings almost never happens: joining costs the same whatever the
//! length, and numbers stay exact.

use super::search::FastHash;

/// A string value in canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Text {
    /// A string that `string2ll` accepts.
    Int(i64),
    /// Any other string, by its interned number.
    Str(u32),
}

/// The integer a string holds, exactly as Redis parses it: no sign `+`, no leading zeros, no
/// spaces, at most 20 characters, within 64 bits. (util.c: string2ll)
pub fn parse_redis_integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || s.len() >= LONGEST_INTEGER
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Rejects "+1", "01", "-0": exactly the strings string2ll refuses beyond the range check.
    if digits.starts_with('0') && (digits.len() > 1 || digits.len() < s.len()) {
        return None;
    }
    s.parse().ok()
}

/// Strings this long or longer are never integers.
const LONGEST_INTEGER: usize = 21;

/// The polynomial hash's modulus (the Mersenne prime 2^61 - 1) and base.
const MODULUS: u64 = (1 << 61) - 1;
const BASE: u64 = 0x1f3d_5b79_a2c4_e681 % MODULUS;
const BASE2: u64 = mul_mod(BASE, BASE);
const BASE3: u64 = mul_mod(BASE2, BASE);
const BASE4: u64 = mul_mod(BASE3, BASE);

const fn mul_mod(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    let r = (p as u64 & MODULUS) + (p >> 61) as u64;
    if r >= MODULUS { r - MODULUS } else { r }
}

const fn add_mod(a: u64, b: u64) -> u64 {
    let r = a + b;
    if r >= MODULUS { r - MODULUS } else { r }
}

/// A string's length, polynomial hash and `BASE^length`, so joining two is O(1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digest {
    len: usize,
    hash: u64,
    power: u64,
}

impl Digest {
    fn of(s: &str) -> Self {
        // Horner's rule four bytes at a time, so the multiplications within a block overlap.
        let [b1, b2, b3] = [BASE, BASE2, BASE3];
        let mut blocks = s.as_bytes().chunks_exact(4);
        let mut d = Digest {
            len: s.len(),
            hash: 0,
            power: 1,
        };
        for c in &mut blocks {
            let digit = |i: usize| u64::from(c[i]) + 1;
            let block = add_mod(
                add_mod(mul_mod(digit(0), b3), mul_mod(digit(1), b2)),
                add_mod(mul_mod(digit(2), b1), digit(3)),
            );
            d.hash = add_mod(mul_mod(d.hash, BASE4), block);
            d.power = mul_mod(d.power, BASE4);
        }
        for &b in blocks.remainder() {
            d.hash = add_mod(mul_mod(d.hash, BASE), u64::from(b) + 1);
            d.power = mul_mod(d.power, BASE);
        }
        d
    }

    fn join(self, tail: Digest) -> Digest {
        Digest {
            len: self.len + tail.len,
            hash: add_mod(mul_mod(self.hash, tail.power), tail.hash),
            power: mul_mod(self.power, tail.power),
        }
    }
}

/// How an interned string is held: its text (a range of the interner's text), or the two
/// values it was joined from.
#[derive(Debug)]
enum Body {
    Literal(std::ops::Range<usize>),
    Joined(Text, Text),
}

/// A chained hash index: a key's newest entry, older entries with the same key following
/// `older`.
#[derive(Debug, Default)]
#[allow(clippy::disallowed_types)] // lookups only: iteration order is never observed
struct Chains<K> {
    newest: std::collections::HashMap<K, u32, FastHash>,
    older: std::collections::BTreeMap<u32, u32>,
}

impl<K: std::hash::Hash + Eq> Chains<K> {
    fn insert(&mut self, key: K, i: u32) {
        if let Some(previous) = self.newest.insert(key, i) {
            self.older.insert(i, previous);
        }
    }

    fn clear(&mut self) {
        self.newest.clear();
        self.older.clear();
    }

    /// The entries under `key`, newest first.
    fn get(&self, key: &K) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(self.newest.get(key).copied(), |i| {
            self.older.get(i).copied()
        })
    }
}

/// Interns strings; a model and the reader that built its operations share one. The indexes
/// are hashed; only lookups use them, numbers are handed out in the order strings first
/// appear. Literal strings are found by their text's hash; once a long string is joined, long
/// strings are also indexed by digest, so a joined string and a literal with the same text
/// meet (keys without APPEND never compute a digest).
#[derive(Debug, Default)]
pub struct Interner {
    bodies: Vec<Body>,
    /// The literals' text, one after the other.
    literals: String,
    by_text: Chains<u64>,
    /// Digests of joined strings and (once any long string was joined) of long literals.
    digests: Vec<Option<Digest>>,
    by_digest: Chains<(usize, u64)>,
}

impl Interner {
    /// Forgets every string, keeping the memory for the next strings: numbers start again
    /// from 0, as in a new interner.
    pub fn clear(&mut self) {
        self.bodies.clear();
        self.literals.clear();
        self.by_text.clear();
        self.digests.clear();
        self.by_digest.clear();
    }

    /// The canonical form of `s`, interning it if new.
    pub fn text(&mut self, s: &str) -> Text {
        if let Some(n) = parse_redis_integer(s) {
            return Text::Int(n);
        }
        let hash = std::hash::BuildHasher::hash_one(&FastHash, s);
        if let Some(i) = self
            .by_text
            .get(&hash)
            .find(|&i| self.literal(i) == Some(s))
        {
            return Text::Str(i);
        }
        let digest = (self.joining() && s.len() >= LONGEST_INTEGER).then(|| Digest::of(s));
        if let Some(d) = digest
            && let Some(i) = self.find_digest(d, s)
        {
            return Text::Str(i);
        }
        let start = self.literals.len();
        self.literals.push_str(s);
        let i = self.push(Body::Literal(start..self.literals.len()));
        self.by_text.insert(hash, i);
        if let Some(d) = digest {
            self.index_digest(i, d);
        }
        Text::Str(i)
    }

    /// The canonical form of `head` (`None`: absent) followed by `tail`.
    pub fn concat(&mut self, head: Option<Text>, tail: Text) -> Text {
        let Some(head) = head else {
            return tail;
        };
        let digest = self.digest(head).join(self.digest(tail));
        if digest.len < LONGEST_INTEGER {
            let joined = self.string(head) + &self.string(tail);
            return self.text(&joined);
        }
        if !self.joining() {
            // The first long join: from now on long literals are indexed by digest too.
            for i in 0..self.bodies.len() as u32 {
                if let Some(l) = self.literal(i)
                    && l.len() >= LONGEST_INTEGER
                {
                    let d = Digest::of(l);
                    self.index_digest(i, d);
                }
            }
        }
        if self
            .by_digest
            .get(&(digest.len, digest.hash))
            .next()
            .is_some()
        {
            let joined = self.string(head) + &self.string(tail);
            if let Some(i) = self.find_digest(digest, &joined) {
                return Text::Str(i);
            }
        }
        let i = self.push(Body::Joined(head, tail));
        self.index_digest(i, digest);
        Text::Str(i)
    }

    /// The string a canonical value stands for.
    pub fn string(&self, t: Text) -> String {
        let mut out = String::new();
        self.write(t, &mut out);
        out
    }

    /// Appends the string `t` stands for to `out`.
    fn write(&self, t: Text, out: &mut String) {
        // Joined strings nest as deep as a key has APPENDs: walk them without recursion.
        let mut pending = vec![t];
        while let Some(t) = pending.pop() {
            match t {
                Text::Int(n) => out.push_str(&n.to_string()),
                Text::Str(i) => match &self.bodies[i as usize] {
                    Body::Literal(r) => out.push_str(&self.literals[r.clone()]),
                    Body::Joined(head, tail) => {
                        pending.push(*tail);
                        pending.push(*head);
                    }
                },
            }
        }
    }

    /// The text of interned string `i`, when it is a literal.
    fn literal(&self, i: u32) -> Option<&str> {
        match &self.bodies[i as usize] {
            Body::Literal(r) => Some(&self.literals[r.clone()]),
            Body::Joined(..) => None,
        }
    }

    /// Whether some long string was joined (long strings are then indexed by digest).
    fn joining(&self) -> bool {
        !self.by_digest.newest.is_empty()
    }

    fn digest(&self, t: Text) -> Digest {
        match t {
            Text::Int(n) => Digest::of(&n.to_string()),
            Text::Str(i) => match self.digests[i as usize] {
                Some(d) => d,
                None => Digest::of(self.literal(i).expect("joined strings have digests")),
            },
        }
    }

    /// The number of the string `s` (whose digest is `digest`) among those indexed by digest.
    fn find_digest(&self, digest: Digest, s: &str) -> Option<u32> {
        self.by_digest
            .get(&(digest.len, digest.hash))
            .find(|&i| match self.literal(i) {
                Some(l) => l == s,
                None => self.string(Text::Str(i)) == s,
            })
    }

    fn push(&mut self, body: Body) -> u32 {
        self.bodies.push(body);
        self.digests.push(None);
        self.bodies.len() as u32 - 1
    }

    fn index_digest(&mut self, i: u32, digest: Digest) {
        self.digests[i as usize] = Some(digest);
        self.by_digest.insert((digest.len, digest.hash), i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_string2ll_does() {
        assert_eq!(parse_redis_integer("5"), Some(5));
        assert_eq!(parse_redis_integer("-12"), Some(-12));
        assert_eq!(parse_redis_integer("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "+1",
            "01",
            "-0",
            " 1",
            "1 ",
            "9223372036854775808",
            "1.0",
            "x",
        ] {
            assert_eq!(parse_redis_integer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn joined_strings_equal_the_same_text_however_made() {
        let mut i = Interner::default();
        let long = "a".repeat(30);
        let a = i.text(&long[..10]);
        let b = i.text(&long[10..]);
        let joined = i.concat(Some(a), b);
        assert_eq!(i.text(&long), joined, "a read of the joined string");
        let c = i.text(&long[..25]);
        let d = i.text(&long[25..]);
        assert_eq!(i.concat(Some(c), d), joined, "joined from other parts");
        assert_eq!(i.string(joined), long);
        assert_ne!(i.concat(Some(joined), a), joined);
        let five = i.text("5");
        let one = i.text("1");
        assert_eq!(i.concat(Some(five), one), Text::Int(51));
        assert_eq!(i.concat(None, one), one);
    }

    #[test]
    fn a_join_finds_the_literal_read_before_it() {
        let mut i = Interner::default();
        let long = "xyz".repeat(10);
        let read = i.text(&long);
        let head = i.text(&long[..12]);
        let tail = i.text(&long[12..]);
        assert_eq!(i.concat(Some(head), tail), read);
        assert_eq!(i.text(&long), read);
    }

    #[test]
    fn digests_join_as_the_strings_do() {
        let (a, b) = ("hello, ", "world");
        assert_eq!(
            Digest::of(a).join(Digest::of(b)),
            Digest::of(&format!("{a}{b}"))
        );
    }
}
