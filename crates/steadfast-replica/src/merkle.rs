//! Merkle anti-entropy over a hashed key space.
//!
//! Each key is placed by a 64-bit token (a hash of the key) in one of
//! `2^depth` leaves that split the token space into equal ranges; Cassandra
//! uses depth 15 (32 768 leaves). A leaf's hash is the wrapping sum of its
//! keys' item hashes, so adding, removing or changing one key is
//! order-independent and costs O(depth): the leaf changes by a difference and
//! only the path to the root is rehashed. Two replicas compare roots, descend
//! where hashes differ, and end with the token ranges to repair.
//!
//! The exchange runs in rounds over checksummed frames ([`MerkleDigest`] out,
//! [`MerkleMismatch`] back), so its reported byte counts are the real ones.

use core::fmt;

use steadfast_core::ConfigError;

use crate::frame::{DecodeError, FrameCodec, FrameKind, Reader, put_varint};

/// A stable, fast, non-cryptographic 64-bit hash of `bytes`, for key
/// tokens and value hashes. Stable across platforms, versions and processes
/// (unlike `std`'s `DefaultHasher`), so replicas agree on it.
///
/// ```
/// use steadfast_replica::hash64;
/// assert_eq!(hash64(b"key-1"), hash64(b"key-1"));
/// assert_ne!(hash64(b"key-1"), hash64(b"key-2"));
/// ```
#[must_use]
pub fn hash64(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K) ^ 0x2545_F491_4F6C_DD1D;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        h = mix64(h ^ u64::from_le_bytes(b)).wrapping_add(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = mix64(h ^ u64::from_le_bytes(b) ^ (rest.len() as u64) << 59);
    }
    mix64(h)
}

/// The splitmix64 finaliser: every input bit affects every output bit.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hash one key contributes to its leaf.
const fn item_hash(token: u64, value_hash: u64) -> u64 {
    mix64(token.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ mix64(value_hash))
}

/// The hash of an inner node from its children; not symmetric, so swapped
/// subtrees differ.
const fn combine(left: u64, right: u64) -> u64 {
    mix64(left ^ mix64(right ^ 0xA076_1D64_78BD_642F))
}

/// An inclusive range of tokens `start..=end`.
///
/// # Examples
///
/// ```
/// use steadfast_replica::TokenRange;
/// let r = TokenRange { start: 10, end: 20 };
/// assert!(r.contains(20) && !r.contains(21));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TokenRange {
    /// First token in the range.
    pub start: u64,
    /// Last token in the range (inclusive).
    pub end: u64,
}

impl TokenRange {
    /// True when `token` lies in the range.
    ///
    /// ```
    /// # use steadfast_replica::TokenRange;
    /// assert!(TokenRange { start: 0, end: u64::MAX }.contains(7));
    /// ```
    #[must_use]
    pub const fn contains(&self, token: u64) -> bool {
        self.start <= token && token <= self.end
    }
}

impl fmt::Display for TokenRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#018x}, {:#018x}]", self.start, self.end)
    }
}

