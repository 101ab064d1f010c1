//! Version vectors: one counter per node, compared pointwise.
//!
//! A version vector summarises the causal history of a replicated value: entry
//! `n: c` says "this version has seen the first `c` updates coordinated by node
//! `n`". Two versions are ordered when one vector is pointwise at least the
//! other, and concurrent (a conflict) otherwise.
//!
//! Most keys are written by a handful of replicas, so the entries are kept
//! sorted by node in an inline array and spill to the heap only past
//! [`VersionVector::INLINE_CAPACITY`] nodes: compare and merge of small vectors
//! never allocate.

use core::cmp::Ordering;
use core::fmt;

use steadfast_core::NodeId;

/// How two versions relate causally.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{Causality, VersionVector};
///
/// let mut a = VersionVector::new();
/// a.increment(NodeId::new(1));
/// let mut b = a.clone();
/// b.increment(NodeId::new(2));
/// assert_eq!(a.compare(&b), Causality::Before);
/// a.increment(NodeId::new(3));
/// assert_eq!(a.compare(&b), Causality::Concurrent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Causality {
    /// The first version happened before the second (the second supersedes it).
    Before,
    /// The first version happened after the second (it supersedes the second).
    After,
    /// Both versions have the same history.
    Equal,
    /// Neither saw the other: a conflict, both must be kept.
    Concurrent,
}

type Entry = (NodeId, u64);

const INLINE: usize = 6;

/// Sorted entries, inline up to [`INLINE`] of them.
#[derive(Clone)]
enum Entries {
    Inline { len: u8, slots: [Entry; INLINE] },
    Heap(Vec<Entry>),
}

const EMPTY_SLOT: Entry = (NodeId::new(0), 0);

impl Entries {
    const fn empty() -> Entries {
        Entries::Inline {
            len: 0,
            slots: [EMPTY_SLOT; INLINE],
        }
    }

    #[inline]
    fn as_slice(&self) -> &[Entry] {
        match self {
            Entries::Inline { len, slots } => &slots[..usize::from(*len)],
            Entries::Heap(v) => v,
        }
    }

    #[inline]
    fn as_mut_slice(&mut self) -> &mut [Entry] {
        match self {
            Entries::Inline { len, slots } => &mut slots[..usize::from(*len)],
            Entries::Heap(v) => v,
        }
    }

    /// Appends an entry; callers keep node order.
    fn push(&mut self, entry: Entry) {
        match self {
            Entries::Inline { len, slots } => {
                let n = usize::from(*len);
                if n < INLINE {
                    slots[n] = entry;
                    *len += 1;
                } else {
                    let mut v = Vec::with_capacity(INLINE * 2);
                    v.extend_from_slice(&slots[..]);
                    v.push(entry);
                    *self = Entries::Heap(v);
                }
            }
            Entries::Heap(v) => v.push(entry),
        }
    }

    fn insert(&mut self, at: usize, entry: Entry) {
        match self {
            Entries::Inline { len, slots } if usize::from(*len) < INLINE => {
                let n = usize::from(*len);
                slots.copy_within(at..n, at + 1);
                slots[at] = entry;
                *len += 1;
            }
            Entries::Inline { len, slots } => {
                let mut v = Vec::with_capacity(INLINE * 2);
                v.extend_from_slice(&slots[..usize::from(*len)]);
                v.insert(at, entry);
                *self = Entries::Heap(v);
            }
            Entries::Heap(v) => v.insert(at, entry),
        }
    }

    fn with_capacity(n: usize) -> Entries {
        if n <= INLINE {
            Entries::empty()
        } else {
            Entries::Heap(Vec::with_capacity(n))
        }
    }
}

