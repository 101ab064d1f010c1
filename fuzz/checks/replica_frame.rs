//! Invariants of checksummed frame decoding on arbitrary bytes.
//!
//! Shared by the fuzz target `replica_frame` and by the corpus replay test in
//! `steadfast-replica`.

use steadfast_replica::{DecodeError, Frame, FrameKind, HEADER_LEN, TRAILER_LEN};

/// Decodes `data` as a stream of frames: every frame that decodes must
/// re-encode to exactly its bytes; errors must be typed, never panics.
/// `data` wrapped as a payload must round-trip.
pub fn check(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        match Frame::decode(rest) {
            Ok((frame, used)) => {
                assert_eq!(used, HEADER_LEN + frame.payload().len() + TRAILER_LEN);
                assert_eq!(Frame::encode(frame.kind(), frame.payload()), &rest[..used]);
                rest = &rest[used..];
            }
            Err(DecodeError::Truncated { needed, available }) => {
                assert!(needed > available && available == rest.len());
                break;
            }
            Err(_) => break,
        }
    }
    let wrapped = Frame::encode(FrameKind::Opaque, data);
    let frame = Frame::decode_exact(&wrapped).expect("a fresh frame must decode");
    assert_eq!(frame.payload(), data);
    if !wrapped.is_empty() {
        let mut flipped = wrapped.clone();
        let i = data.len() % flipped.len();
        flipped[i] ^= 0x40;
        assert!(
            Frame::decode_exact(&flipped).is_err(),
            "a flipped bit went unnoticed"
        );
    }
}