/// Why a Merkle operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// The two trees (or a tree and a digest) have different depths.
    #[error("merkle depth mismatch: local {local}, remote {remote}")]
    DepthMismatch {
        /// Local depth.
        local: u8,
        /// Remote depth.
        remote: u8,
    },
    /// A digest or mismatch names nodes that cannot exist.
    #[error("invalid merkle message: {0}")]
    Invalid(&'static str),
    /// A reply that does not answer the request sent.
    #[error("merkle reply does not answer the last request")]
    UnexpectedReply,
    /// Bytes that do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A Merkle tree over the 64-bit token space with `2^depth` leaves.
///
/// # Examples
///
/// ```
/// use steadfast_replica::{MerkleTree, hash64};
///
/// let mut a = MerkleTree::new(10)?;
/// let mut b = MerkleTree::new(10)?;
/// for k in 0..1_000u64 {
///     let token = hash64(&k.to_le_bytes());
///     a.insert(token, k);
///     b.insert(token, k);
/// }
/// assert_eq!(a.root(), b.root());
///
/// let changed = hash64(&42u64.to_le_bytes());
/// b.update(changed, 42, 4242); // O(depth)
/// let ranges = a.diff(&b)?;
/// assert_eq!(ranges.len(), 1);
/// assert!(ranges[0].contains(changed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "MerkleTreeRepr", into = "MerkleTreeRepr")
)]
pub struct MerkleTree {
    depth: u8,
    /// Heap layout: root at 1, children of `i` at `2i` and `2i + 1`, leaves
    /// at `2^depth..2^(depth + 1)`; index 0 unused.
    nodes: Vec<u64>,
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct MerkleTreeRepr {
    depth: u8,
    leaves: Vec<u64>,
}

#[cfg(feature = "serde")]
impl From<MerkleTree> for MerkleTreeRepr {
    fn from(t: MerkleTree) -> MerkleTreeRepr {
        MerkleTreeRepr {
            depth: t.depth,
            leaves: t.nodes[1 << t.depth..].to_vec(),
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<MerkleTreeRepr> for MerkleTree {
    type Error = MerkleError;

    fn try_from(r: MerkleTreeRepr) -> Result<MerkleTree, MerkleError> {
        let mut t = MerkleTree::new(r.depth).map_err(|_| MerkleError::Invalid("depth"))?;
        if r.leaves.len() != 1 << r.depth {
            return Err(MerkleError::Invalid("leaf count is not 2^depth"));
        }
        t.nodes[1 << r.depth..].copy_from_slice(&r.leaves);
        t.rehash_all();
        Ok(t)
    }
}

impl fmt::Debug for MerkleTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerkleTree")
            .field("depth", &self.depth)
            .field("root", &format_args!("{:#018x}", self.root()))
            .finish()
    }
}

impl MerkleTree {
    /// Cassandra's default depth.
    pub const DEFAULT_DEPTH: u8 = 15;
    /// The largest depth accepted (2^20 leaves, 16 MiB of hashes).
    pub const MAX_DEPTH: u8 = 20;

    /// An empty tree with `2^depth` leaves.
    ///
    /// # Errors
    ///
    /// `merkle.depth` outside `1..=20`.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// assert_eq!(MerkleTree::new(15).unwrap().leaf_count(), 32_768);
    /// assert_eq!(
    ///     MerkleTree::new(0).unwrap_err().to_string(),
    ///     "merkle.depth must be in 1..=20, got 0"
    /// );
    /// ```
    pub fn new(depth: u8) -> Result<MerkleTree, ConfigError> {
        ConfigError::ensure(
            (1..=MerkleTree::MAX_DEPTH).contains(&depth),
            "merkle.depth",
            depth,
            "in 1..=20",
        )?;
        let mut t = MerkleTree {
            depth,
            nodes: vec![0; 2 << depth],
        };
        t.rehash_all();
        Ok(t)
    }

    /// A tree of `depth` over `(token, value_hash)` items, built in one pass
    /// (O(items + 2^depth)).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let built = MerkleTree::build(8, [(1u64 << 60, 7u64), (5, 9)])?;
    /// let mut incremental = MerkleTree::new(8)?;
    /// incremental.insert(5, 9);
    /// incremental.insert(1 << 60, 7);
    /// assert_eq!(built, incremental);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn build(
        depth: u8,
        items: impl IntoIterator<Item = (u64, u64)>,
    ) -> Result<MerkleTree, ConfigError> {
        let mut t = MerkleTree::new(depth)?;
        let first_leaf = 1usize << depth;
        let shift = 64 - u32::from(depth);
        for (token, value_hash) in items {
            let leaf = first_leaf + (token >> shift) as usize;
            t.nodes[leaf] = t.nodes[leaf].wrapping_add(item_hash(token, value_hash));
        }
        t.rehash_all();
        Ok(t)
    }

    fn rehash_all(&mut self) {
        for i in (1..1usize << self.depth).rev() {
            self.nodes[i] = combine(self.nodes[2 * i], self.nodes[2 * i + 1]);
        }
    }

