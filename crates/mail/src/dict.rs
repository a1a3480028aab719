//! Categories and brands from a data file (`data/categories.yaml`; the
//! file's header says how it is applied).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::error::{Error, ErrorKind};

/// The shipped dictionary.
pub const DEFAULT_DICTIONARY: &str = include_str!("../data/categories.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DictFile {
    min_score: u32,
    subject_weight: u32,
    brand_weight: u32,
    #[serde(default)]
    attachment_extensions: BTreeMap<String, Vec<String>>,
    categories: BTreeMap<String, CatFile>,
    #[serde(default)]
    brands: Vec<BrandFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatFile {
    #[serde(default)]
    words: Vec<String>,
    #[serde(default)]
    phrases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrandFile {
    name: String,
    category: String,
    #[serde(default)]
    phrases: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
}

/// What one word of a text looks up.
#[derive(Debug, Default)]
struct Entry {
    /// The word alone is evidence of these.
    hits: Vec<Hit>,
    /// Phrases starting with the word: (the remaining words, hit).
    phrases: Vec<(Vec<String>, Hit)>,
}

/// What a phrase (or word) is evidence of.
#[derive(Clone, Copy, Debug)]
enum Hit {
    /// Keyword `id` of category `cat`.
    Cat {
        cat: usize,
        id: usize,
    },
    Brand(usize),
}

/// A compiled dictionary.
#[derive(Debug)]
pub struct Dictionary {
    categories: Vec<String>,
    min_score: u32,
    subject_weight: u32,
    brand_weight: u32,
    /// A word → what it is evidence of alone, and the phrases it starts
    /// (one lookup per word of a text).
    entries: FxHashMap<String, Entry>,
    /// One bit per [`word_class`], set for the class of every key of
    /// `entries`: most words of a text are not looked up at all.
    classes: Box<[u64; 1024]>,
    keywords: usize,
    brands: Vec<(String, usize, Vec<String>)>,
    extensions: FxHashMap<String, usize>,
}

/// Split into lower-case words (letters, digits, `$`, `'`, `&`); ASCII
/// takes a fast path.
pub(crate) fn words(text: &str, mut f: impl FnMut(&str)) {
    words_while(text, |w| {
        f(w);
        true
    });
}

/// [`words`], stopping after the word for which `f` returns false.
pub(crate) fn words_while(text: &str, mut f: impl FnMut(&str) -> bool) {
    let mut w = String::new();
    for ch in text.chars() {
        if ch.is_ascii() {
            if ch.is_ascii_alphanumeric() || ch == '$' || ch == '\'' || ch == '&' {
                w.push(ch.to_ascii_lowercase());
                continue;
            }
        } else if ch.is_alphanumeric() {
            w.extend(ch.to_lowercase());
            continue;
        }
        if !w.is_empty() {
            if !f(&w) {
                return;
            }
            w.clear();
        }
    }
    if !w.is_empty() {
        f(&w);
    }
}

/// ASCII bytes that belong to a word (see [`words`]).
const WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'$' || c == b'\'' || c == b'&';
        b += 1;
    }
    t
};

/// Calls `f(start, end)` for each run of word bytes of ASCII `t`, in
/// order. Runs are found 64 bytes at a time from a mask of word bytes,
/// one step per word edge (a byte loop stopped at every edge, a branch
/// the processor mostly guessed wrong).
fn ascii_words(t: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut start = 0;
    // Whether the byte before the block was a word byte.
    let mut carry = 0u64;
    for (k, block) in t.chunks(64).enumerate() {
        let base = k * 64;
        let mut m = 0u64;
        for (j, &b) in block.iter().enumerate() {
            m |= u64::from(WORD_BYTE[usize::from(b)]) << j;
        }
        // A bit for each byte whose kind differs from the byte before it:
        // a word starts where the byte is a word byte, ends where it is
        // not (for a short last block, at its end).
        let mut edges = m ^ ((m << 1) | carry);
        carry = m >> 63;
        while edges != 0 {
            let j = edges.trailing_zeros() as usize;
            edges &= edges - 1;
            if (m >> j) & 1 == 1 {
                start = base + j;
            } else {
                f(start, base + j);
            }
        }
    }
    if carry == 1 {
        f(start, t.len());
    }
}

