//! Dotted version vectors and the DVVSet: siblings without false conflicts.
//!
//! A plain version vector per value conflates "this node wrote twice" with
//! "two clients wrote through this node concurrently", so stores either lose
//! writes or grow siblings without bound. A *dot* names one write exactly
//! (node, counter); a [`DottedVersionVector`] is a dot plus the causal context
//! the writer had seen. A [`DvvSet`] stores all concurrent siblings of a key
//! under one compact clock, following the semantics of Riak's `dvvset`:
//! `new`, `sync`, `join`, `update`, `values`, `reconcile`, `lww`.

use core::cmp::Ordering;

use steadfast_core::NodeId;

use crate::version_vector::{Causality, VersionVector};

/// One event: the `counter`-th update coordinated by `node`.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::Dot;
///
/// let dot = Dot::new(NodeId::new(1), 3);
/// assert_eq!((dot.node, dot.counter), (NodeId::new(1), 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Dot {
    /// The node that coordinated the update.
    pub node: NodeId,
    /// Its sequence number at that node, from 1.
    pub counter: u64,
}

impl Dot {
    /// The dot `(node, counter)`.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::Dot;
    /// assert_eq!(Dot::new(NodeId::new(2), 1).counter, 1);
    /// ```
    #[must_use]
    pub const fn new(node: NodeId, counter: u64) -> Dot {
        Dot { node, counter }
    }
}

/// A dotted version vector: the dot of one write and the context it saw.
///
/// Its causal history is `context ∪ {dot}`; the dot may lie beyond the
/// context's contiguous range for its node, which is what lets a server tell
/// concurrent writes through the same node apart.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{Causality, DottedVersionVector, VersionVector};
///
/// let a = NodeId::new(1);
/// // Two clients read the empty context and both write through node a.
/// let first = DottedVersionVector::event(&VersionVector::new(), a, 0);
/// let second = DottedVersionVector::event(&VersionVector::new(), a, first.dot().counter);
/// assert_eq!(first.compare(&second), Causality::Concurrent);
/// // A client that read `first` writes again: it supersedes `first` only.
/// let third = DottedVersionVector::event(&first.join(), a, second.dot().counter);
/// assert_eq!(first.compare(&third), Causality::Before);
/// assert_eq!(second.compare(&third), Causality::Concurrent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DottedVersionVector {
    dot: Dot,
    context: VersionVector,
}

impl DottedVersionVector {
    /// A DVV from its parts, or `None` when the dot is already inside the
    /// context (counter 0, or at most `context.get(dot.node)`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{Dot, DottedVersionVector, VersionVector};
    /// let ctx: VersionVector = [(NodeId::new(1), 2)].into_iter().collect();
    /// assert!(DottedVersionVector::from_parts(Dot::new(NodeId::new(1), 2), ctx.clone()).is_none());
    /// assert!(DottedVersionVector::from_parts(Dot::new(NodeId::new(1), 4), ctx).is_some());
    /// ```
    #[must_use]
    pub fn from_parts(dot: Dot, context: VersionVector) -> Option<DottedVersionVector> {
        (dot.counter > context.get(dot.node)).then_some(DottedVersionVector { dot, context })
    }

    /// The DVV of a new write coordinated by `node`, whose client had seen
    /// `context`, when the highest counter `node` has issued so far is
    /// `node_max`. The dot's counter is `max(node_max, context[node]) + 1`.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DottedVersionVector, VersionVector};
    /// let d = DottedVersionVector::event(&VersionVector::new(), NodeId::new(1), 7);
    /// assert_eq!(d.dot().counter, 8);
    /// ```
    #[must_use]
    pub fn event(context: &VersionVector, node: NodeId, node_max: u64) -> DottedVersionVector {
        let counter = node_max.max(context.get(node)).saturating_add(1);
        DottedVersionVector {
            dot: Dot::new(node, counter),
            context: context.clone(),
        }
    }

