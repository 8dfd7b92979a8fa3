//! Content hashes (BLAKE3) and the keys built from them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

/// The most bytes read at once when hashing a file or reader.
const READ_BUFFER: usize = 256 * 1024;

/// A BLAKE3 hash: the name of an object (the hash of its bytes) or of a record (the hash
/// of what its work depended on). Written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The hash of some bytes.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// The hash of everything a reader yields.
    pub fn of_reader(reader: impl Read) -> io::Result<Hash> {
        Hash::read_through(reader, READ_BUFFER)
    }

    /// The hash of a file's bytes.
    pub fn of_file(path: &Path) -> io::Result<Hash> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata().map_or(READ_BUFFER as u64, |m| m.len());
        // A small file gets a small buffer: a folder of mails is thousands of them.
        Hash::read_through(file, (size as usize).clamp(1, READ_BUFFER))
    }

    /// Reads through a buffer of `capacity` bytes, which is not zeroed first.
    fn read_through(reader: impl Read, capacity: usize) -> io::Result<Hash> {
        let mut hasher = blake3::Hasher::new();
        io::copy(
            &mut io::BufReader::with_capacity(capacity, reader),
            &mut hasher,
        )?;
        Ok(Hash(*hasher.finalize().as_bytes()))
    }

    /// 64 hex digits.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
            s.push(char::from_digit(u32::from(b & 15), 16).expect("a nibble"));
        }
        s
    }

    /// The first 12 hex digits, for people.
    pub fn short(&self) -> String {
        self.hex()[..12].to_owned()
    }

    /// Starts a key: a hash of named fields, each length-prefixed so that no two lists of
    /// fields give the same bytes.
    pub fn key(domain: &str) -> KeyBuilder {
        let mut builder = KeyBuilder(blake3::Hasher::new());
        builder = builder.field(domain.as_bytes());
        builder
    }

    /// The 32 bytes.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }

    pub(crate) fn from_hasher(hasher: &blake3::Hasher) -> Hash {
        Hash(*hasher.finalize().as_bytes())
    }
}

/// Builds a key from fields; see [`Hash::key`].
pub struct KeyBuilder(blake3::Hasher);

impl KeyBuilder {
    /// Adds one field.
    pub fn field(mut self, bytes: &[u8]) -> KeyBuilder {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// Adds one field given as text.
    pub fn text(self, text: &str) -> KeyBuilder {
        self.field(text.as_bytes())
    }

    /// Adds a number.
    pub fn number(self, n: u64) -> KeyBuilder {
        self.field(&n.to_le_bytes())
    }

    /// Adds another hash.
    pub fn hash(self, hash: &Hash) -> KeyBuilder {
        self.field(&hash.0)
    }

    /// The key.
    pub fn finish(self) -> Hash {
        Hash::from_hasher(&self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.short())
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a hash (64 hex digits)")]
pub struct BadHash(pub String);

impl FromStr for Hash {
    type Err = BadHash;
    fn from_str(s: &str) -> Result<Hash, BadHash> {
        let bad = || BadHash(s.to_owned());
        if s.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).filter(|_| !c.is_ascii_uppercase());
            let (Some(hi), Some(lo)) = (digit(pair[0]), digit(pair[1])) else {
                return Err(bad());
            };
            out[i] = (hi * 16 + lo) as u8;
        }
        Ok(Hash(out))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_other_text() {
        let h = Hash::of(b"atelier");
        assert_eq!(h.hex().parse::<Hash>().unwrap(), h);
        assert_eq!(h.hex(), blake3::hash(b"atelier").to_hex().as_str());
        assert!("xyz".parse::<Hash>().is_err());
        assert!(h.hex().to_uppercase().parse::<Hash>().is_err());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
    }

    #[test]
    fn key_fields_are_not_ambiguous() {
        let a = Hash::key("k").text("ab").text("c").finish();
        let b = Hash::key("k").text("a").text("bc").finish();
        assert_ne!(a, b);
        assert_eq!(a, Hash::key("k").text("ab").text("c").finish());
    }
}