/// Length of the ASCII prefix of `t` (16 bytes at a time).
fn ascii_prefix(t: &[u8]) -> usize {
    let mut n = 0;
    for c in t.chunks(16) {
        if c.is_ascii() {
            n += c.len();
        } else {
            return n + c.iter().position(|&b| b >= 0x80).unwrap_or(c.len());
        }
    }
    n
}

/// A word's class for [`Dictionary::classes`]: its length (up to 31),
/// first and last bytes, folded into 16 bits.
fn word_class(w: &str) -> usize {
    let b = w.as_bytes();
    let (Some(&a), Some(&z)) = (b.first(), b.last()) else {
        return 0;
    };
    ((b.len().min(31) << 11) ^ (usize::from(a) << 3) ^ usize::from(z)) & 0xffff
}

/// Lower-case words of `text` in one buffer, with their ranges (one
/// allocation per text instead of one per word).
struct WordList {
    buf: String,
    ranges: Vec<(usize, usize)>,
}

impl WordList {
    /// The words of [`words`]. ASCII text is lower-cased whole and its
    /// words are ranges of it (no copy per word). Other text: runs of
    /// ASCII word bytes are copied whole and the buffer lower-cased once
    /// at the end; only a non-ASCII byte decodes its character (mail text
    /// is mostly ASCII with a few curly quotes or non-breaking spaces,
    /// which used to send the whole text through the per-character path).
    fn new(text: &str) -> WordList {
        let t = text.as_bytes();
        let mut ranges = Vec::with_capacity(text.len() / 8 + 1);
        if text.is_ascii() {
            // The words are the runs of word bytes of the text lower-cased
            // whole: their ranges index it as they index the text.
            ascii_words(t, |s, e| ranges.push((s, e)));
            return WordList {
                buf: text.to_ascii_lowercase(),
                ranges,
            };
        }
        let mut bytes: Vec<u8> = Vec::with_capacity(text.len());
        // Where the current word starts in `bytes`, if one is open (a
        // word may join ASCII runs and non-ASCII letters).
        let mut open: Option<usize> = None;
        let mut i = 0;
        while let Some(&b) = t.get(i) {
            if b < 0x80 {
                // A run of ASCII up to the next non-ASCII character: its
                // words copied whole. A word at the run's start joins an
                // open one (a letter before it); one at its end stays open.
                let run = t.get(i..).unwrap_or_default();
                let run = run.get(..ascii_prefix(run)).unwrap_or_default();
                if run.first().is_some_and(|&b| !WORD_BYTE[usize::from(b)]) {
                    if let Some(w) = open.take() {
                        ranges.push((w, bytes.len()));
                    }
                }
                ascii_words(run, |s, e| {
                    open.get_or_insert(bytes.len());
                    bytes.extend_from_slice(run.get(s..e).unwrap_or_default());
                    if e < run.len() {
                        if let Some(w) = open.take() {
                            ranges.push((w, bytes.len()));
                        }
                    }
                });
                i += run.len();
                continue;
            }
            // A non-ASCII character (`text` is a str: `i` is at its start).
            let Some(ch) = text.get(i..).and_then(|r| r.chars().next()) else {
                break;
            };
            i += ch.len_utf8();
            if ch.is_alphanumeric() {
                open.get_or_insert(bytes.len());
                let mut enc = [0u8; 4];
                for l in ch.to_lowercase() {
                    bytes.extend_from_slice(l.encode_utf8(&mut enc).as_bytes());
                }
            } else if let Some(w) = open.take() {
                ranges.push((w, bytes.len()));
            }
        }
        if let Some(w) = open {
            ranges.push((w, bytes.len()));
        }
        // ASCII letters only change: what non-ASCII letters lower-case to
        // holds no upper-case ASCII.
        bytes.make_ascii_lowercase();
        // Whole characters in, whole characters out: valid UTF-8.
        let buf = String::from_utf8(bytes).unwrap_or_default();
        WordList { buf, ranges }
    }