    /// The write's dot.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DottedVersionVector, VersionVector};
    /// let d = DottedVersionVector::event(&VersionVector::new(), NodeId::new(3), 0);
    /// assert_eq!(d.dot().node, NodeId::new(3));
    /// ```
    #[must_use]
    pub fn dot(&self) -> Dot {
        self.dot
    }

    /// The causal context the writer had seen.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DottedVersionVector, VersionVector};
    /// let d = DottedVersionVector::event(&VersionVector::new(), NodeId::new(3), 0);
    /// assert!(d.context().is_empty());
    /// ```
    #[must_use]
    pub fn context(&self) -> &VersionVector {
        &self.context
    }

    /// True when `dot` is in this DVV's causal history.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{Dot, DottedVersionVector, VersionVector};
    /// let d = DottedVersionVector::event(&VersionVector::new(), NodeId::new(1), 4);
    /// assert!(d.contains(Dot::new(NodeId::new(1), 5)));
    /// assert!(!d.contains(Dot::new(NodeId::new(1), 4)));
    /// ```
    #[must_use]
    pub fn contains(&self, dot: Dot) -> bool {
        dot == self.dot || (dot.counter > 0 && dot.counter <= self.context.get(dot.node))
    }

    /// True when every event of `self` is in `other`'s history.
    fn included_in(&self, other: &DottedVersionVector) -> bool {
        if !other.contains(self.dot) {
            return false;
        }
        // Each context range 1..=k must fit in other's range, possibly
        // extended by other's dot when that dot is contiguous with it.
        self.context.iter().all(|(n, k)| {
            let base = other.context.get(n);
            k <= base || (other.dot.node == n && other.dot.counter == base + 1 && k == base + 1)
        })
    }

    /// How the causal histories of `self` and `other` relate.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{Causality, DottedVersionVector, VersionVector};
    /// let a = DottedVersionVector::event(&VersionVector::new(), NodeId::new(1), 0);
    /// assert_eq!(a.compare(&a), Causality::Equal);
    /// ```
    #[must_use]
    pub fn compare(&self, other: &DottedVersionVector) -> Causality {
        match (self.included_in(other), other.included_in(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (false, false) => Causality::Concurrent,
        }
    }

    /// The version vector covering the whole history (context plus dot).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DottedVersionVector, VersionVector};
    /// let d = DottedVersionVector::event(&VersionVector::new(), NodeId::new(1), 0);
    /// assert_eq!(d.join().get(NodeId::new(1)), 1);
    /// ```
    #[must_use]
    pub fn join(&self) -> VersionVector {
        let mut vv = self.context.clone();
        vv.observe(self.dot.node, self.dot.counter);
        vv
    }
}

/// One node's entry in a [`DvvSet`]: its counter and the values written
/// through it that are still live, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct NodeEntry<V> {
    node: NodeId,
    counter: u64,
    values: Vec<V>,
}

/// A dotted version vector set: all concurrent siblings of one key under
/// one compact clock (Riak's `dvvset`).
///
/// Each node entry holds a counter `n` and the live values written through
/// that node, newest first: the `i`-th value (from 0) has dot `n - i`.
/// Anonymous values (from [`DvvSet::new`]) carry no dot: they are the
/// client's new value before a server assigns one in [`DvvSet::update`].
///
/// # Examples
///
/// Two clients write concurrently through the same node: both values survive.
/// A client that read both and writes again replaces them.
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{DvvSet, VersionVector};
///
/// let a = NodeId::new(1);
/// let stored = DvvSet::new("v1").update_as(a);          // first write
/// let ctx = stored.join();                               // Peter reads v1
/// let stored = stored.update(&VersionVector::new(), "v2", a); // Mary writes blind
/// let stored = stored.update(&ctx, "v3", a);             // Peter writes over v1
/// assert_eq!(stored.values(), vec![&"v3", &"v2"]);      // v1 gone, v2 kept
///
/// let stored = stored.update(&stored.join(), "v4", a);   // a read of both resolves
/// assert_eq!(stored.values(), vec![&"v4"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DvvSet<V> {
    entries: Vec<NodeEntry<V>>,
    anonymous: Vec<V>,
}

