//! Replication consistency: track causality, find and repair divergence,
//! detect corruption.
//!
//! For authors of replicated stores: version vectors and dotted version
//! vector sets keep concurrent writes as siblings without false conflicts;
//! a hybrid logical clock orders events across nodes and refuses runaway
//! clocks; read-repair plans and Merkle anti-entropy bring replicas back
//! together; every binary encoding travels in a CRC32C-checked frame;
//! consistency levels turn into acknowledgements to wait for, over replicas
//! placed across racks and datacentres.
//!
//! # Quick example
//!
//! ```
//! use steadfast_core::NodeId;
//! use steadfast_replica::{DvvSet, FrameCodec, MerkleTree, VersionVector, hash64};
//!
//! // Two clients write concurrently through replica 1: both values are kept.
//! let r1 = NodeId::new(1);
//! let stored = DvvSet::new("blue").update_as(r1);
//! let stored = stored.update(&VersionVector::new(), "green", r1);
//! assert_eq!(stored.values(), vec![&"green", &"blue"]);
//! // A client that read both resolves them.
//! let stored = stored.update(&stored.join(), "teal", r1);
//! assert_eq!(stored.values(), vec![&"teal"]);
//!
//! // Clocks travel in checksummed frames.
//! let bytes = stored.join().to_frame();
//! assert_eq!(VersionVector::from_frame(&bytes)?, stored.join());
//!
//! // Two replicas find the key range where they differ.
//! let a = MerkleTree::build(15, (0..10_000u64).map(|k| (hash64(&k.to_le_bytes()), k)))?;
//! let mut b = a.clone();
//! b.update(hash64(&7u64.to_le_bytes()), 7, 8);
//! let report = a.exchange(&b, 3)?;
//! assert_eq!(report.ranges().len(), 1);
//! println!("{} ranges differ, {} bytes exchanged", report.ranges().len(), report.total_bytes());
//!
//! // QUORUM over three replicas: two acknowledgements, and reads see writes.
//! use steadfast_replica::{ConsistencyLevel, Guarantee, Operation, Placement, Replica};
//! let placement = Placement::new((1..=3).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
//! let quorum = ConsistencyLevel::Quorum.requirement(Operation::Write, &placement, "dc1")?;
//! assert_eq!(quorum.required_acks(), 2);
//! let guarantee = Guarantee::of(ConsistencyLevel::Quorum, ConsistencyLevel::Quorum, &placement)?;
//! assert!(guarantee.is_strong());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Map of the crate
//!
//! | item | what it is |
//! |---|---|
//! | [`VersionVector`], [`Causality`] | per-node counters, inline up to 6 nodes; compare, merge, dominates |
//! | [`Dot`], [`DottedVersionVector`] | one write's identity and the context it saw |
//! | [`DvvSet`] | Riak's dotted version vector set: siblings under one clock (`sync`, `update`, `join`, `values`, `reconcile`, `lww`) |
//! | [`HybridLogicalClock`], [`HlcTimestamp`], [`HlcConfig`] | Kulkarni et al.'s HLC in 64 bits, lock-free, with a bound on remote skew |
//! | [`ConflictResolver`], [`Stamped`], [`Resolved`] | last writer wins (HLC, then node), keep siblings, or merge |
//! | [`ReadRepairPlan`], [`Versioned`], [`ReplicaReply`], [`RepairMode`], [`DigestRead`] | what a read returns and what each replica must be sent; digest reads |
//! | [`MerkleTree`], [`MerkleExchange`], [`MerkleDigest`], [`MerkleMismatch`], [`ExchangeReport`] | incremental Merkle trees over a token space and their round-by-round exchange |
//! | [`LagTracker`], [`LagConfig`], [`PromotionRejected`] | replication lag in bytes and time; promotion checks |
//! | [`Frame`], [`FrameCodec`], [`DecodeError`], [`crc32c`] | checksummed binary frames and the codec of every type above |
//! | [`ConsistencyLevel`], [`Operation`] | Cassandra's levels (ANY, ONE, TWO, THREE, QUORUM, LOCAL_ONE, LOCAL_QUORUM, EACH_QUORUM, ALL) |
//! | [`Requirement`], [`AckGroup`], [`AckTally`] | a level turned into required acknowledgements for a placement, tallied won / pending / lost as responses arrive |
//! | [`Guarantee`] | `R + W > N` for a read and a write level, per datacentre where only local overlap holds |
//! | [`Placement`], [`Replica`], [`Topology`], [`NetworkTopology`] | replicas with datacentre and rack; rack-aware placement on a token ring |
//! | [`ConsistencyError`] | unsupported, unsatisfiable, unavailable, timeout, failed |
//!
//! # Features
//!
//! - `serde`: `Serialize`/`Deserialize` for every data type (clocks, sets,
//!   stamps, trees, digests, plans, reports and configs).
//!
//! # Design notes
//!
//! - Time is injected: [`HybridLogicalClock`] and [`LagTracker`] read a
//!   [`steadfast_core::Clock`]; tests drive them with a `ManualClock`.
//! - Decoders never panic: corrupt, truncated or hostile bytes give a
//!   [`DecodeError`]; counts are checked against the bytes left before
//!   anything is allocated. Fuzz targets cover every decoder.
//! - [`hash64`] is a stable, non-cryptographic hash: replicas on different
//!   platforms and versions agree on tokens and digests.
#![forbid(unsafe_code)]

mod consistency;
mod dvv;
mod frame;
mod hlc;
mod lag;
mod merkle;
mod repair;
mod resolve;
mod sync;
mod version_vector;

pub use consistency::{
    AckGroup, AckTally, ConsistencyError, ConsistencyLevel, Guarantee, NetworkTopology, Operation,
    Placement, Replica, Requirement, Topology, TopologyBuilder,
};
pub use dvv::{Dot, DottedVersionVector, DvvSet};
pub use frame::{
    DecodeError, FORMAT_VERSION, Frame, FrameCodec, FrameKind, HEADER_LEN, MAX_PAYLOAD,
    TRAILER_LEN, crc32c,
};
pub use hlc::{HlcConfig, HlcConfigBuilder, HlcError, HlcEvent, HlcTimestamp, HybridLogicalClock};
pub use lag::{LagConfig, LagConfigBuilder, LagEvent, LagTracker, PromotionRejected, ReplicaLag};
pub use merkle::{
    ExchangeReport, ExchangeRound, ExchangeStep, MerkleDigest, MerkleError, MerkleExchange,
    MerkleMismatch, MerkleTree, TokenRange, hash64,
};
pub use repair::{DigestRead, ReadRepairPlan, Repair, RepairMode, ReplicaReply, Versioned};
pub use resolve::{ConflictResolver, Resolved, Stamped};
pub use version_vector::{Causality, VersionVector};