    /// The depth.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// assert_eq!(MerkleTree::new(3).unwrap().depth(), 3);
    /// ```
    #[must_use]
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// Number of leaves, `2^depth`.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// assert_eq!(MerkleTree::new(3).unwrap().leaf_count(), 8);
    /// ```
    #[must_use]
    pub fn leaf_count(&self) -> usize {
        1 << self.depth
    }

    /// The root hash.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// assert_eq!(MerkleTree::new(4).unwrap().root(), MerkleTree::new(4).unwrap().root());
    /// ```
    #[must_use]
    pub fn root(&self) -> u64 {
        self.nodes[1]
    }

    /// The leaf holding `token`.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let t = MerkleTree::new(2).unwrap();
    /// assert_eq!(t.leaf_of(u64::MAX), 3);
    /// assert_eq!(t.leaf_of(0), 0);
    /// ```
    #[must_use]
    pub fn leaf_of(&self, token: u64) -> usize {
        (token >> (64 - u32::from(self.depth))) as usize
    }

    /// The token range of leaf `leaf` (from 0); leaves past the end are
    /// clamped to the last one.
    ///
    /// ```
    /// # use steadfast_replica::{MerkleTree, TokenRange};
    /// let t = MerkleTree::new(1).unwrap();
    /// assert_eq!(t.leaf_range(1), TokenRange { start: 1 << 63, end: u64::MAX });
    /// ```
    #[must_use]
    pub fn leaf_range(&self, leaf: usize) -> TokenRange {
        let leaf = (leaf as u64).min((1 << self.depth) - 1);
        let shift = 64 - u32::from(self.depth);
        let start = leaf << shift;
        TokenRange {
            start,
            end: start | ((1u64 << shift) - 1),
        }
    }

    fn apply(&mut self, token: u64, delta: u64, add: bool) {
        let mut i = (1usize << self.depth) + self.leaf_of(token);
        self.nodes[i] = if add {
            self.nodes[i].wrapping_add(delta)
        } else {
            self.nodes[i].wrapping_sub(delta)
        };
        while i > 1 {
            i /= 2;
            self.nodes[i] = combine(self.nodes[2 * i], self.nodes[2 * i + 1]);
        }
    }

    /// Adds a key (its `token`) holding a value with hash `value_hash`, in
    /// O(depth). Order of insertions does not matter.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let mut a = MerkleTree::new(6).unwrap();
    /// let mut b = MerkleTree::new(6).unwrap();
    /// a.insert(1, 10); a.insert(2, 20);
    /// b.insert(2, 20); b.insert(1, 10);
    /// assert_eq!(a.root(), b.root());
    /// ```
    pub fn insert(&mut self, token: u64, value_hash: u64) {
        self.apply(token, item_hash(token, value_hash), true);
    }

    /// Removes a key previously inserted with the same `value_hash`, in
    /// O(depth).
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let mut t = MerkleTree::new(6).unwrap();
    /// let empty = t.root();
    /// t.insert(99, 1);
    /// t.remove(99, 1);
    /// assert_eq!(t.root(), empty);
    /// ```
    pub fn remove(&mut self, token: u64, value_hash: u64) {
        self.apply(token, item_hash(token, value_hash), false);
    }

    /// Changes the value hash of a key from `old` to `new`, in O(depth).
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let mut t = MerkleTree::new(6).unwrap();
    /// t.insert(99, 1);
    /// t.update(99, 1, 2);
    /// assert_eq!(t, MerkleTree::build(6, [(99, 2)]).unwrap());
    /// ```
    pub fn update(&mut self, token: u64, old: u64, new: u64) {
        let delta = item_hash(token, new).wrapping_sub(item_hash(token, old));
        self.apply(token, delta, true);
    }

    /// The hash of node `index` (from 0) at `level` (0 = root).
    fn node(&self, level: u8, index: u64) -> u64 {
        self.nodes[(1usize << level) + index as usize]
    }