    fn len(&self) -> usize {
        self.ranges.len()
    }

    fn get(&self, i: usize) -> &str {
        let (s, e) = self.ranges[i];
        self.buf.get(s..e).unwrap_or_default()
    }

    /// Words `i+1..=i+rest.len()` equal `rest`.
    fn follows(&self, i: usize, rest: &[String]) -> bool {
        self.len() > i + rest.len()
            && rest
                .iter()
                .enumerate()
                .all(|(k, r)| self.get(i + 1 + k) == r)
    }
}

impl Dictionary {
    /// The dictionary shipped in the crate.
    pub fn builtin() -> Dictionary {
        Dictionary::from_yaml(DEFAULT_DICTIONARY).expect("the shipped dictionary parses")
    }

    /// Parse a dictionary (same format as `data/categories.yaml`).
    pub fn from_yaml(text: &str) -> Result<Dictionary, Error> {
        let f: DictFile = serde_yaml::from_str(text)
            .map_err(|e| Error::new(ErrorKind::Config(format!("dictionary: {e}"))))?;
        let categories: Vec<String> = f.categories.keys().cloned().collect();
        let mut entries: FxHashMap<String, Entry> = FxHashMap::default();
        let mut id = 0;
        let add = |text: &str, hit: Hit, entries: &mut FxHashMap<String, Entry>| {
            let mut ws = Vec::new();
            self::words(text, |w| ws.push(w.to_string()));
            if ws.len() == 1 {
                entries.entry(ws.remove(0)).or_default().hits.push(hit);
            } else if !ws.is_empty() {
                let first = ws.remove(0);
                entries.entry(first).or_default().phrases.push((ws, hit));
            }
        };
        for (ci, c) in f.categories.values().enumerate() {
            for w in c.words.iter().chain(&c.phrases) {
                add(w, Hit::Cat { cat: ci, id }, &mut entries);
                id += 1;
            }
        }
        let mut brands = Vec::new();
        for (bi, b) in f.brands.iter().enumerate() {
            let cat = categories
                .iter()
                .position(|c| *c == b.category)
                .ok_or_else(|| {
                    Error::new(ErrorKind::Config(format!(
                        "dictionary: brand {} names unknown category {}",
                        b.name, b.category
                    )))
                })?;
            for p in &b.phrases {
                add(p, Hit::Brand(bi), &mut entries);
            }
            brands.push((
                b.name.clone(),
                cat,
                b.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            ));
        }
        let mut extensions = FxHashMap::default();
        for (cat, exts) in &f.attachment_extensions {
            let ci = categories.iter().position(|c| c == cat).ok_or_else(|| {
                Error::new(ErrorKind::Config(format!(
                    "dictionary: unknown category {cat}"
                )))
            })?;
            for e in exts {
                extensions.insert(e.trim_start_matches('.').to_ascii_lowercase(), ci);
            }
        }
        let mut classes = Box::new([0u64; 1024]);
        for k in entries.keys() {
            let c = word_class(k);
            classes[c / 64] |= 1 << (c % 64);
        }
        Ok(Dictionary {
            classes,
            categories,
            min_score: f.min_score,
            subject_weight: f.subject_weight,
            brand_weight: f.brand_weight,
            entries,
            keywords: id,
            brands,
            extensions,
        })
    }

    /// Whether some key has `w`'s class (if not, `w` is no key).
    fn may_hold(&self, w: &str) -> bool {
        let c = word_class(w);
        self.classes[c / 64] & (1 << (c % 64)) != 0
    }

    /// What `w` looks up, if anything.
    fn entry(&self, w: &str) -> Option<&Entry> {
        if !self.may_hold(w) {
            return None;
        }
        self.entries.get(w)
    }

