//! Checksummed frames: every binary encoding of this crate travels in one.
//!
//! Replicas exchange clocks and digests over networks and keep them on disks
//! that flip bits. A frame carries its length, a format version, what it
//! holds and a CRC32C over all of that, so a corrupt or truncated frame is
//! refused with a typed [`DecodeError`] before any of it is interpreted.
//!
//! ```text
//! offset  size  field
//! 0       4     payload length, little-endian u32
//! 4       1     format version (1)
//! 5       1     kind (see FrameKind)
//! 6       len   payload
//! 6+len   4     CRC32C of bytes 0..6+len, little-endian
//! ```
//!
//! CRC32C (Castagnoli) is computed by the `crc-fast` crate (carry-less
//! multiply folding, SIMD), which measured about twice as fast as the
//! `crc32c` crate on 1 MiB buffers on the benchmark machine; see
//! `replica/crc32c_*` in BENCHMARKS.md.

use core::fmt;

use steadfast_core::NodeId;

use crate::dvv::{Dot, DottedVersionVector};
use crate::version_vector::VersionVector;

/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 6;
/// Bytes after the payload.
pub const TRAILER_LEN: usize = 4;
/// The largest payload a frame may declare (64 MiB): a corrupt length must
/// not make a reader wait for, or reserve, gigabytes.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// The CRC32C (Castagnoli) checksum of `data`.
///
/// ```
/// // The check value of CRC-32C.
/// assert_eq!(steadfast_replica::crc32c(b"123456789"), 0xE306_9283);
/// ```
#[must_use]
pub fn crc32c(data: &[u8]) -> u32 {
    // CRC-32/ISCSI is CRC32C; the result fits in 32 bits.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32
}

/// What a frame holds.
///
/// # Examples
///
/// ```
/// use steadfast_replica::FrameKind;
/// assert_eq!(FrameKind::from_byte(1), Some(FrameKind::VersionVector));
/// assert_eq!(FrameKind::VersionVector.as_byte(), 1);
/// assert_eq!(FrameKind::from_byte(200), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum FrameKind {
    /// A [`VersionVector`].
    VersionVector,
    /// A [`DottedVersionVector`].
    DottedVersionVector,
    /// A [`MerkleDigest`](crate::MerkleDigest): node hashes of one tree level.
    MerkleDigest,
    /// A [`MerkleMismatch`](crate::MerkleMismatch): which digest nodes differ.
    MerkleMismatch,
    /// Application bytes.
    Opaque,
}

impl FrameKind {
    /// The kind's byte on the wire.
    ///
    /// ```
    /// # use steadfast_replica::FrameKind;
    /// assert_eq!(FrameKind::Opaque.as_byte(), 255);
    /// ```
    #[must_use]
    pub const fn as_byte(self) -> u8 {
        match self {
            FrameKind::VersionVector => 1,
            FrameKind::DottedVersionVector => 2,
            FrameKind::MerkleDigest => 3,
            FrameKind::MerkleMismatch => 4,
            FrameKind::Opaque => 255,
        }
    }

    /// The kind with this byte, if any.
    ///
    /// ```
    /// # use steadfast_replica::FrameKind;
    /// assert_eq!(FrameKind::from_byte(3), Some(FrameKind::MerkleDigest));
    /// ```
    #[must_use]
    pub const fn from_byte(byte: u8) -> Option<FrameKind> {
        match byte {
            1 => Some(FrameKind::VersionVector),
            2 => Some(FrameKind::DottedVersionVector),
            3 => Some(FrameKind::MerkleDigest),
            4 => Some(FrameKind::MerkleMismatch),
            255 => Some(FrameKind::Opaque),
            _ => None,
        }
    }
}

/// Why bytes could not be decoded.
///
/// Every variant is permanent for the bytes at hand: re-reading the same
/// bytes fails the same way; fetch them again instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the frame needs.
    #[error("truncated frame: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// A format version this build does not read.
    #[error("unsupported frame format version {0} (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    /// A kind byte that names no [`FrameKind`].
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The frame holds another kind than the caller decodes.
    #[error("expected a {expected:?} frame, found {found:?}")]
    WrongKind {
        /// What the caller decodes.
        expected: FrameKind,
        /// What the frame holds.
        found: FrameKind,
    },
    /// The declared payload length exceeds [`MAX_PAYLOAD`].
    #[error("frame payload of {len} bytes exceeds the maximum of {max}")]
    PayloadTooLarge {
        /// Declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stored checksum does not match the bytes: corruption.
    #[error("frame checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// CRC32C stored in the frame.
        stored: u32,
        /// CRC32C of the bytes received.
        computed: u32,
    },
    /// Bytes left after a complete frame or payload.
    #[error("{0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// The checksum matched but the payload is not a valid encoding.
    #[error("malformed payload: {0}")]
    Malformed(&'static str),
}

