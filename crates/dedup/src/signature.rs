//! Keys: the few 64-bit numbers the observer files for each document.
//!
//! Pinned here so that another implementation can reproduce them bit for bit (a test
//! pins the values too):
//!
//! - The text is normalized ([`crate::normalize`]) into words joined by single spaces.
//!   Text with no words has no keys: it never matches anything.
//! - **exact**: one key, `xxh3_64(normalized text)` (seed 0).
//! - **minhash**: the shingles are the windows of `shingle_words` consecutive words, as
//!   the UTF-8 of those words joined by single spaces; a text with fewer words than that
//!   is one shingle, its whole normalized text. Each shingle is hashed to
//!   `x = xxh3_64(shingle)` (seed 0). Hash function `i` (of `bands × rows`) is
//!   `h_i(x) = ((a_i · x + b_i) mod 2^64) >> 32`, a 32-bit value, where `a_i` (made odd)
//!   and `b_i` are drawn in that order from SplitMix64 started at `seed`. The signature
//!   is the minimum of each `h_i` over the shingles. Band `j`'s key is `xxh3_64` of its
//!   `rows` values `j·rows .. (j+1)·rows`, each as 4 little-endian bytes.
//!
//! Two documents are candidates when they share a band key; with `b` bands of `r` rows,
//! documents of Jaccard similarity `s` are candidates with probability `1 − (1 − s^r)^b`
//! (for 14 × 8: 0.56 at s = 0.7, 0.77 at 0.75, 0.92 at 0.8, 0.998 at 0.9).

use xxhash_rust::xxh3::xxh3_64;

use crate::config::{DedupConfig, Mode};
use crate::normalize::Normalizer;

/// Turns texts into keys, reusing its buffers from one document to the next.
#[derive(Debug, Clone)]
pub struct Signer {
    mode: Mode,
    normalizer: Normalizer,
    shingle_words: usize,
    rows: usize,
    a: Vec<u64>,
    b: Vec<u64>,
    mins: Vec<u32>,
    shingle_hashes: Vec<u64>,
    band_bytes: Vec<u8>,
    level: Level,
}

impl Signer {
    /// A signer for a (validated) configuration.
    pub fn new(config: &DedupConfig) -> Self {
        let hashes = config.bands * config.rows;
        let mut state = config.seed;
        let (mut a, mut b) = (Vec::with_capacity(hashes), Vec::with_capacity(hashes));
        for _ in 0..hashes {
            a.push(splitmix64(&mut state) | 1);
            b.push(splitmix64(&mut state));
        }
        Signer {
            mode: config.mode,
            normalizer: Normalizer::new(config.normalize_options()),
            shingle_words: config.shingle_words.max(1),
            rows: config.rows.max(1),
            a,
            b,
            mins: vec![u32::MAX; hashes],
            shingle_hashes: Vec::new(),
            band_bytes: Vec::with_capacity(4 * config.rows),
            level: Level::detect(),
        }
    }

    /// The keys of one text, replacing `out`'s contents: one per band (minhash) or one
    /// (exact); none when the text has no words.
    pub fn keys(&mut self, text: &str, out: &mut Vec<u64>) {
        out.clear();
        self.normalizer.normalize(text);
        if self.normalizer.word_count() == 0 {
            return;
        }
        match self.mode {
            Mode::Exact => out.push(xxh3_64(self.normalizer.text_bytes())),
            Mode::Minhash => {
                self.sign_normalized();
                for band in self.mins.chunks_exact(self.rows) {
                    self.band_bytes.clear();
                    for value in band {
                        self.band_bytes.extend_from_slice(&value.to_le_bytes());
                    }
                    out.push(xxh3_64(&self.band_bytes));
                }
            }
        }
    }

    /// The MinHash signature (`bands × rows` values) of a text, or `None` when it has no
    /// words.
    pub fn signature(&mut self, text: &str) -> Option<&[u32]> {
        self.normalizer.normalize(text);
        if self.normalizer.word_count() == 0 {
            return None;
        }
        self.sign_normalized();
        Some(&self.mins)
    }

