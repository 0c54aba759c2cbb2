//! A fast hasher for lookup-only maps.

/// A fast, deterministic hasher for maps that are looked up and never iterated (the
/// linearizability checker's memo table, a client's key names): SipHash's DoS resistance is not
/// needed, the input is the program's own state.
#[derive(Clone, Copy, Default)]
pub struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0x5349_4d4b_565f_4c49)
    }
}

/// The hasher of [`FastHash`]: SplitMix64 over 8-byte words.
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Whole words straight from the bytes; the last, short one padded with zeros.
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.write_u64(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = super::splitmix64(self.0 ^ i);
    }
    fn write_u8(&mut self, i: u8) {
        // The word `write` makes of one byte: a string's end marker costs no slice.
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}
