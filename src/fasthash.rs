//! One fast hash for maps whose keys boltgate makes or trusts: a session's own upstream ids,
//! and member addresses (from the configuration and the servers' routing tables, never from
//! clients). SipHash, the standard maps' default, guards against keys chosen to collide, which
//! these keys cannot be; it cost more than the rest of a lookup that runs for every unit of work
//! (member choice) or every forwarded message (a session's upstreams).
//!
//! FxHash's mix, word by word: a u64 id is one multiplication, which spreads consecutive ids
//! over the table's high bits (Fibonacci hashing).

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

/// For `HashMap::default()` / `DashMap::default()`.
pub type BuildFastHasher = BuildHasherDefault<FastHasher>;

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        for &b in words.remainder() {
            self.mix(u64::from(b));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.mix(u64::from(b));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash + ?Sized>(t: &T) -> u64 {
        BuildFastHasher::default().hash_one(t)
    }

    #[test]
    fn distinct_ids_and_addresses_hash_apart() {
        let ids: std::collections::HashSet<u64> = (0..1000u64).map(|i| hash(&i)).collect();
        assert_eq!(ids.len(), 1000);
        assert_ne!(hash("10.0.0.1:7687"), hash("10.0.0.2:7687"));
        assert_ne!(hash("a:1"), hash("a:10"));
    }
}