/// A decoded frame borrowing its payload.
///
/// # Examples
///
/// ```
/// use steadfast_replica::{Frame, FrameKind};
///
/// let bytes = Frame::encode(FrameKind::Opaque, b"hello");
/// assert_eq!(bytes.len(), 6 + 5 + 4);
/// let (frame, used) = Frame::decode(&bytes)?;
/// assert_eq!((frame.kind(), frame.payload(), used), (FrameKind::Opaque, &b"hello"[..], bytes.len()));
///
/// let mut corrupt = bytes.clone();
/// corrupt[8] ^= 0x01;
/// assert!(Frame::decode(&corrupt).is_err());
/// # Ok::<(), steadfast_replica::DecodeError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    kind: FrameKind,
    payload: &'a [u8],
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("kind", &self.kind)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl<'a> Frame<'a> {
    /// What the frame holds.
    ///
    /// ```
    /// # use steadfast_replica::{Frame, FrameKind};
    /// let b = Frame::encode(FrameKind::Opaque, &[]);
    /// assert_eq!(Frame::decode_exact(&b).unwrap().kind(), FrameKind::Opaque);
    /// ```
    #[must_use]
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// The payload bytes.
    ///
    /// ```
    /// # use steadfast_replica::{Frame, FrameKind};
    /// let b = Frame::encode(FrameKind::Opaque, &[7]);
    /// assert_eq!(Frame::decode_exact(&b).unwrap().payload(), &[7]);
    /// ```
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Appends the frame of `payload` to `out`.
    ///
    /// # Panics
    ///
    /// When `payload` is longer than [`MAX_PAYLOAD`].
    ///
    /// ```
    /// # use steadfast_replica::{Frame, FrameKind};
    /// let mut out = Vec::new();
    /// Frame::encode_into(FrameKind::Opaque, b"a", &mut out);
    /// Frame::encode_into(FrameKind::Opaque, b"b", &mut out);
    /// let (first, used) = Frame::decode(&out).unwrap();
    /// assert_eq!(first.payload(), b"a");
    /// assert_eq!(Frame::decode_exact(&out[used..]).unwrap().payload(), b"b");
    /// ```
    pub fn encode_into(kind: FrameKind, payload: &[u8], out: &mut Vec<u8>) {
        assert!(
            payload.len() <= MAX_PAYLOAD,
            "frame payload of {} bytes exceeds MAX_PAYLOAD",
            payload.len()
        );
        let start = out.len();
        out.reserve(HEADER_LEN + payload.len() + TRAILER_LEN);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.push(FORMAT_VERSION);
        out.push(kind.as_byte());
        out.extend_from_slice(payload);
        let crc = crc32c(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }

    /// The frame of `payload`.
    ///
    /// # Panics
    ///
    /// When `payload` is longer than [`MAX_PAYLOAD`].
    ///
    /// ```
    /// # use steadfast_replica::{Frame, FrameKind};
    /// assert_eq!(Frame::encode(FrameKind::Opaque, b"xyz").len(), 13);
    /// ```
    #[must_use]
    pub fn encode(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Frame::encode_into(kind, payload, &mut out);
        out
    }

    /// Decodes the frame at the start of `bytes`; returns it and the number
    /// of bytes it used, so frames can be read back to back.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`], [`UnsupportedVersion`](DecodeError::UnsupportedVersion),
    /// [`UnknownKind`](DecodeError::UnknownKind), [`PayloadTooLarge`](DecodeError::PayloadTooLarge)
    /// or [`ChecksumMismatch`](DecodeError::ChecksumMismatch).
    ///
    /// ```
    /// # use steadfast_replica::{DecodeError, Frame, FrameKind};
    /// let b = Frame::encode(FrameKind::Opaque, b"abc");
    /// assert_eq!(
    ///     Frame::decode(&b[..5]).unwrap_err(),
    ///     DecodeError::Truncated { needed: 6, available: 5 }
    /// );
    /// ```
    pub fn decode(bytes: &'a [u8]) -> Result<(Frame<'a>, usize), DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(DecodeError::PayloadTooLarge {
                len,
                max: MAX_PAYLOAD,
            });
        }
        let total = HEADER_LEN + len + TRAILER_LEN;
        if bytes.len() < total {
            return Err(DecodeError::Truncated {
                needed: total,
                available: bytes.len(),
            });
        }
        let body_end = HEADER_LEN + len;
        let t = &bytes[body_end..total];
        let stored = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let computed = crc32c(&bytes[..body_end]);
        // The checksum is checked first: a flipped version or kind byte is
        // corruption, not a format from the future.
        if stored != computed {
            return Err(DecodeError::ChecksumMismatch { stored, computed });
        }
        if bytes[4] != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(bytes[4]));
        }
        let kind = FrameKind::from_byte(bytes[5]).ok_or(DecodeError::UnknownKind(bytes[5]))?;
        Ok((
            Frame {
                kind,
                payload: &bytes[HEADER_LEN..body_end],
            },
            total,
        ))
    }

    /// Decodes `bytes` as exactly one frame.
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode), plus [`DecodeError::TrailingBytes`].
    ///
    /// ```
    /// # use steadfast_replica::{DecodeError, Frame, FrameKind};
    /// let mut b = Frame::encode(FrameKind::Opaque, b"abc");
    /// b.push(0);
    /// assert_eq!(Frame::decode_exact(&b).unwrap_err(), DecodeError::TrailingBytes(1));
    /// ```
    pub fn decode_exact(bytes: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let (frame, used) = Frame::decode(bytes)?;
        if used != bytes.len() {
            return Err(DecodeError::TrailingBytes(bytes.len() - used));
        }
        Ok(frame)
    }
}