impl<V> Default for DvvSet<V> {
    fn default() -> DvvSet<V> {
        DvvSet::empty()
    }
}

impl<V> DvvSet<V> {
    /// The set with no history and no values.
    ///
    /// ```
    /// # use steadfast_replica::DvvSet;
    /// assert_eq!(DvvSet::<u8>::empty().size(), 0);
    /// ```
    #[must_use]
    pub const fn empty() -> DvvSet<V> {
        DvvSet {
            entries: Vec::new(),
            anonymous: Vec::new(),
        }
    }

    /// A clock without causal history holding `value` as an anonymous value
    /// (Riak `new/1`).
    ///
    /// ```
    /// # use steadfast_replica::DvvSet;
    /// assert_eq!(DvvSet::new(5).values(), vec![&5]);
    /// ```
    #[must_use]
    pub fn new(value: V) -> DvvSet<V> {
        DvvSet {
            entries: Vec::new(),
            anonymous: vec![value],
        }
    }

    /// A clock with the history of `context` (normally from [`join`](Self::join))
    /// and `value` as an anonymous value (Riak `new/2`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DvvSet, VersionVector};
    /// let ctx: VersionVector = [(NodeId::new(1), 2)].into_iter().collect();
    /// let c = DvvSet::with_context(&ctx, "x");
    /// assert_eq!(c.join(), ctx);
    /// ```
    #[must_use]
    pub fn with_context(context: &VersionVector, value: V) -> DvvSet<V> {
        DvvSet {
            entries: context
                .iter()
                .map(|(node, counter)| NodeEntry {
                    node,
                    counter,
                    values: Vec::new(),
                })
                .collect(),
            anonymous: vec![value],
        }
    }

    /// The version vector of the whole causal history (Riak `join/1`): the
    /// context a client sends back with its next write.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::DvvSet;
    /// let c = DvvSet::new(1).update_as(NodeId::new(4));
    /// assert_eq!(c.join().get(NodeId::new(4)), 1);
    /// ```
    #[must_use]
    pub fn join(&self) -> VersionVector {
        self.entries.iter().map(|e| (e.node, e.counter)).collect()
    }

    /// Number of values, siblings and anonymous ones (Riak `size/1`).
    ///
    /// ```
    /// # use steadfast_replica::DvvSet;
    /// assert_eq!(DvvSet::new(1).size(), 1);
    /// ```
    #[must_use]
    pub fn size(&self) -> usize {
        self.entries.iter().map(|e| e.values.len()).sum::<usize>() + self.anonymous.len()
    }

    /// The nodes in the history, sorted (Riak `ids/1`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::DvvSet;
    /// let c = DvvSet::new(1).update_as(NodeId::new(4));
    /// assert_eq!(c.ids(), vec![NodeId::new(4)]);
    /// ```
    #[must_use]
    pub fn ids(&self) -> Vec<NodeId> {
        self.entries.iter().map(|e| e.node).collect()
    }

    /// Every live value: anonymous values first, then each node's values
    /// newest first (Riak `values/1`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DvvSet, VersionVector};
    /// let a = NodeId::new(1);
    /// let c = DvvSet::new(1).update_as(a).update(&VersionVector::new(), 2, a);
    /// assert_eq!(c.values(), vec![&2, &1]);
    /// ```
    #[must_use]
    pub fn values(&self) -> Vec<&V> {
        self.anonymous
            .iter()
            .chain(self.entries.iter().flat_map(|e| e.values.iter()))
            .collect()
    }

