//! Keys to hash slots: CRC16 (XMODEM) and the hash-tag rule of Redis Cluster.

/// Number of hash slots in a Redis Cluster (`cluster.h: CLUSTER_SLOTS`).
pub const CLUSTER_SLOTS: u16 = 16384;

/// CRC16 as Redis computes it (`crc16.c: crc16`): the XMODEM variant, polynomial 0x1021, initial
/// value 0, no reflection, no final xor. Bit by bit rather than by table: it is short and the
/// result is identical.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that is hashed (`cluster.c: keyHashSlot`): the bytes between the first `{`
/// and the first `}` after it, when that tag is not empty; otherwise the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

/// The hash slot of `key` (`cluster.c: keyHashSlot`): CRC16 of its hash tag, modulo 16384.
pub fn key_hash_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (CLUSTER_SLOTS - 1)
}

/// One `KEY<TAB>SLOT` line per key, as `simkv keyslot KEY...` prints them (the slot is what
/// `CLUSTER KEYSLOT` answers).
pub fn format_keyslot_lines<K: AsRef<[u8]>>(keys: &[K]) -> String {
    let mut out = String::new();
    for key in keys {
        let key = key.as_ref();
        out.push_str(&String::from_utf8_lossy(key));
        out.push('\t');
        out.push_str(&key_hash_slot(key).to_string());
        out.push('\n');
    }
    out
}

/// A run of consecutive slots and the node a cluster node's view gives them to (`None`:
/// unassigned), as `CLUSTER SLOTS` lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRange {
    /// The first slot.
    pub first: u16,
    /// The last slot (inclusive).
    pub last: u16,
    /// The server that serves them, by name.
    pub owner: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value_is_the_xmodem_one() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn known_slots() {
        let cases: &[(&str, u16)] = &[
            ("123456789", 12739),
            ("somekey", 11058),
            ("foo{hash_tag}", 2515),
            ("bar{hash_tag}", 2515),
            ("hash_tag", 2515),
            ("foo", 12182),
            ("bar", 5061),
            ("user1000", 3443),
            ("", 0),
        ];
        for (key, slot) in cases {
            assert_eq!(key_hash_slot(key.as_bytes()), *slot, "key {key:?}");
        }
    }

    #[test]
    fn hash_tags_follow_the_first_brace_rule() {
        let following = key_hash_slot(b"{user1000}.following");
        assert_eq!(following, key_hash_slot(b"{user1000}.followers"));
        assert_eq!(following, 3443);
        // An empty tag hashes the whole key.
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(key_hash_slot(b"foo{}{bar}"), 8363);
        // The tag ends at the first `}` after the first `{`.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(key_hash_slot(b"foo{{bar}}zap"), 4015);
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(key_hash_slot(b"foo{bar}{zap}"), key_hash_slot(b"bar"));
        // No closing brace: the whole key.
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
        assert_ne!(key_hash_slot(b"foo{bar"), key_hash_slot(b"bar"));
    }

    #[test]
    fn slots_stay_below_16384() {
        for i in 0..5000u32 {
            let key = format!("key:{i}");
            let slot = key_hash_slot(key.as_bytes());
            assert!(slot < CLUSTER_SLOTS);
            assert_eq!(slot, crc16(key.as_bytes()) % CLUSTER_SLOTS);
        }
    }

    #[test]
    fn keyslot_lines_are_tab_separated() {
        let out = format_keyslot_lines(&["foo", "{user1000}.following"]);
        assert_eq!(out, "foo\t12182\n{user1000}.following\t3443\n");
        assert_eq!(format_keyslot_lines::<&str>(&[]), "");
    }
}