    /// Calls `f` with every shingle of a text, in order (repeats included).
    pub fn for_each_shingle(&mut self, text: &str, mut f: impl FnMut(&str)) {
        self.normalizer.normalize(text);
        shingles(&self.normalizer, self.shingle_words, &mut |bytes| {
            f(std::str::from_utf8(bytes).expect("shingles are whole words"))
        });
    }

    /// The normalized text, words joined by single spaces.
    pub fn normalized(&mut self, text: &str) -> &str {
        self.normalizer.normalize(text);
        self.normalizer.text()
    }

    fn sign_normalized(&mut self) {
        let Signer {
            normalizer,
            shingle_words,
            shingle_hashes,
            ..
        } = self;
        shingle_hashes.clear();
        shingles(normalizer, *shingle_words, &mut |shingle| {
            shingle_hashes.push(xxh3_64(shingle))
        });
        self.mins.fill(u32::MAX);
        self.level
            .absorb(&mut self.mins, &self.a, &self.b, &self.shingle_hashes);
    }
}

fn shingles(normalizer: &Normalizer, k: usize, f: &mut dyn FnMut(&[u8])) {
    let n = normalizer.word_count();
    if n == 0 {
    } else if n < k {
        f(normalizer.text_bytes());
    } else {
        for i in 0..=n - k {
            f(normalizer.word_bytes(i, i + k));
        }
    }
}

/// The widest vector unit of this CPU that the MinHash loop is compiled for.
#[derive(Debug, Clone, Copy)]
enum Level {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Level {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
                return Level::Avx512;
            }
            if is_x86_feature_detected!("avx2") {
                return Level::Avx2;
            }
        }
        Level::Portable
    }

    /// Folds shingle hashes `xs` into the running minima; the same result at every level.
    fn absorb(self, mins: &mut [u32], a: &[u64], b: &[u64], xs: &[u64]) {
        match self {
            Level::Portable => absorb(mins, a, b, xs),
            // SAFETY: `detect` saw the features these functions are compiled for.
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { absorb_avx2(mins, a, b, xs) },
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { absorb_avx512(mins, a, b, xs) },
        }
    }
}

#[inline(always)]
fn absorb(mins: &mut [u32], a: &[u64], b: &[u64], xs: &[u64]) {
    let h = |a: u64, b: u64, x: u64| (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32;
    // Four shingles at a time: each load of the parameters and of the minima serves four.
    let mut quads = xs.chunks_exact(4);
    for q in &mut quads {
        for ((min, &a), &b) in mins.iter_mut().zip(a).zip(b) {
            let v = h(a, b, q[0])
                .min(h(a, b, q[1]))
                .min(h(a, b, q[2]).min(h(a, b, q[3])));
            *min = (*min).min(v);
        }
    }
    for &x in quads.remainder() {
        for ((min, &a), &b) in mins.iter_mut().zip(a).zip(b) {
            *min = (*min).min(h(a, b, x));
        }
    }
}

/// [`absorb`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn absorb_avx2(mins: &mut [u32], a: &[u64], b: &[u64], xs: &[u64]) {
    absorb(mins, a, b, xs)
}

/// [`absorb`] compiled for AVX-512 (64-bit lane multiplies).
///
/// # Safety
/// The CPU must have AVX-512 F and DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn absorb_avx512(mins: &mut [u32], a: &[u64], b: &[u64], xs: &[u64]) {
    absorb(mins, a, b, xs)
}