    /// Category and brand of a message.
    pub fn classify(
        &self,
        subject: &str,
        body: &str,
        attachment_names: &[String],
        hosts: &[String],
    ) -> (String, Option<String>) {
        for name in attachment_names {
            if let Some((_, ext)) = name.rsplit_once('.') {
                if let Some(&ci) = self.extensions.get(&ext.to_ascii_lowercase()) {
                    let brand = self.find_brand(subject, body, hosts);
                    return (
                        self.categories[ci].clone(),
                        brand.map(|b| self.brands[b].0.clone()),
                    );
                }
            }
        }
        let mut seen = vec![0u8; self.keywords];
        let mut scores = vec![0u32; self.categories.len()];
        let mut brand: Option<usize> = None;
        let mut hits: Vec<(Hit, u32)> = Vec::new();
        for (text, weight) in [(subject, self.subject_weight), (body, 1)] {
            let ws = WordList::new(text);
            for i in 0..ws.len() {
                hits.clear();
                let w = ws.get(i);
                if let Some(e) = self.entry(w) {
                    hits.extend(e.hits.iter().map(|h| (*h, 1)));
                    for (rest, h) in &e.phrases {
                        if ws.follows(i, rest) {
                            hits.push((*h, 2));
                        }
                    }
                }
                for &(h, w) in &hits {
                    match h {
                        Hit::Cat { cat, id } => {
                            // Each keyword counts once per place (subject, body).
                            let bit = if weight == 1 { 1 } else { 2 };
                            if seen[id] & bit == 0 {
                                seen[id] |= bit;
                                scores[cat] += w * weight;
                            }
                        }
                        Hit::Brand(b) => {
                            if brand.is_none_or(|x| b < x) {
                                brand = Some(b);
                            }
                        }
                    }
                }
            }
        }
        if brand.is_none() {
            brand = self.brand_by_host(hosts);
        }
        if let Some(b) = brand {
            scores[self.brands[b].1] += self.brand_weight;
        }
        let (best, score) = scores
            .iter()
            .enumerate()
            .max_by_key(|(i, s)| (**s, std::cmp::Reverse(*i)))
            .map(|(i, s)| (i, *s))
            .unwrap_or((0, 0));
        let category = if score >= self.min_score {
            self.categories[best].clone()
        } else {
            "other".to_string()
        };
        (category, brand.map(|b| self.brands[b].0.clone()))
    }

    fn brand_by_host(&self, hosts: &[String]) -> Option<usize> {
        self.brands.iter().position(|(_, _, domains)| {
            domains.iter().any(|d| {
                hosts
                    .iter()
                    .any(|h| h == d || h.ends_with(&format!(".{d}")))
            })
        })
    }

