//! Replication consistency (being written).
#![forbid(unsafe_code)]

mod dvv;
mod frame;
mod hlc;
mod merkle;
mod sync;
mod version_vector;

pub use dvv::{Dot, DottedVersionVector, DvvSet};
pub use frame::{
    DecodeError, FORMAT_VERSION, Frame, FrameCodec, FrameKind, HEADER_LEN, MAX_PAYLOAD,
    TRAILER_LEN, crc32c,
};
pub use hlc::{HlcConfig, HlcConfigBuilder, HlcError, HlcEvent, HlcTimestamp, HybridLogicalClock};
pub use merkle::{
    ExchangeReport, ExchangeRound, ExchangeStep, MerkleDigest, MerkleError, MerkleExchange,
    MerkleMismatch, MerkleTree, TokenRange, hash64,
};
pub use version_vector::{Causality, VersionVector};