/// A version vector: sorted `(node, counter)` entries, inline for small sizes.
///
/// Nodes absent from the vector have counter 0; entries with counter 0 are
/// never stored, so equal histories have equal representations.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{Causality, VersionVector};
///
/// let (a, b) = (NodeId::new(1), NodeId::new(2));
/// let mut left = VersionVector::new();
/// left.increment(a);
/// let mut right = VersionVector::new();
/// right.increment(b);
/// assert_eq!(left.compare(&right), Causality::Concurrent);
///
/// let mut merged = left.clone();
/// merged.merge(&right);
/// assert!(merged.dominates(&left) && merged.dominates(&right));
/// assert_eq!(merged.get(a), 1);
/// assert_eq!(format!("{merged:?}"), "{1: 1, 2: 1}");
/// ```
#[derive(Clone)]
pub struct VersionVector {
    entries: Entries,
}

impl VersionVector {
    /// How many entries fit before the vector allocates.
    pub const INLINE_CAPACITY: usize = INLINE;

    /// The empty vector: no node has written.
    ///
    /// ```
    /// # use steadfast_replica::VersionVector;
    /// assert!(VersionVector::new().is_empty());
    /// ```
    #[must_use]
    pub const fn new() -> VersionVector {
        VersionVector {
            entries: Entries::empty(),
        }
    }

    /// The entries, sorted by node, every counter at least 1.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let vv: VersionVector = [(NodeId::new(2), 1), (NodeId::new(1), 4)].into_iter().collect();
    /// assert_eq!(vv.as_slice(), &[(NodeId::new(1), 4), (NodeId::new(2), 1)]);
    /// ```
    #[must_use]
    #[inline]
    pub fn as_slice(&self) -> &[(NodeId, u64)] {
        self.entries.as_slice()
    }

