//! Invariants of dotted version vector decoding on arbitrary bytes.
//!
//! Shared by the fuzz target `replica_dvv` and by the corpus replay test in
//! `steadfast-replica`.

use steadfast_replica::{Causality, DottedVersionVector, Frame, FrameCodec, FrameKind};

/// Decodes `data` as a DVV payload (directly and inside a frame); whatever
/// decodes must keep its dot outside its context, re-encode to the same
/// bytes and equal itself.
pub fn check(data: &[u8]) {
    let framed = Frame::encode(FrameKind::DottedVersionVector, data);
    let direct = DottedVersionVector::decode_payload(data);
    let via_frame = DottedVersionVector::from_frame(&framed);
    assert_eq!(direct, via_frame, "framing changed the decoding");
    if let Ok(dvv) = direct {
        assert!(dvv.dot().counter > dvv.context().get(dvv.dot().node));
        let mut p = Vec::new();
        dvv.encode_payload(&mut p);
        assert_eq!(p, data, "encoding is not canonical");
        assert_eq!(dvv.compare(&dvv), Causality::Equal);
        assert!(dvv.join().dominates(dvv.context()));
    }
    let _ = DottedVersionVector::from_frame(data);
}