/// SplitMix64 (Steele, Lea, Flood 2014): the permutation parameters' generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A distinct word for each number, in letters (digits would all normalize to `0`).
    fn word(mut n: usize) -> String {
        let mut w = String::from("w");
        loop {
            w.push((b'a' + (n % 26) as u8) as char);
            n /= 26;
            if n == 0 {
                return w;
            }
        }
    }

    fn keys(config: &DedupConfig, text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        Signer::new(config).keys(text, &mut out);
        out
    }

    #[test]
    fn keys_are_pinned() {
        // These values are the file format: a change here must bump the step's VERSION
        // and the index format, because an old index would silently stop matching.
        let config = DedupConfig::default();
        let text = "The quick brown fox jumps over the lazy dog, again and again.";
        let k = keys(&config, text);
        assert_eq!(k.len(), 14);
        assert_eq!(
            &k[..3],
            &[
                17435764374653578537,
                649050872004505032,
                3291339357010414119
            ]
        );
        let exact = DedupConfig {
            mode: Mode::Exact,
            ..DedupConfig::default()
        };
        assert_eq!(
            keys(&exact, text),
            [xxh3_64(
                b"the quick brown fox jumps over the lazy dog again and again"
            )]
        );
    }

    #[test]
    fn every_vector_level_gives_the_same_minima() {
        let mut state = 7;
        let mut draw = |n: usize| (0..n).map(|_| splitmix64(&mut state)).collect::<Vec<u64>>();
        let (a, b, xs) = (draw(112), draw(112), draw(1003));
        let mut portable = vec![u32::MAX; 112];
        Level::Portable.absorb(&mut portable, &a, &b, &xs);
        let mut detected = vec![u32::MAX; 112];
        Level::detect().absorb(&mut detected, &a, &b, &xs);
        assert_eq!(portable, detected);
        // The minimum of 1,000 uniform 32-bit values is near 2^32 / 1000.
        assert!(portable.iter().all(|&m| m < u32::MAX / 100), "{portable:?}");
    }

    #[test]
    fn normalization_decides_what_is_equal() {
        let config = DedupConfig::default();
        let a = keys(&config, "Hello, World! This is the 1st test of 2024.");
        let b = keys(&config, "hello world   this is THE 9st test of 1999");
        assert_eq!(a, b);
        assert_ne!(
            a,
            keys(&config, "hello world this is the 1st test of a year")
        );
    }

    #[test]
    fn short_and_empty_texts() {
        let config = DedupConfig::default();
        assert!(keys(&config, "").is_empty());
        assert!(keys(&config, " ... !!! ").is_empty());
        let one = keys(&config, "word");
        assert_eq!(one.len(), 14);
        assert_eq!(one, keys(&config, "WORD."));
        assert_ne!(one, keys(&config, "words"));
        assert_ne!(keys(&config, "two words"), keys(&config, "words two"));
    }

    #[test]
    fn similar_texts_share_some_bands_and_different_ones_none() {
        let config = DedupConfig::default();
        let base: Vec<String> = (0..300).map(|i| word(i * 7919 % 1000)).collect();
        let mut edited = base.clone();
        edited[150] = "changed".into();
        let shared = |x: &[u64], y: &[u64]| x.iter().zip(y).filter(|(a, b)| a == b).count();
        let a = keys(&config, &base.join(" "));
        let b = keys(&config, &edited.join(" "));
        // J = 291 / 301 ≈ 0.967: a band matches with probability 0.967^8 ≈ 0.76.
        assert!(shared(&a, &b) >= 7, "{}", shared(&a, &b));
        let other: Vec<String> = (1000..1300).map(word).collect();
        assert_eq!(shared(&a, &keys(&config, &other.join(" "))), 0);
    }

    #[test]
    fn signature_estimates_jaccard() {
        let config = DedupConfig {
            bands: 64,
            rows: 4,
            ..DedupConfig::default()
        };
        let mut signer = Signer::new(&config);
        // Word shingles of size 5 over 400 distinct words: the texts share a 300-word
        // stretch, so 296 of 396 + 396 − 296 = 496 shingles: J ≈ 0.597.
        let words: Vec<String> = (0..500).map(word).collect();
        let x = signer.signature(&words[..400].join(" ")).unwrap().to_vec();
        let y = signer.signature(&words[100..].join(" ")).unwrap().to_vec();
        let same = x.iter().zip(&y).filter(|(a, b)| a == b).count();
        let estimate = same as f64 / x.len() as f64;
        assert!((estimate - 0.597).abs() < 0.1, "{estimate}");
    }
}