    /// Iterates over `(node, counter)` in node order.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let mut vv = VersionVector::new();
    /// vv.increment(NodeId::new(9));
    /// assert_eq!(vv.iter().collect::<Vec<_>>(), vec![(NodeId::new(9), 1)]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (NodeId, u64)> + '_ {
        self.as_slice().iter().copied()
    }

    /// Number of nodes with a non-zero counter.
    ///
    /// ```
    /// # use steadfast_replica::VersionVector;
    /// assert_eq!(VersionVector::new().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when no node has a non-zero counter.
    ///
    /// ```
    /// # use steadfast_replica::VersionVector;
    /// assert!(VersionVector::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// True when the entries live on the heap (more than
    /// [`INLINE_CAPACITY`](Self::INLINE_CAPACITY) nodes were ever stored).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let small: VersionVector = (1..=6).map(|n| (NodeId::new(n), 1)).collect();
    /// assert!(!small.spilled());
    /// let big: VersionVector = (1..=7).map(|n| (NodeId::new(n), 1)).collect();
    /// assert!(big.spilled());
    /// ```
    #[must_use]
    pub fn spilled(&self) -> bool {
        matches!(self.entries, Entries::Heap(_))
    }

    #[inline]
    fn position(&self, node: NodeId) -> Result<usize, usize> {
        let s = self.as_slice();
        if s.len() <= INLINE {
            // A linear scan beats binary search on a handful of entries.
            for (i, &(n, _)) in s.iter().enumerate() {
                if n >= node {
                    return if n == node { Ok(i) } else { Err(i) };
                }
            }
            Err(s.len())
        } else {
            s.binary_search_by_key(&node, |&(n, _)| n)
        }
    }

    /// The counter of `node` (0 when absent).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let mut vv = VersionVector::new();
    /// vv.increment(NodeId::new(1));
    /// assert_eq!(vv.get(NodeId::new(1)), 1);
    /// assert_eq!(vv.get(NodeId::new(2)), 0);
    /// ```
    #[must_use]
    #[inline]
    pub fn get(&self, node: NodeId) -> u64 {
        match self.position(node) {
            Ok(i) => self.as_slice()[i].1,
            Err(_) => 0,
        }
    }

    /// Records one more update coordinated by `node` and returns its new
    /// counter. The counter saturates at `u64::MAX`.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let mut vv = VersionVector::new();
    /// assert_eq!(vv.increment(NodeId::new(4)), 1);
    /// assert_eq!(vv.increment(NodeId::new(4)), 2);
    /// ```
    #[inline]
    pub fn increment(&mut self, node: NodeId) -> u64 {
        match self.position(node) {
            Ok(i) => {
                let slot = &mut self.entries.as_mut_slice()[i].1;
                *slot = slot.saturating_add(1);
                *slot
            }
            Err(i) => {
                self.entries.insert(i, (node, 1));
                1
            }
        }
    }

    /// Raises the counter of `node` to at least `counter`; returns the
    /// counter now stored. Counter 0 changes nothing.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let mut vv = VersionVector::new();
    /// assert_eq!(vv.observe(NodeId::new(1), 5), 5);
    /// assert_eq!(vv.observe(NodeId::new(1), 3), 5);
    /// ```
    pub fn observe(&mut self, node: NodeId, counter: u64) -> u64 {
        if counter == 0 {
            return self.get(node);
        }
        match self.position(node) {
            Ok(i) => {
                let slot = &mut self.entries.as_mut_slice()[i].1;
                *slot = (*slot).max(counter);
                *slot
            }
            Err(i) => {
                self.entries.insert(i, (node, counter));
                counter
            }
        }
    }

    /// Pointwise maximum with `other`: afterwards `self` dominates both inputs.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let mut a: VersionVector = [(NodeId::new(1), 3)].into_iter().collect();
    /// let b: VersionVector = [(NodeId::new(1), 1), (NodeId::new(2), 2)].into_iter().collect();
    /// a.merge(&b);
    /// assert_eq!(a.as_slice(), &[(NodeId::new(1), 3), (NodeId::new(2), 2)]);
    /// ```
    #[inline]
    pub fn merge(&mut self, other: &VersionVector) {
        let theirs = other.as_slice();
        let mine = self.entries.as_mut_slice();
        // Fastest path, the common case: both name the same nodes. Counters
        // taken so far are maxima either way, so a mismatch just falls through.
        if mine.len() == theirs.len() {
            let mut same = true;
            for (m, t) in mine.iter_mut().zip(theirs) {
                same &= m.0 == t.0;
                if same {
                    m.1 = m.1.max(t.1);
                }
            }
            if same {
                return;
            }
        }
        // Fast path: every node of `other` is already here, update in place.
        let (mut i, mut j) = (0, 0);
        while j < theirs.len() {
            if i == mine.len() {
                break;
            }
            let (n, c) = theirs[j];
            match mine[i].0.cmp(&n) {
                Ordering::Less => i += 1,
                Ordering::Equal => {
                    if c > mine[i].1 {
                        mine[i].1 = c;
                    }
                    i += 1;
                    j += 1;
                }
                Ordering::Greater => break,
            }
        }
        if j == theirs.len() {
            return;
        }
        let merged = merge_slices(self.as_slice(), theirs);
        self.entries = merged;
    }

    /// The pointwise maximum of `self` and `other`, as a new vector.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let a: VersionVector = [(NodeId::new(1), 3)].into_iter().collect();
    /// let b: VersionVector = [(NodeId::new(2), 2)].into_iter().collect();
    /// assert_eq!(a.merged(&b).len(), 2);
    /// ```
    #[must_use]
    pub fn merged(&self, other: &VersionVector) -> VersionVector {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// How `self` relates to `other`.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{Causality, VersionVector};
    /// let a: VersionVector = [(NodeId::new(1), 1)].into_iter().collect();
    /// let b: VersionVector = [(NodeId::new(1), 2)].into_iter().collect();
    /// assert_eq!(a.compare(&b), Causality::Before);
    /// assert_eq!(b.compare(&a), Causality::After);
    /// assert_eq!(a.compare(&a), Causality::Equal);
    /// ```
    #[must_use]
    #[inline]
    pub fn compare(&self, other: &VersionVector) -> Causality {
        let (a, b) = (self.as_slice(), other.as_slice());
        // Fast path, the common case: the same nodes on both sides; a
        // branch-free pass over the counters.
        if a.len() == b.len() {
            let (mut same, mut a_ahead, mut b_ahead) = (true, false, false);
            for (x, y) in a.iter().zip(b) {
                same &= x.0 == y.0;
                a_ahead |= x.1 > y.1;
                b_ahead |= x.1 < y.1;
            }
            if same {
                return causality(a_ahead, b_ahead);
            }
        }
        let (mut i, mut j) = (0, 0);
        let (mut a_ahead, mut b_ahead) = (false, false);
        while i < a.len() && j < b.len() {
            let ((na, ca), (nb, cb)) = (a[i], b[j]);
            match na.cmp(&nb) {
                Ordering::Less => {
                    a_ahead = true;
                    i += 1;
                }
                Ordering::Greater => {
                    b_ahead = true;
                    j += 1;
                }
                Ordering::Equal => {
                    a_ahead |= ca > cb;
                    b_ahead |= cb > ca;
                    i += 1;
                    j += 1;
                }
            }
            if a_ahead && b_ahead {
                return Causality::Concurrent;
            }
        }
        a_ahead |= i < a.len();
        b_ahead |= j < b.len();
        causality(a_ahead, b_ahead)
    }

    /// True when `self` has seen everything `other` has (after or equal).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let a: VersionVector = [(NodeId::new(1), 2)].into_iter().collect();
    /// let b: VersionVector = [(NodeId::new(1), 1)].into_iter().collect();
    /// assert!(a.dominates(&b) && a.dominates(&a) && !b.dominates(&a));
    /// ```
    #[must_use]
    #[inline]
    pub fn dominates(&self, other: &VersionVector) -> bool {
        matches!(self.compare(other), Causality::After | Causality::Equal)
    }

    /// True when neither vector dominates the other.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::VersionVector;
    /// let a: VersionVector = [(NodeId::new(1), 1)].into_iter().collect();
    /// let b: VersionVector = [(NodeId::new(2), 1)].into_iter().collect();
    /// assert!(a.is_concurrent(&b));
    /// ```
    #[must_use]
    pub fn is_concurrent(&self, other: &VersionVector) -> bool {
        self.compare(other) == Causality::Concurrent
    }

    /// Builds a vector from entries already sorted by strictly increasing
    /// node with non-zero counters; `None` otherwise. Used by decoders.
    pub(crate) fn from_sorted(entries: Vec<Entry>) -> Option<VersionVector> {
        let ok = entries.windows(2).all(|w| w[0].0 < w[1].0) && entries.iter().all(|e| e.1 > 0);
        if !ok {
            return None;
        }
        let mut out = Entries::with_capacity(entries.len());
        if entries.len() > INLINE {
            out = Entries::Heap(entries);
        } else {
            for e in entries {
                out.push(e);
            }
        }
        Some(VersionVector { entries: out })
    }
}