    /// The token ranges where `self` and `other` differ, adjacent leaves
    /// merged, in token order.
    ///
    /// # Errors
    ///
    /// [`MerkleError::DepthMismatch`] for trees of different depths.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let a = MerkleTree::build(4, [(1, 1)]).unwrap();
    /// assert!(a.diff(&a).unwrap().is_empty());
    /// assert!(a.diff(&MerkleTree::new(5).unwrap()).is_err());
    /// ```
    pub fn diff(&self, other: &MerkleTree) -> Result<Vec<TokenRange>, MerkleError> {
        if self.depth != other.depth {
            return Err(MerkleError::DepthMismatch {
                local: self.depth,
                remote: other.depth,
            });
        }
        let mut leaves = Vec::new();
        let mut stack = vec![1usize];
        let first_leaf = 1usize << self.depth;
        while let Some(i) = stack.pop() {
            if self.nodes[i] == other.nodes[i] {
                continue;
            }
            if i >= first_leaf {
                leaves.push((i - first_leaf) as u64);
            } else {
                // Right first so the left subtree pops first: leaves come out sorted.
                stack.push(2 * i + 1);
                stack.push(2 * i);
            }
        }
        Ok(self.ranges_of(&leaves))
    }

    /// Merges sorted leaf indices into token ranges.
    fn ranges_of(&self, leaves: &[u64]) -> Vec<TokenRange> {
        let mut out: Vec<TokenRange> = Vec::new();
        let mut last_leaf: Option<u64> = None;
        for &leaf in leaves {
            let r = self.leaf_range(leaf as usize);
            match (out.last_mut(), last_leaf) {
                (Some(prev), Some(l)) if l + 1 == leaf => prev.end = r.end,
                _ => out.push(r),
            }
            last_leaf = Some(leaf);
        }
        out
    }

    /// This tree's hashes of the nodes `indices` at `level`.
    ///
    /// # Errors
    ///
    /// [`MerkleError::Invalid`] for a level deeper than the tree or an index
    /// outside the level.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let t = MerkleTree::new(4).unwrap();
    /// let d = t.digest(1, vec![0, 1]).unwrap();
    /// assert_eq!(d.nodes().len(), 2);
    /// ```
    pub fn digest(&self, level: u8, indices: Vec<u64>) -> Result<MerkleDigest, MerkleError> {
        if level > self.depth {
            return Err(MerkleError::Invalid("level deeper than the tree"));
        }
        if !indices.windows(2).all(|w| w[0] < w[1]) {
            return Err(MerkleError::Invalid("indices not strictly increasing"));
        }
        if indices.last().is_some_and(|&i| i >= 1 << level) {
            return Err(MerkleError::Invalid("index outside the level"));
        }
        let nodes = indices
            .into_iter()
            .map(|i| (i, self.node(level, i)))
            .collect();
        Ok(MerkleDigest {
            depth: self.depth,
            level,
            nodes,
        })
    }

    /// Which nodes of `digest` hash differently here.
    ///
    /// # Errors
    ///
    /// [`MerkleError::DepthMismatch`] or [`MerkleError::Invalid`] when the
    /// digest does not fit this tree.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let a = MerkleTree::build(3, [(1, 1)]).unwrap();
    /// let b = MerkleTree::new(3).unwrap();
    /// let m = b.compare(&a.digest(0, vec![0]).unwrap()).unwrap();
    /// assert_eq!(m.indices(), &[0]);
    /// ```
    pub fn compare(&self, digest: &MerkleDigest) -> Result<MerkleMismatch, MerkleError> {
        if digest.depth != self.depth {
            return Err(MerkleError::DepthMismatch {
                local: self.depth,
                remote: digest.depth,
            });
        }
        let indices = digest
            .nodes
            .iter()
            .filter(|&&(i, h)| self.node(digest.level, i) != h)
            .map(|&(i, _)| i)
            .collect();
        Ok(MerkleMismatch {
            level: digest.level,
            indices,
        })
    }