    /// The live values with the dot of each (`None` for anonymous values).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{Dot, DvvSet};
    /// let c = DvvSet::new("x").update_as(NodeId::new(1));
    /// assert_eq!(c.dotted_values(), vec![(Some(Dot::new(NodeId::new(1), 1)), &"x")]);
    /// ```
    #[must_use]
    pub fn dotted_values(&self) -> Vec<(Option<Dot>, &V)> {
        let mut out: Vec<(Option<Dot>, &V)> = self.anonymous.iter().map(|v| (None, v)).collect();
        for e in &self.entries {
            for (i, v) in e.values.iter().enumerate() {
                out.push((
                    Some(Dot::new(e.node, e.counter.saturating_sub(i as u64))),
                    v,
                ));
            }
        }
        out
    }

    /// True when both clocks have the same causal history, ignoring values
    /// (Riak `equal/2`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::DvvSet;
    /// let c = DvvSet::new(1).update_as(NodeId::new(1));
    /// assert!(c.equal(&DvvSet::new(9).update_as(NodeId::new(1))));
    /// ```
    #[must_use]
    pub fn equal(&self, other: &DvvSet<V>) -> bool {
        self.entries.len() == other.entries.len()
            && self.entries.iter().zip(&other.entries).all(|(a, b)| {
                a.node == b.node && a.counter == b.counter && a.values.len() == b.values.len()
            })
    }

    /// True when `self` is causally strictly older than `other`: its values
    /// are outdated (Riak `less/2`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::DvvSet;
    /// let a = NodeId::new(1);
    /// let old = DvvSet::new(1).update_as(a);
    /// let new = old.update(&old.join(), 2, a);
    /// assert!(old.less(&new) && !new.less(&old));
    /// ```
    #[must_use]
    pub fn less(&self, other: &DvvSet<V>) -> bool {
        greater(&other.entries, &self.entries)
    }

    /// Applies `f` to every value, keeping the clock (Riak `map/2`).
    ///
    /// ```
    /// # use steadfast_replica::DvvSet;
    /// assert_eq!(DvvSet::new(2).map(|v| v * 10).values(), vec![&20]);
    /// ```
    #[must_use]
    pub fn map<W>(self, mut f: impl FnMut(V) -> W) -> DvvSet<W> {
        DvvSet {
            entries: self
                .entries
                .into_iter()
                .map(|e| NodeEntry {
                    node: e.node,
                    counter: e.counter,
                    values: e.values.into_iter().map(&mut f).collect(),
                })
                .collect(),
            anonymous: self.anonymous.into_iter().map(f).collect(),
        }
    }

    /// Gives each anonymous value a dot from `node`: the server-side write
    /// of a clock made by [`new`](Self::new) or [`with_context`](Self::with_context)
    /// when the server has no stored clock (Riak `update/2`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::DvvSet;
    /// let c = DvvSet::new("v1").update_as(NodeId::new(1));
    /// assert_eq!(c.join().get(NodeId::new(1)), 1);
    /// ```
    #[must_use]
    pub fn update_as(mut self, node: NodeId) -> DvvSet<V> {
        let values = core::mem::take(&mut self.anonymous);
        for v in values {
            event(&mut self.entries, node, v);
        }
        self
    }

    /// Stores a client's write: `value`, written with the causal `context`
    /// the client had read, coordinated by `node`, against the server's
    /// stored clock `self` (Riak `update(new(context, value), self, node)`).
    ///
    /// Values the context covers are discarded; concurrent ones stay as
    /// siblings; the new value gets the next dot of `node`. The result is
    /// causally newer than both the stored clock and the context.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DvvSet, VersionVector};
    /// let a = NodeId::new(1);
    /// let c = DvvSet::new(1).update_as(a);
    /// let blind = c.update(&VersionVector::new(), 2, a);
    /// assert_eq!(blind.size(), 2);
    /// let informed = c.update(&c.join(), 3, a);
    /// assert_eq!(informed.values(), vec![&3]);
    /// ```
    #[must_use]
    pub fn update(&self, context: &VersionVector, value: V, node: NodeId) -> DvvSet<V>
    where
        V: Clone + PartialEq,
    {
        let client: DvvSet<V> = DvvSet {
            entries: context
                .iter()
                .map(|(node, counter)| NodeEntry {
                    node,
                    counter,
                    values: Vec::new(),
                })
                .collect(),
            anonymous: Vec::new(),
        };
        let mut synced = client.sync(self);
        event(&mut synced.entries, node, value);
        synced
    }