/// The relation given which side has an event the other lacks.
const fn causality(a_ahead: bool, b_ahead: bool) -> Causality {
    match (a_ahead, b_ahead) {
        (false, false) => Causality::Equal,
        (true, false) => Causality::After,
        (false, true) => Causality::Before,
        (true, true) => Causality::Concurrent,
    }
}

fn merge_slices(a: &[Entry], b: &[Entry]) -> Entries {
    let mut out = Entries::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push((a[i].0, a[i].1.max(b[j].1)));
                i += 1;
                j += 1;
            }
        }
    }
    for &e in &a[i..] {
        out.push(e);
    }
    for &e in &b[j..] {
        out.push(e);
    }
    out
}

impl Default for VersionVector {
    fn default() -> VersionVector {
        VersionVector::new()
    }
}

impl PartialEq for VersionVector {
    fn eq(&self, other: &VersionVector) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for VersionVector {}

impl core::hash::Hash for VersionVector {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

/// The causal partial order: `None` for concurrent versions.
impl PartialOrd for VersionVector {
    fn partial_cmp(&self, other: &VersionVector) -> Option<Ordering> {
        match self.compare(other) {
            Causality::Before => Some(Ordering::Less),
            Causality::After => Some(Ordering::Greater),
            Causality::Equal => Some(Ordering::Equal),
            Causality::Concurrent => None,
        }
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(n, c)| (n.get(), c)))
            .finish()
    }
}