/// A type with a binary encoding that travels in a checksummed [`Frame`].
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{FrameCodec, VersionVector};
///
/// let vv: VersionVector = [(NodeId::new(1), 3), (NodeId::new(9), 1)].into_iter().collect();
/// let bytes = vv.to_frame();
/// assert_eq!(VersionVector::from_frame(&bytes)?, vv);
/// # Ok::<(), steadfast_replica::DecodeError>(())
/// ```
pub trait FrameCodec: Sized {
    /// The frame kind this type travels as.
    const KIND: FrameKind;

    /// Appends the payload encoding (without frame) to `out`.
    fn encode_payload(&self, out: &mut Vec<u8>);

    /// Decodes a payload (without frame); must consume all of it.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Malformed`] or [`DecodeError::TrailingBytes`] for bytes
    /// that are not an encoding of `Self`.
    fn decode_payload(payload: &[u8]) -> Result<Self, DecodeError>;

    /// The whole frame.
    ///
    /// # Panics
    ///
    /// When the payload encoding is longer than [`MAX_PAYLOAD`] (a version
    /// vector of millions of nodes).
    fn to_frame(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        self.encode_payload(&mut payload);
        Frame::encode(Self::KIND, &payload)
    }

    /// Decodes exactly one frame of kind [`KIND`](Self::KIND).
    ///
    /// # Errors
    ///
    /// Any [`DecodeError`]: corruption, truncation, a wrong kind or a
    /// malformed payload.
    fn from_frame(bytes: &[u8]) -> Result<Self, DecodeError> {
        let frame = Frame::decode_exact(bytes)?;
        if frame.kind() != Self::KIND {
            return Err(DecodeError::WrongKind {
                expected: Self::KIND,
                found: frame.kind(),
            });
        }
        Self::decode_payload(frame.payload())
    }
}

/// Reads a payload front to back.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or(DecodeError::Malformed("payload ends early"))?;
        self.bytes = rest;
        Ok(b)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, DecodeError> {
        if self.bytes.len() < 8 {
            return Err(DecodeError::Malformed("payload ends early"));
        }
        let (head, rest) = self.bytes.split_at(8);
        self.bytes = rest;
        let mut b = [0u8; 8];
        b.copy_from_slice(head);
        Ok(u64::from_le_bytes(b))
    }

    /// An unsigned LEB128 varint, canonical (no redundant zero bytes).
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(DecodeError::Malformed("varint overflows u64"));
            }
            value |= part << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(DecodeError::Malformed("non-canonical varint"));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed("varint longer than 10 bytes"))
    }

    /// A count of items, each at least `min_item_bytes` long: refuses counts
    /// the remaining bytes cannot hold, before anything is allocated.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        let fits = usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(min_item_bytes.max(1)) <= self.remaining());
        fits.ok_or(DecodeError::Malformed("count larger than the payload"))
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.bytes.len()))
        }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn encode_vv(vv: &VersionVector, out: &mut Vec<u8>) {
    put_varint(out, vv.len() as u64);
    let mut prev = 0u64;
    for (i, (node, counter)) in vv.iter().enumerate() {
        // Nodes are strictly increasing: store gaps, which stay small.
        let gap = if i == 0 {
            node.get()
        } else {
            node.get() - prev
        };
        put_varint(out, gap);
        put_varint(out, counter);
        prev = node.get();
    }
}