    /// Merges two clocks, discarding causally outdated values and keeping
    /// concurrent ones (Riak `sync/2`). Commutative, associative and
    /// idempotent (anonymous values compare as a set).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DvvSet, VersionVector};
    /// let a = DvvSet::new("x").update_as(NodeId::new(1));
    /// let b = DvvSet::new("y").update_as(NodeId::new(2));
    /// let both = a.sync(&b);
    /// assert_eq!(both.values(), vec![&"x", &"y"]);
    /// assert_eq!(both.sync(&a), both);
    /// ```
    #[must_use]
    pub fn sync(&self, other: &DvvSet<V>) -> DvvSet<V>
    where
        V: Clone + PartialEq,
    {
        let anonymous = if self.less(other) {
            other.anonymous.clone()
        } else if other.less(self) {
            self.anonymous.clone()
        } else {
            let mut all = self.anonymous.clone();
            for v in &other.anonymous {
                if !all.contains(v) {
                    all.push(v.clone());
                }
            }
            all
        };
        let (a, b) = (&self.entries, &other.entries);
        let mut entries = Vec::with_capacity(a.len().max(b.len()));
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].node.cmp(&b[j].node) {
                Ordering::Less => {
                    entries.push(a[i].clone());
                    i += 1;
                }
                Ordering::Greater => {
                    entries.push(b[j].clone());
                    j += 1;
                }
                Ordering::Equal => {
                    entries.push(merge_entry(&a[i], &b[j]));
                    i += 1;
                    j += 1;
                }
            }
        }
        entries.extend(a[i..].iter().cloned());
        entries.extend(b[j..].iter().cloned());
        DvvSet { entries, anonymous }
    }

    /// A clock with the same history and one anonymous value: `merge` of all
    /// the values (Riak `reconcile/2`). Store it with [`update`](Self::update)
    /// or [`update_as`](Self::update_as) to give it a dot.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DvvSet, VersionVector};
    /// let a = NodeId::new(1);
    /// let c = DvvSet::new(1).update_as(a).update(&VersionVector::new(), 2, a);
    /// let r = c.reconcile(|vs| vs.into_iter().copied().sum::<i32>());
    /// assert_eq!(r.values(), vec![&3]);
    /// assert_eq!(r.join(), c.join());
    /// ```
    #[must_use]
    pub fn reconcile<W>(&self, merge: impl FnOnce(Vec<&V>) -> W) -> DvvSet<W> {
        let value = merge(self.values());
        DvvSet::with_context(&self.join(), value)
    }

    /// The newest value according to `less_or_equal(a, b)` ("a is not newer
    /// than b"); `None` for an empty set (Riak `last/2`).
    ///
    /// As in Riak, the candidates are the anonymous values and the newest
    /// value of each node's entry: a value superseded within its own entry
    /// never wins, which keeps [`lww`](Self::lww) results consistent with
    /// [`sync`](Self::sync).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DvvSet, VersionVector};
    /// let (a, b) = (NodeId::new(1), NodeId::new(2));
    /// let c = DvvSet::new(5).update_as(a).update(&VersionVector::new(), 2, b);
    /// assert_eq!(c.last(|x, y| x <= y), Some(&5));
    /// ```
    #[must_use]
    pub fn last(&self, less_or_equal: impl FnMut(&V, &V) -> bool) -> Option<&V> {
        self.find_newest(less_or_equal).map(|(_, v)| v)
    }

    /// Keeps only the newest value (by `less_or_equal`), in its original
    /// place, with the same history (Riak `lww/2`).
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{DvvSet, VersionVector};
    /// let (a, b) = (NodeId::new(1), NodeId::new(2));
    /// let c = DvvSet::new(5).update_as(a).update(&VersionVector::new(), 2, b);
    /// let w = c.lww(|x, y| x <= y);
    /// assert_eq!(w.values(), vec![&5]);
    /// assert_eq!(w.join(), c.join());
    /// ```
    #[must_use]
    pub fn lww(&self, less_or_equal: impl FnMut(&V, &V) -> bool) -> DvvSet<V>
    where
        V: Clone,
    {
        match self.find_newest(less_or_equal) {
            None => DvvSet {
                entries: self
                    .entries
                    .iter()
                    .map(|e| NodeEntry {
                        node: e.node,
                        counter: e.counter,
                        values: Vec::new(),
                    })
                    .collect(),
                anonymous: Vec::new(),
            },
            Some((None, v)) => DvvSet::with_context(&self.join(), v.clone()),
            Some((Some(winner), v)) => DvvSet {
                entries: self
                    .entries
                    .iter()
                    .map(|e| NodeEntry {
                        node: e.node,
                        counter: e.counter,
                        values: if e.node == winner {
                            vec![v.clone()]
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
                anonymous: Vec::new(),
            },
        }
    }

    /// The newest value and the node whose entry holds it (`None` for an
    /// anonymous value). Riak compares the head of each entry, and the
    /// anonymous values, and on ties keeps the later candidate.
    fn find_newest(
        &self,
        mut less_or_equal: impl FnMut(&V, &V) -> bool,
    ) -> Option<(Option<NodeId>, &V)> {
        let mut best: Option<(Option<NodeId>, &V)> = None;
        let candidates = self
            .entries
            .iter()
            .filter_map(|e| e.values.first().map(|v| (Some(e.node), v)))
            .chain(self.anonymous.iter().map(|v| (None, v)));
        for (owner, v) in candidates {
            best = match best {
                None => Some((owner, v)),
                Some((bo, bv)) => {
                    if less_or_equal(bv, v) {
                        Some((owner, v))
                    } else {
                        Some((bo, bv))
                    }
                }
            };
        }
        best
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for DottedVersionVector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DottedVersionVector, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            dot: Dot,
            context: VersionVector,
        }
        let raw = Raw::deserialize(d)?;
        DottedVersionVector::from_parts(raw.dot, raw.context)
            .ok_or_else(|| serde::de::Error::custom("dot inside its own context"))
    }
}

/// Deserialization checks what the operations rely on: entries sorted by
/// strictly increasing node, counters at least 1, no more live values than
/// the counter.
#[cfg(feature = "serde")]
impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for DvvSet<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DvvSet<V>, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(bound = "V: serde::Deserialize<'de>")]
        struct Raw<V> {
            entries: Vec<NodeEntry<V>>,
            anonymous: Vec<V>,
        }
        let raw = Raw::<V>::deserialize(d)?;
        let sorted = raw.entries.windows(2).all(|w| w[0].node < w[1].node);
        let counted = raw
            .entries
            .iter()
            .all(|e| e.counter >= 1 && e.values.len() as u64 <= e.counter);
        if !sorted || !counted {
            return Err(serde::de::Error::custom(
                "dvvset entries must be sorted by node with counters covering their values",
            ));
        }
        Ok(DvvSet {
            entries: raw.entries,
            anonymous: raw.anonymous,
        })
    }
}