    /// Answers a [`MerkleDigest`] frame with a [`MerkleMismatch`] frame: the
    /// responder's side of an exchange.
    ///
    /// # Errors
    ///
    /// A [`MerkleError`] when the request does not decode or fit this tree.
    ///
    /// ```
    /// # use steadfast_replica::{FrameCodec, MerkleMismatch, MerkleTree};
    /// let t = MerkleTree::new(3).unwrap();
    /// let request = t.digest(0, vec![0]).unwrap().to_frame();
    /// let reply = MerkleMismatch::from_frame(&t.respond(&request).unwrap()).unwrap();
    /// assert!(reply.indices().is_empty());
    /// ```
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>, MerkleError> {
        let digest = MerkleDigest::from_frame(request)?;
        Ok(self.compare(&digest)?.to_frame())
    }

    /// Runs a whole exchange against `remote` in memory, through the same
    /// frames a network exchange would send, descending `levels_per_round`
    /// levels per round (clamped to `1..=depth`).
    ///
    /// # Errors
    ///
    /// [`MerkleError::DepthMismatch`] for trees of different depths.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let a = MerkleTree::build(15, (0..1000u64).map(|k| (k << 40, k))).unwrap();
    /// let mut b = a.clone();
    /// b.update(7 << 40, 7, 8);
    /// let report = a.exchange(&b, 3).unwrap();
    /// assert_eq!(report.ranges().len(), 1);
    /// assert!(report.ranges()[0].contains(7 << 40));
    /// assert_eq!(report.rounds().len(), 6); // root, then levels 3, 6, 9, 12, 15
    /// assert!(report.total_bytes() < 1_000);
    /// ```
    pub fn exchange(
        &self,
        remote: &MerkleTree,
        levels_per_round: u8,
    ) -> Result<ExchangeReport, MerkleError> {
        if self.depth != remote.depth {
            return Err(MerkleError::DepthMismatch {
                local: self.depth,
                remote: remote.depth,
            });
        }
        let mut exchange = MerkleExchange::new(self, levels_per_round);
        let mut request = exchange.start();
        loop {
            let reply = remote.respond(&request)?;
            match exchange.on_reply(&reply)? {
                ExchangeStep::Send(next) => request = next,
                ExchangeStep::Done => return Ok(exchange.into_report()),
            }
        }
    }
}

/// Hashes of some nodes of one tree level, sent by the initiator of an exchange.
///
/// # Examples
///
/// ```
/// use steadfast_replica::{FrameCodec, MerkleDigest, MerkleTree};
///
/// let d = MerkleTree::new(4)?.digest(2, vec![1, 3])?;
/// assert_eq!(MerkleDigest::from_frame(&d.to_frame())?, d);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MerkleDigest {
    depth: u8,
    level: u8,
    nodes: Vec<(u64, u64)>,
}

impl MerkleDigest {
    /// Depth of the tree it was taken from.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// assert_eq!(MerkleTree::new(4).unwrap().digest(0, vec![0]).unwrap().depth(), 4);
    /// ```
    #[must_use]
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The level of the nodes (0 = root).
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// assert_eq!(MerkleTree::new(4).unwrap().digest(2, vec![0]).unwrap().level(), 2);
    /// ```
    #[must_use]
    pub fn level(&self) -> u8 {
        self.level
    }

    /// `(index within the level, hash)` pairs, by increasing index.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let d = MerkleTree::new(4).unwrap().digest(1, vec![1]).unwrap();
    /// assert_eq!(d.nodes()[0].0, 1);
    /// ```
    #[must_use]
    pub fn nodes(&self) -> &[(u64, u64)] {
        &self.nodes
    }
}