fn decode_vv(r: &mut Reader<'_>) -> Result<VersionVector, DecodeError> {
    let n = r.count(2)?;
    let mut entries = Vec::with_capacity(n);
    let mut prev = 0u64;
    for i in 0..n {
        let gap = r.varint()?;
        if i > 0 && gap == 0 {
            return Err(DecodeError::Malformed(
                "version vector nodes not increasing",
            ));
        }
        let node = if i == 0 {
            gap
        } else {
            prev.checked_add(gap)
                .ok_or(DecodeError::Malformed("version vector node id overflows"))?
        };
        let counter = r.varint()?;
        if counter == 0 {
            return Err(DecodeError::Malformed("version vector counter is zero"));
        }
        entries.push((NodeId::new(node), counter));
        prev = node;
    }
    VersionVector::from_sorted(entries).ok_or(DecodeError::Malformed("invalid version vector"))
}

/// Payload: entry count, then per entry the node-id gap and the counter,
/// all LEB128 varints.
impl FrameCodec for VersionVector {
    const KIND: FrameKind = FrameKind::VersionVector;

    fn encode_payload(&self, out: &mut Vec<u8>) {
        encode_vv(self, out);
    }

    fn decode_payload(payload: &[u8]) -> Result<VersionVector, DecodeError> {
        let mut r = Reader::new(payload);
        let vv = decode_vv(&mut r)?;
        r.finish()?;
        Ok(vv)
    }
}

/// Payload: dot node and counter (varints), then the context as a
/// version vector payload.
impl FrameCodec for DottedVersionVector {
    const KIND: FrameKind = FrameKind::DottedVersionVector;

    fn encode_payload(&self, out: &mut Vec<u8>) {
        put_varint(out, self.dot().node.get());
        put_varint(out, self.dot().counter);
        encode_vv(self.context(), out);
    }

    fn decode_payload(payload: &[u8]) -> Result<DottedVersionVector, DecodeError> {
        let mut r = Reader::new(payload);
        let node = NodeId::new(r.varint()?);
        let counter = r.varint()?;
        let context = decode_vv(&mut r)?;
        r.finish()?;
        DottedVersionVector::from_parts(Dot::new(node, counter), context)
            .ok_or(DecodeError::Malformed("dot inside its own context"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_bad_forms() {
        for v in [0, 1, 127, 128, 300, u64::MAX / 3, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint().unwrap(), v);
            r.finish().unwrap();
        }
        assert!(Reader::new(&[0x80, 0x00]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
        assert!(Reader::new(&[0x80]).varint().is_err());
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let vv: VersionVector = [(NodeId::new(3), 7), (NodeId::new(300), 1)]
            .into_iter()
            .collect();
        let bytes = vv.to_frame();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                VersionVector::from_frame(&b).is_err(),
                "flip of bit {i} went unnoticed"
            );
        }
        for cut in 0..bytes.len() {
            assert!(VersionVector::from_frame(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn header_checks() {
        let mut b = Frame::encode(FrameKind::Opaque, b"x");
        b[4] = 2;
        let body = b.len() - TRAILER_LEN;
        let crc = crc32c(&b[..body]).to_le_bytes();
        b[body..].copy_from_slice(&crc);
        assert_eq!(
            Frame::decode(&b).unwrap_err(),
            DecodeError::UnsupportedVersion(2)
        );
        b[4] = 1;
        b[5] = 77;
        let crc = crc32c(&b[..body]).to_le_bytes();
        b[body..].copy_from_slice(&crc);
        assert_eq!(Frame::decode(&b).unwrap_err(), DecodeError::UnknownKind(77));
        let huge = [0xff, 0xff, 0xff, 0xff, 1, 1];
        assert!(matches!(
            Frame::decode(&huge),
            Err(DecodeError::PayloadTooLarge { .. })
        ));
        let opaque = Frame::encode(FrameKind::Opaque, &[0]);
        assert!(matches!(
            VersionVector::from_frame(&opaque),
            Err(DecodeError::WrongKind { .. })
        ));
    }

    #[test]
    fn dvv_round_trip_and_invalid_dot() {
        let ctx: VersionVector = [(NodeId::new(1), 2)].into_iter().collect();
        let d = DottedVersionVector::event(&ctx, NodeId::new(1), 5);
        assert_eq!(DottedVersionVector::from_frame(&d.to_frame()).unwrap(), d);
        let mut payload = Vec::new();
        put_varint(&mut payload, 1);
        put_varint(&mut payload, 1);
        encode_vv(&ctx, &mut payload);
        let bytes = Frame::encode(FrameKind::DottedVersionVector, &payload);
        assert_eq!(
            DottedVersionVector::from_frame(&bytes).unwrap_err(),
            DecodeError::Malformed("dot inside its own context")
        );
    }
}