/// True when `a` is causally strictly greater than `b` (Riak `greater/3`).
fn greater<V>(a: &[NodeEntry<V>], b: &[NodeEntry<V>]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut strict = false;
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => return strict,
            (Some(_), None) => return true,
            (None, Some(_)) => return false,
            (Some(x), Some(y)) => match x.node.cmp(&y.node) {
                Ordering::Equal => {
                    match x.counter.cmp(&y.counter) {
                        Ordering::Less => return false,
                        Ordering::Greater => strict = true,
                        Ordering::Equal => {}
                    }
                    i += 1;
                    j += 1;
                }
                // A node only `a` has: `a` is ahead there.
                Ordering::Less => {
                    strict = true;
                    i += 1;
                }
                // A node only `b` has: `a` cannot be greater.
                Ordering::Greater => return false,
            },
        }
    }
}

/// Merges one node's entries: the larger counter wins, keeping those of its
/// values whose dots the other side has not already superseded (Riak `merge/5`).
fn merge_entry<V: Clone>(x: &NodeEntry<V>, y: &NodeEntry<V>) -> NodeEntry<V> {
    let (hi, lo) = if x.counter >= y.counter {
        (x, y)
    } else {
        (y, x)
    };
    let (hi_len, lo_len) = (hi.values.len() as u64, lo.values.len() as u64);
    // `hi` covers dots up to hi.counter; its values are dots
    // (hi.counter - hi_len, hi.counter]. `lo` has seen every dot up to
    // lo.counter except its own live ones, so hi's values older than
    // lo.counter - lo_len were removed on lo's side.
    let keep = if hi.counter.saturating_sub(hi_len) >= lo.counter.saturating_sub(lo_len) {
        hi.values.len()
    } else {
        usize::try_from((hi.counter - lo.counter).saturating_add(lo_len)).unwrap_or(usize::MAX)
    };
    NodeEntry {
        node: hi.node,
        counter: hi.counter,
        values: hi.values.iter().take(keep).cloned().collect(),
    }
}