/// Payload: depth, level (bytes), count, then per node the index gap
/// (varint) and the hash (8 bytes little-endian).
impl FrameCodec for MerkleDigest {
    const KIND: FrameKind = FrameKind::MerkleDigest;

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.push(self.depth);
        out.push(self.level);
        put_varint(out, self.nodes.len() as u64);
        let mut prev = 0;
        for (k, &(i, h)) in self.nodes.iter().enumerate() {
            put_varint(out, if k == 0 { i } else { i - prev });
            out.extend_from_slice(&h.to_le_bytes());
            prev = i;
        }
    }

    fn decode_payload(payload: &[u8]) -> Result<MerkleDigest, DecodeError> {
        let mut r = Reader::new(payload);
        let depth = r.u8()?;
        let level = r.u8()?;
        if !(1..=MerkleTree::MAX_DEPTH).contains(&depth) || level > depth {
            return Err(DecodeError::Malformed("merkle depth or level out of range"));
        }
        let indices = read_indices(&mut r, level, 9, true)?;
        let mut nodes = Vec::with_capacity(indices.len());
        for (i, h) in indices {
            nodes.push((i, h.unwrap_or(0)));
        }
        r.finish()?;
        Ok(MerkleDigest {
            depth,
            level,
            nodes,
        })
    }
}

/// Reads `count` strictly increasing indices below `2^level`, each
/// optionally followed by a hash.
fn read_indices(
    r: &mut Reader<'_>,
    level: u8,
    min_item: usize,
    with_hash: bool,
) -> Result<Vec<(u64, Option<u64>)>, DecodeError> {
    let n = r.count(min_item)?;
    let mut out = Vec::with_capacity(n);
    let mut prev = 0u64;
    for k in 0..n {
        let gap = r.varint()?;
        if k > 0 && gap == 0 {
            return Err(DecodeError::Malformed("merkle indices not increasing"));
        }
        let i = if k == 0 {
            gap
        } else {
            prev.saturating_add(gap)
        };
        if i >= 1u64 << level {
            return Err(DecodeError::Malformed("merkle index outside its level"));
        }
        let h = if with_hash { Some(r.u64_le()?) } else { None };
        out.push((i, h));
        prev = i;
    }
    Ok(out)
}

/// The nodes of a [`MerkleDigest`] whose hashes differ on the responder.
///
/// # Examples
///
/// ```
/// use steadfast_replica::{FrameCodec, MerkleMismatch, MerkleTree};
///
/// let a = MerkleTree::build(4, [(3, 3)])?;
/// let m = MerkleTree::new(4)?.compare(&a.digest(4, vec![0, 1])?)?;
/// assert_eq!(m.indices(), &[0]);
/// assert_eq!(MerkleMismatch::from_frame(&m.to_frame())?, m);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MerkleMismatch {
    level: u8,
    indices: Vec<u64>,
}

impl MerkleMismatch {
    /// The level of the digest it answers.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let t = MerkleTree::new(4).unwrap();
    /// assert_eq!(t.compare(&t.digest(3, vec![]).unwrap()).unwrap().level(), 3);
    /// ```
    #[must_use]
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Indices (within the level) whose hashes differ, increasing.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let t = MerkleTree::new(4).unwrap();
    /// assert!(t.compare(&t.digest(0, vec![0]).unwrap()).unwrap().indices().is_empty());
    /// ```
    #[must_use]
    pub fn indices(&self) -> &[u64] {
        &self.indices
    }
}

/// Payload: level (byte), count, index gaps (varints).
impl FrameCodec for MerkleMismatch {
    const KIND: FrameKind = FrameKind::MerkleMismatch;

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.push(self.level);
        put_varint(out, self.indices.len() as u64);
        let mut prev = 0;
        for (k, &i) in self.indices.iter().enumerate() {
            put_varint(out, if k == 0 { i } else { i - prev });
            prev = i;
        }
    }

    fn decode_payload(payload: &[u8]) -> Result<MerkleMismatch, DecodeError> {
        let mut r = Reader::new(payload);
        let level = r.u8()?;
        if level > MerkleTree::MAX_DEPTH {
            return Err(DecodeError::Malformed("merkle level out of range"));
        }
        let indices = read_indices(&mut r, level, 1, false)?
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        r.finish()?;
        Ok(MerkleMismatch { level, indices })
    }
}

/// True when `indices` are strictly increasing and inside `level`.
#[cfg(feature = "serde")]
fn valid_indices(level: u8, indices: impl Iterator<Item = u64>) -> bool {
    let mut prev: Option<u64> = None;
    for i in indices {
        if prev.is_some_and(|p| p >= i) || i >= 1u64 << level {
            return false;
        }
        prev = Some(i);
    }
    true
}

