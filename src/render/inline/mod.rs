//! CSS inlining with css-inline, once per page shape instead of once per recipient.
//!
//! css-inline parses the whole page (html5ever), parses the stylesheet, matches every selector and
//! serializes the page again: about half of a message's rendering time. None of that depends on
//! the words between the tags or on where a link points, so each page is first split into its
//! [shape](super::shape) (markup with numbered slots) and the slot values; css-inline runs on the
//! shape the first time it is seen, and every later recipient with the same shape only fills the
//! slots of the cached result. The output is byte for byte what css-inline gives for the page
//! itself (the tests compare both on many pages).
//!
//! The cache holds at most [`CACHE_BYTES`]; past that, new shapes are inlined but not kept, so
//! memory stays flat whatever the list. Pages the splitter cannot follow are inlined directly.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, RwLock};
use std::sync::{
    PoisonError,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use css_inline::CSSInliner;

use super::error::{RenderError, Step};
use super::shape::{self, SLOT_CLOSE, SLOT_OPEN};

/// How many bytes of inlined shapes are kept.
pub const CACHE_BYTES: usize = 16 << 20;

/// Inlines CSS for every recipient with one configured css-inline and a cache of inlined shapes.
pub struct Inliner {
    inliner: CSSInliner<'static>,
    /// Inlined shapes by the hash of the shape (colliding shapes share a bucket).
    shapes: RwLock<HashMap<u64, Vec<Arc<Inlined>>>>,
    bytes: AtomicUsize,
    /// Attributes the stylesheet names (`[href^=…]`, `:lang(…)`): never slotted.
    selected_attributes: RwLock<Vec<String>>,
    /// (stylesheet hash, attribute) pairs checked and found not named by that stylesheet.
    not_selected: RwLock<Vec<(u64, String)>>,
    /// How pages were inlined so far (see [`Stats`]).
    counts: Counts,
}

/// The live counters behind [`Stats`].
#[derive(Default)]
struct Counts {
    cached: AtomicU64,
    new_shapes: AtomicU64,
    direct: AtomicU64,
}

/// How pages were inlined so far: (filled from the cache, inlined as a new shape, inlined directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub cached: u64,
    pub new_shapes: u64,
    pub direct: u64,
}

/// css-inline's output for one shape, split at its slots.
struct Inlined {
    shape: Box<str>,
    /// The output without the slot markers.
    text: String,
    /// (end of the literal text before the slot, slot number), in output order.
    slots: Vec<(usize, usize)>,
}

impl Inlined {
    /// Splits css-inline's output for `shape` (which has `count` slots) at its slot markers.
    fn parse(shape: &str, count: usize, output: &str) -> Option<Inlined> {
        let mut text = String::with_capacity(output.len());
        let mut slots = Vec::with_capacity(count);
        let mut rest = output;
        while let Some(open) = rest.find(SLOT_OPEN) {
            text.push_str(&rest[..open]);
            let after = &rest[open + SLOT_OPEN.len_utf8()..];
            let close = after.find(SLOT_CLOSE)?;
            let slot: usize = after[..close].parse().ok()?;
            if slot >= count {
                return None;
            }
            slots.push((text.len(), slot));
            rest = &after[close + SLOT_CLOSE.len_utf8()..];
        }
        if rest.contains(SLOT_CLOSE) {
            return None;
        }
        text.push_str(rest);
        Some(Inlined {
            shape: shape.into(),
            text,
            slots,
        })
    }

    fn fill(&self, values: &[std::borrow::Cow<'_, str>]) -> String {
        let extra: usize = self.slots.iter().map(|&(_, s)| values[s].len()).sum();
        let mut out = String::with_capacity(self.text.len() + extra);
        let mut at = 0;
        for &(end, slot) in &self.slots {
            out.push_str(&self.text[at..end]);
            out.push_str(&values[slot]);
            at = end;
        }
        out.push_str(&self.text[at..]);
        out
    }

    fn size(&self) -> usize {
        self.shape.len() + self.text.len() + self.slots.len() * 16
    }
}

fn hash(text: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(text.as_bytes());
    hasher.finish()
}

/// Whether the stylesheet may refer to attribute `name` (an attribute selector, `:lang()`): the
/// name as a whole word, ignoring case. Any CSS escape makes every name suspect.
fn names_attribute(css: &str, name: &str) -> bool {
    if css.contains('\\') {
        return true;
    }
    let css = css.as_bytes();
    let name = name.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') || *b >= 0x80;
    css.windows(name.len()).enumerate().any(|(i, window)| {
        window.eq_ignore_ascii_case(name)
            && (i == 0 || !word(&css[i - 1]))
            && css.get(i + name.len()).is_none_or(|b| !word(b))
    })
}

impl Inliner {
    pub fn new() -> Inliner {
        let inliner = CSSInliner::options()
            .keep_style_tags(false)
            .keep_at_rules(true)
            .load_remote_stylesheets(false)
            .build();
        Inliner {
            inliner,
            shapes: RwLock::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            selected_attributes: RwLock::new(Vec::new()),
            not_selected: RwLock::new(Vec::new()),
            counts: Counts::default(),
        }
    }