/// Adds `value` as the next dot of `node` (Riak `event/3`).
fn event<V>(entries: &mut Vec<NodeEntry<V>>, node: NodeId, value: V) {
    match entries.binary_search_by_key(&node, |e| e.node) {
        Ok(i) => {
            let e = &mut entries[i];
            e.counter = e.counter.saturating_add(1);
            e.values.insert(0, value);
        }
        Err(i) => entries.insert(
            i,
            NodeEntry {
                node,
                counter: 1,
                values: vec![value],
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(x: u64) -> NodeId {
        NodeId::new(x)
    }

    fn set(entries: &[(u64, u64, &[&'static str])], anon: &[&'static str]) -> DvvSet<&'static str> {
        DvvSet {
            entries: entries
                .iter()
                .map(|&(node, counter, values)| NodeEntry {
                    node: n(node),
                    counter,
                    values: values.to_vec(),
                })
                .collect(),
            anonymous: anon.to_vec(),
        }
    }

    // The cases below follow the unit tests published with Riak's dvvset.
    #[test]
    fn update_cases() {
        let a0 = DvvSet::new("v1").update_as(n(1));
        let a1 = a0.update(&a0.join(), "v2", n(1));
        let a2 = a1.update(&a1.join(), "v3", n(2));
        let a3 = a1.update(&a0.join(), "v4", n(2));
        let a4 = a1.update(&a0.join(), "v5", n(1));
        assert_eq!(a0, set(&[(1, 1, &["v1"])], &[]));
        assert_eq!(a1, set(&[(1, 2, &["v2"])], &[]));
        assert_eq!(a2, set(&[(1, 2, &[]), (2, 1, &["v3"])], &[]));
        assert_eq!(a3, set(&[(1, 2, &["v2"]), (2, 1, &["v4"])], &[]));
        assert_eq!(a4, set(&[(1, 3, &["v5", "v2"])], &[]));
    }

    #[test]
    fn sync_cases() {
        let x = set(&[(24, 1, &[])], &[]);
        let a = DvvSet::new("v1").update_as(n(1));
        let y = DvvSet::new("v2").update_as(n(2));
        let a1 = DvvSet::with_context(&a.join(), "v2").update_as(n(1));
        let a3 = DvvSet::with_context(&a1.join(), "v3").update_as(n(2));
        let a4 = DvvSet::with_context(&a1.join(), "v3").update_as(n(3));
        let w = set(&[(1, 1, &[])], &[]);
        let z = set(&[(1, 2, &["v2", "v1"])], &[]);
        assert_eq!(w.sync(&z), set(&[(1, 2, &["v2"])], &[]));
        assert_eq!(w.sync(&z), z.sync(&w));
        assert_eq!(a.sync(&a1), a1.sync(&a));
        assert_eq!(a4.sync(&a3), a3.sync(&a4));
        assert_eq!(
            a4.sync(&a3),
            set(&[(1, 2, &[]), (2, 1, &["v3"]), (3, 1, &["v3"])], &[])
        );
        assert_eq!(x.sync(&a), set(&[(1, 1, &["v1"]), (24, 1, &[])], &[]));
        assert_eq!(a.sync(&y), set(&[(1, 1, &["v1"]), (2, 1, &["v2"])], &[]));
        let newest = a4.lww(|l, r| l > r);
        assert_eq!(newest, a4.sync(&newest));
    }

    #[test]
    fn sync_update_keeps_only_concurrent() {
        let a0 = DvvSet::new("v1").update_as(n(1));
        let vv1 = a0.join();
        let a1 = a0.update(&VersionVector::new(), "v2", n(1));
        let a2 = a1.update(&vv1, "v3", n(1));
        assert_eq!(a1, set(&[(1, 2, &["v2", "v1"])], &[]));
        assert_eq!(a2, set(&[(1, 3, &["v3", "v2"])], &[]));
    }

    #[test]
    fn lww_last_and_reconcile_cases() {
        let le = |a: &u32, b: &u32| a <= b;
        let x: DvvSet<u32> = DvvSet {
            entries: vec![
                NodeEntry {
                    node: n(1),
                    counter: 4,
                    values: vec![5, 2],
                },
                NodeEntry {
                    node: n(2),
                    counter: 1,
                    values: vec![],
                },
                NodeEntry {
                    node: n(3),
                    counter: 1,
                    values: vec![3],
                },
            ],
            anonymous: vec![],
        };
        let mut y = x.clone();
        y.anonymous = vec![10, 0];
        assert_eq!(x.last(le), Some(&5));
        assert_eq!(y.last(le), Some(&10));
        let lx = x.lww(le);
        assert_eq!(lx.values(), vec![&5]);
        assert_eq!(lx.entries[0].values, vec![5]);
        let ly = y.lww(le);
        assert_eq!(ly.anonymous, vec![10]);
        assert!(ly.entries.iter().all(|e| e.values.is_empty()));
        assert_eq!(
            x.reconcile(|v| v.into_iter().sum::<u32>()).anonymous,
            vec![10]
        );
        assert_eq!(
            y.reconcile(|v| v.into_iter().sum::<u32>()).anonymous,
            vec![20]
        );
        assert_eq!(DvvSet::<u32>::empty().last(le), None);
    }

    #[test]
    fn less_and_equal() {
        let a = DvvSet::new(1).update_as(n(1));
        let b = a.update(&a.join(), 2, n(1));
        assert!(a.less(&b));
        assert!(!a.less(&a));
        assert!(a.equal(&a.clone().map(|v| v + 1)));
        assert!(!a.equal(&b));
    }

    #[test]
    fn dvv_compare_extends_context_with_contiguous_dot() {
        let a1 = DottedVersionVector::event(&VersionVector::new(), n(1), 0);
        let a2 = DottedVersionVector::event(&a1.join(), n(1), 1);
        assert_eq!(a1.compare(&a2), Causality::Before);
        assert_eq!(a2.compare(&a1), Causality::After);
        assert!(DottedVersionVector::from_parts(Dot::new(n(1), 0), VersionVector::new()).is_none());
    }
}
