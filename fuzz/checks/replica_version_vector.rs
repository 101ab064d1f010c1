//! Invariants of version vector decoding on arbitrary bytes.
//!
//! Shared by the fuzz target `replica_version_vector` and by the corpus
//! replay test in `steadfast-replica`.

use steadfast_replica::{Causality, Frame, FrameCodec, FrameKind, VersionVector};

fn valid(vv: &VersionVector) {
    assert!(
        vv.as_slice().windows(2).all(|w| w[0].0 < w[1].0),
        "unsorted"
    );
    assert!(vv.iter().all(|(_, c)| c > 0), "zero counter stored");
    assert_eq!(vv.compare(vv), Causality::Equal);
    assert_eq!(&vv.merged(vv), vv);
}

/// Decodes `data` as a payload, as a frame, and wrapped in a frame; whatever
/// decodes must be a valid vector whose encoding is exactly the input (the
/// encoding is canonical).
pub fn check(data: &[u8]) {
    let direct = VersionVector::decode_payload(data);
    if let Ok(vv) = &direct {
        valid(vv);
        let mut p = Vec::new();
        vv.encode_payload(&mut p);
        assert_eq!(p, data, "payload encoding is not canonical");
    }
    if let Ok(vv) = VersionVector::from_frame(data) {
        valid(&vv);
        assert_eq!(vv.to_frame(), data, "frame encoding is not canonical");
    }
    let framed = Frame::encode(FrameKind::VersionVector, data);
    assert_eq!(
        VersionVector::from_frame(&framed),
        direct,
        "framing changed the decoding"
    );
}