    /// Inlines the page's `<style>` rules into `style=` attributes (`@media` rules stay in a
    /// `<style>` block).
    pub fn inline(&self, html: &str) -> Result<String, RenderError> {
        loop {
            let split = shape::split(
                html,
                &self
                    .selected_attributes
                    .read()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            let Some(split) = split else {
                self.counts.direct.fetch_add(1, Ordering::Relaxed);
                return self.inline_directly(html);
            };
            if self.stylesheet_names_a_slotted_attribute(&split) {
                continue; // that attribute is kept now; split again
            }
            if let Some(out) = self.fill(&split) {
                return Ok(out);
            }
            // css-inline refused the shape, or moved or changed a slot marker: not cacheable;
            // inline the page itself (its error, if any, is the page's own).
            self.counts.direct.fetch_add(1, Ordering::Relaxed);
            return self.inline_directly(html);
        }
    }

    /// css-inline on the page as it is, without the cache.
    pub fn inline_directly(&self, html: &str) -> Result<String, RenderError> {
        self.inliner
            .inline(html)
            .map_err(|e| RenderError::new(Step::Css, format!("cannot inline CSS: {e}")))
    }

    pub fn stats(&self) -> Stats {
        let c = &self.counts;
        Stats {
            cached: c.cached.load(Ordering::Relaxed),
            new_shapes: c.new_shapes.load(Ordering::Relaxed),
            direct: c.direct.load(Ordering::Relaxed),
        }
    }

    /// Checks each slotted attribute against the page's stylesheet (once per stylesheet); a name it
    /// mentions is added to `selected_attributes`, and the answer is true.
    fn stylesheet_names_a_slotted_attribute(&self, split: &shape::Split<'_>) -> bool {
        let css = hash(&split.css);
        let mut named = false;
        for name in &split.attributes {
            let known = |(h, n): &(u64, String)| *h == css && n.eq_ignore_ascii_case(name);
            if self
                .not_selected
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(known)
            {
                continue;
            }
            if names_attribute(&split.css, name) {
                self.selected_attributes
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(name.to_ascii_lowercase());
                named = true;
            } else {
                let entry = (css, name.to_ascii_lowercase());
                self.not_selected
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(entry);
            }
        }
        named
    }

    /// The page from its cached shape, inlining the shape first if it is new. `None` when
    /// css-inline fails on the shape or its output cannot be split at the slots.
    fn fill(&self, split: &shape::Split<'_>) -> Option<String> {
        let key = hash(&split.shape);
        let found = self
            .shapes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .and_then(|bucket| {
                bucket
                    .iter()
                    .find(|i| *i.shape == *split.shape)
                    .map(Arc::clone)
            });
        if let Some(inlined) = found {
            self.counts.cached.fetch_add(1, Ordering::Relaxed);
            return Some(inlined.fill(&split.values));
        }
        let output = self.inline_directly(&split.shape).ok()?;
        let inlined = Inlined::parse(&split.shape, split.values.len(), &output)?;
        self.counts.new_shapes.fetch_add(1, Ordering::Relaxed);
        let out = inlined.fill(&split.values);
        let size = inlined.size();
        if self.bytes.fetch_add(size, Ordering::Relaxed) + size <= CACHE_BYTES {
            let mut shapes = self.shapes.write().unwrap_or_else(PoisonError::into_inner);
            let bucket = shapes.entry(key).or_default();
            // Another thread may have inlined the same shape meanwhile.
            if !bucket.iter().any(|i| i.shape == inlined.shape) {
                bucket.push(Arc::new(inlined));
            }
        } else {
            self.bytes.fetch_sub(size, Ordering::Relaxed);
        }
        Some(out)
    }
}

impl Default for Inliner {
    fn default() -> Self {
        Inliner::new()
    }
}

#[cfg(test)]
mod generated_tests;
#[cfg(test)]
mod tests;