/// Deserialization checks depth, level and indices like the binary decoder.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for MerkleDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<MerkleDigest, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            depth: u8,
            level: u8,
            nodes: Vec<(u64, u64)>,
        }
        let raw = Raw::deserialize(d)?;
        let ok = (1..=MerkleTree::MAX_DEPTH).contains(&raw.depth)
            && raw.level <= raw.depth
            && valid_indices(raw.level, raw.nodes.iter().map(|n| n.0));
        if !ok {
            return Err(serde::de::Error::custom("invalid merkle digest"));
        }
        Ok(MerkleDigest {
            depth: raw.depth,
            level: raw.level,
            nodes: raw.nodes,
        })
    }
}

/// Deserialization checks the level and indices like the binary decoder.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for MerkleMismatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<MerkleMismatch, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            level: u8,
            indices: Vec<u64>,
        }
        let raw = Raw::deserialize(d)?;
        if raw.level > MerkleTree::MAX_DEPTH
            || !valid_indices(raw.level, raw.indices.iter().copied())
        {
            return Err(serde::de::Error::custom("invalid merkle mismatch"));
        }
        Ok(MerkleMismatch {
            level: raw.level,
            indices: raw.indices,
        })
    }
}

/// One round of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ExchangeRound {
    /// Tree level compared this round (0 = root).
    pub level: u8,
    /// Hashes the initiator sent.
    pub hashes_sent: usize,
    /// How many of them differed.
    pub mismatched: usize,
    /// Bytes of the digest frame sent.
    pub bytes_sent: usize,
    /// Bytes of the mismatch frame received.
    pub bytes_received: usize,
}

/// What an exchange found and what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExchangeReport {
    rounds: Vec<ExchangeRound>,
    ranges: Vec<TokenRange>,
}

impl ExchangeReport {
    /// Every round, in order.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let t = MerkleTree::new(5).unwrap();
    /// assert_eq!(t.exchange(&t, 1).unwrap().rounds().len(), 1); // equal roots: done
    /// ```
    #[must_use]
    pub fn rounds(&self) -> &[ExchangeRound] {
        &self.rounds
    }

    /// The differing token ranges, merged and in token order.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let t = MerkleTree::new(5).unwrap();
    /// assert!(t.exchange(&t, 1).unwrap().ranges().is_empty());
    /// ```
    #[must_use]
    pub fn ranges(&self) -> &[TokenRange] {
        &self.ranges
    }

    /// Bytes sent plus bytes received over all rounds.
    ///
    /// ```
    /// # use steadfast_replica::MerkleTree;
    /// let t = MerkleTree::new(5).unwrap();
    /// assert_eq!(t.exchange(&t, 1).unwrap().total_bytes(), 22 + 12);
    /// ```
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.rounds
            .iter()
            .map(|r| r.bytes_sent + r.bytes_received)
            .sum()
    }
}

/// What the initiator does next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum ExchangeStep {
    /// Send this digest frame to the responder and pass its reply to
    /// [`MerkleExchange::on_reply`].
    Send(Vec<u8>),
    /// The exchange is over: see [`MerkleExchange::report`].
    Done,
}

/// The initiator's side of a round-by-round Merkle exchange: compare roots,
/// then descend only where hashes differ.
///
/// # Examples
///
/// ```
/// use steadfast_replica::{ExchangeStep, MerkleExchange, MerkleTree};
///
/// let local = MerkleTree::build(8, [(1, 1), (u64::MAX, 2)])?;
/// let remote = MerkleTree::build(8, [(1, 1)])?; // across the network
/// let mut ex = MerkleExchange::new(&local, 4);
/// let mut request = ex.start();
/// while let ExchangeStep::Send(next) = ex.on_reply(&remote.respond(&request)?)? {
///     request = next;
/// }
/// assert!(ex.report().ranges()[0].contains(u64::MAX));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MerkleExchange<'t> {
    tree: &'t MerkleTree,
    levels_per_round: u8,
    level: u8,
    sent: usize,
    hashes_sent: usize,
    asked: Vec<u64>,
    done: bool,
    report: ExchangeReport,
}