    fn find_brand(&self, subject: &str, body: &str, hosts: &[String]) -> Option<usize> {
        let mut found: Option<usize> = None;
        for text in [subject, body] {
            let ws = WordList::new(text);
            for i in 0..ws.len() {
                let Some(e) = self.entry(ws.get(i)) else {
                    continue;
                };
                for h in &e.hits {
                    if let Hit::Brand(b) = h {
                        found = Some(found.map_or(*b, |x| x.min(*b)));
                    }
                }
                for (rest, h) in &e.phrases {
                    if let Hit::Brand(b) = h {
                        if ws.follows(i, rest) {
                            found = Some(found.map_or(*b, |x| x.min(*b)));
                        }
                    }
                }
            }
        }
        found.or_else(|| self.brand_by_host(hosts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_lists_split_as_words_does() {
        for text in [
            "Best PRICES on meds: Viagra 50mg x60 $1.99 it's R&D",
            "  trailing and leading  ",
            "",
            "¡Ofertas! Médicaments à 50% — ÜBER",
            "a",
        ] {
            let mut want = Vec::new();
            words(text, |w| want.push(w.to_string()));
            let ws = WordList::new(text);
            let got: Vec<&str> = (0..ws.len()).map(|i| ws.get(i)).collect();
            assert_eq!(got, want, "{text}");
        }
    }

    /// Random ASCII text up to 300 bytes (word edges on every side of the
    /// 64-byte blocks the list is found by): split as `words` does.
    #[test]
    fn word_lists_split_ascii_text_as_words_does() {
        let pieces = [
            "a", "Z", "q", "0", "9", "$", "'", "&", " ", "-", ".", "\n", "\t", "<", "_", "Word",
            "x1y2z3", "  ", ",.;", "\u{7f}", "\u{0}",
        ];
        let mut next = crate::xorshift(0x3c6e_f372_fe94_f82b);
        for _ in 0..3000 {
            let n = (next() % 300) as usize;
            let mut text = String::new();
            while text.len() < n {
                text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let mut want = Vec::new();
            words(&text, |w| want.push(w.to_string()));
            let ws = WordList::new(&text);
            let got: Vec<&str> = (0..ws.len()).map(|i| ws.get(i)).collect();
            assert_eq!(got, want, "{text:?}");
        }
        // Runs ending and starting on the block edges.
        for len in [63, 64, 65, 127, 128, 129] {
            for text in [
                "a".repeat(len),
                format!("{} b", "a".repeat(len)),
                format!("{}b", " ".repeat(len)),
            ] {
                let mut want = Vec::new();
                words(&text, |w| want.push(w.to_string()));
                let ws = WordList::new(&text);
                let got: Vec<&str> = (0..ws.len()).map(|i| ws.get(i)).collect();
                assert_eq!(got, want, "{text:?}");
            }
        }
    }

    /// Random text mixing ASCII word and non-word bytes with non-ASCII
    /// letters (some lower-casing to more bytes or to two characters) and
    /// non-ASCII non-letters: the one-pass list splits as `words` does.
    #[test]
    fn word_lists_split_mixed_text_as_words_does() {
        let pieces = [
            "a", "Z", "q", "0", "9", "$", "'", "&", " ", "-", ".", "\n", "\t", "<", "_", "é", "Ü",
            "ß", "İ", "Ⱥ", "Σ", "ς", "Ж", "中", "ǅ", "\u{a0}", "—", "’", "¡", "€", "😀", "\u{301}",
            "Ⅻ", "١",
        ];
        let mut next = crate::xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let n = (next() % 40) as usize;
            let text: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let mut want = Vec::new();
            words(&text, |w| want.push(w.to_string()));
            let ws = WordList::new(&text);
            let got: Vec<&str> = (0..ws.len()).map(|i| ws.get(i)).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    /// Every key of the shipped dictionary is found through the class
    /// filter, and most other words are turned away by it.
    #[test]
    fn the_class_filter_keeps_every_key() {
        let d = Dictionary::builtin();
        for k in d.entries.keys() {
            assert!(d.entry(k).is_some(), "{k}");
        }
        let text = "hello friend we are writing to say the meeting moved to \
            thursday afternoon please bring the quarterly report and coffee";
        let ws = WordList::new(text);
        let let_through = (0..ws.len()).filter(|&i| d.may_hold(ws.get(i))).count();
        assert!(let_through * 4 < ws.len(), "{let_through} of {}", ws.len());
    }

    #[test]
    fn builtin_classifies() {
        let d = Dictionary::builtin();
        let (c, b) = d.classify(
            "Best prices on meds",
            "Canadian Pharmacy: Viagra 50 mg x 60 pills",
            &[],
            &[],
        );
        assert_eq!(c, "pharma");
        assert_eq!(b.as_deref(), Some("Canadian Pharmacy"));
        let (c, _) = d.classify("Hello", "see you at lunch tomorrow", &[], &[]);
        assert_eq!(c, "other");
        let (c, _) = d.classify("Invoice", "hi", &["invoice_1.zip".to_string()], &[]);
        assert_eq!(c, "malware");
    }
}