/// Collects entries in any order; duplicates keep the larger counter and
/// zero counters are dropped.
impl FromIterator<(NodeId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (NodeId, u64)>>(iter: I) -> VersionVector {
        let mut v: Vec<Entry> = iter.into_iter().filter(|e| e.1 > 0).collect();
        v.sort_unstable();
        // Sorted by (node, counter): the last of each run holds the maximum.
        let mut dedup: Vec<Entry> = Vec::with_capacity(v.len());
        for e in v {
            match dedup.last_mut() {
                Some(last) if last.0 == e.0 => last.1 = e.1,
                _ => dedup.push(e),
            }
        }
        VersionVector::from_sorted(dedup).unwrap_or_default()
    }
}

impl Extend<(NodeId, u64)> for VersionVector {
    fn extend<I: IntoIterator<Item = (NodeId, u64)>>(&mut self, iter: I) {
        for (n, c) in iter {
            self.observe(n, c);
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for VersionVector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.as_slice())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for VersionVector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<VersionVector, D::Error> {
        let entries = Vec::<(NodeId, u64)>::deserialize(d)?;
        Ok(entries.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(entries: &[(u64, u64)]) -> VersionVector {
        entries.iter().map(|&(n, c)| (NodeId::new(n), c)).collect()
    }

    #[test]
    fn spills_past_inline_capacity_and_stays_sorted() {
        let mut v = VersionVector::new();
        for n in (0..20).rev() {
            v.increment(NodeId::new(n));
        }
        assert!(v.spilled());
        assert!(v.as_slice().windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(v.len(), 20);
    }

    #[test]
    fn merge_inserts_missing_nodes() {
        let mut a = vv(&[(2, 1), (4, 4)]);
        a.merge(&vv(&[(1, 1), (4, 2), (9, 3)]));
        assert_eq!(a, vv(&[(1, 1), (2, 1), (4, 4), (9, 3)]));
    }

    #[test]
    fn equal_lengths_with_different_nodes_take_the_general_path() {
        let mut a = vv(&[(1, 5), (2, 1), (4, 1)]);
        let b = vv(&[(1, 1), (3, 7), (4, 9)]);
        assert_eq!(a.compare(&b), Causality::Concurrent);
        assert_eq!(
            vv(&[(1, 1), (2, 1)]).compare(&vv(&[(1, 1), (3, 1)])),
            Causality::Concurrent
        );
        a.merge(&b);
        assert_eq!(a, vv(&[(1, 5), (2, 1), (3, 7), (4, 9)]));
        let mut c = vv(&[(1, 1), (2, 3)]);
        c.merge(&vv(&[(1, 4), (3, 1)]));
        assert_eq!(c, vv(&[(1, 4), (2, 3), (3, 1)]));
    }

    #[test]
    fn compare_with_empty_and_saturation() {
        let e = VersionVector::new();
        assert_eq!(e.compare(&e), Causality::Equal);
        assert_eq!(e.compare(&vv(&[(1, 1)])), Causality::Before);
        let mut m = vv(&[(1, u64::MAX)]);
        assert_eq!(m.increment(NodeId::new(1)), u64::MAX);
    }

    #[test]
    fn from_iter_drops_zeros_and_keeps_max() {
        let v = vv(&[(3, 0), (1, 2), (1, 5), (2, 1)]);
        assert_eq!(v.as_slice(), &[(NodeId::new(1), 5), (NodeId::new(2), 1)]);
        assert!(
            VersionVector::from_sorted(vec![(NodeId::new(2), 1), (NodeId::new(1), 1)]).is_none()
        );
        assert!(VersionVector::from_sorted(vec![(NodeId::new(1), 0)]).is_none());
    }

    #[test]
    fn partial_order_matches_compare() {
        assert!(vv(&[(1, 1)]) < vv(&[(1, 2)]));
        assert_eq!(vv(&[(1, 1)]).partial_cmp(&vv(&[(2, 1)])), None);
    }
}