impl<'t> MerkleExchange<'t> {
    /// An exchange of `tree` descending `levels_per_round` levels per round
    /// (clamped to `1..=depth`): more levels per round means fewer round
    /// trips and more hashes sent.
    ///
    /// ```
    /// # use steadfast_replica::{MerkleExchange, MerkleTree};
    /// let t = MerkleTree::new(4).unwrap();
    /// let ex = MerkleExchange::new(&t, 0); // clamped to 1
    /// assert!(ex.report().rounds().is_empty());
    /// ```
    #[must_use]
    pub fn new(tree: &'t MerkleTree, levels_per_round: u8) -> MerkleExchange<'t> {
        MerkleExchange {
            tree,
            levels_per_round: levels_per_round.clamp(1, tree.depth),
            level: 0,
            sent: 0,
            hashes_sent: 0,
            asked: Vec::new(),
            done: false,
            report: ExchangeReport::default(),
        }
    }

    fn send(&mut self, level: u8, indices: Vec<u64>) -> Vec<u8> {
        self.level = level;
        self.hashes_sent = indices.len();
        self.asked.clone_from(&indices);
        // Indices are built in range and increasing, so digest cannot fail.
        let digest = self
            .tree
            .digest(level, indices)
            .unwrap_or_else(|_| MerkleDigest {
                depth: self.tree.depth,
                level,
                nodes: Vec::new(),
            });
        let bytes = digest.to_frame();
        self.sent = bytes.len();
        bytes
    }

    /// The first request: the root's digest.
    ///
    /// ```
    /// # use steadfast_replica::{MerkleExchange, MerkleTree};
    /// let t = MerkleTree::new(4).unwrap();
    /// assert_eq!(MerkleExchange::new(&t, 1).start().len(), 22);
    /// ```
    pub fn start(&mut self) -> Vec<u8> {
        self.done = false;
        self.report = ExchangeReport::default();
        self.send(0, vec![0])
    }

    /// Takes the responder's reply to the last request.
    ///
    /// # Errors
    ///
    /// [`MerkleError::Decode`] for a corrupt reply,
    /// [`MerkleError::UnexpectedReply`] for one that answers another request
    /// (wrong level, indices not asked for, or after the end).
    pub fn on_reply(&mut self, reply: &[u8]) -> Result<ExchangeStep, MerkleError> {
        if self.done {
            return Err(MerkleError::UnexpectedReply);
        }
        let mismatch = MerkleMismatch::from_frame(reply)?;
        if mismatch.level != self.level {
            return Err(MerkleError::UnexpectedReply);
        }
        if !mismatch
            .indices
            .iter()
            .all(|i| self.asked.binary_search(i).is_ok())
        {
            return Err(MerkleError::UnexpectedReply);
        }
        self.report.rounds.push(ExchangeRound {
            level: self.level,
            hashes_sent: self.hashes_sent,
            mismatched: mismatch.indices.len(),
            bytes_sent: self.sent,
            bytes_received: reply.len(),
        });
        if mismatch.indices.is_empty() || self.level == self.tree.depth {
            self.report.ranges = self.tree.ranges_of(&mismatch.indices);
            self.done = true;
            return Ok(ExchangeStep::Done);
        }
        let next = (self.level + self.levels_per_round).min(self.tree.depth);
        let fan = 1u64 << (next - self.level);
        let indices: Vec<u64> = mismatch
            .indices
            .iter()
            .flat_map(|&i| (i * fan)..(i * fan + fan))
            .collect();
        Ok(ExchangeStep::Send(self.send(next, indices)))
    }

    /// The report so far (complete after [`ExchangeStep::Done`]).
    #[must_use]
    pub fn report(&self) -> &ExchangeReport {
        &self.report
    }

    /// The report, consuming the exchange.
    #[must_use]
    pub fn into_report(self) -> ExchangeReport {
        self.report
    }
}
