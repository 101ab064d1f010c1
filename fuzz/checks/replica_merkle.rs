//! Invariants of Merkle digest and mismatch decoding on arbitrary bytes.
//!
//! Shared by the fuzz target `replica_merkle` and by the corpus replay test
//! in `steadfast-replica`.

use steadfast_replica::{Frame, FrameCodec, FrameKind, MerkleDigest, MerkleMismatch, MerkleTree};

/// Decodes `data` as a digest and as a mismatch payload; whatever decodes
/// must re-encode to the same bytes, and a digest must be answerable by a
/// tree of its depth (small depths only, to keep each input fast).
pub fn check(data: &[u8]) {
    if let Ok(digest) = MerkleDigest::decode_payload(data) {
        let mut p = Vec::new();
        digest.encode_payload(&mut p);
        assert_eq!(p, data, "digest encoding is not canonical");
        assert!(digest.level() <= digest.depth());
        if digest.depth() <= 12 {
            let tree = MerkleTree::new(digest.depth()).expect("decoded depth is valid");
            let request = Frame::encode(FrameKind::MerkleDigest, data);
            let reply = tree
                .respond(&request)
                .expect("a decoded digest must be answerable");
            let mismatch = MerkleMismatch::from_frame(&reply).expect("own reply must decode");
            assert!(mismatch.indices().len() <= digest.nodes().len());
        }
    }
    if let Ok(mismatch) = MerkleMismatch::decode_payload(data) {
        let mut p = Vec::new();
        mismatch.encode_payload(&mut p);
        assert_eq!(p, data, "mismatch encoding is not canonical");
        assert!(mismatch.indices().windows(2).all(|w| w[0] < w[1]));
    }
    let _ = MerkleDigest::from_frame(data);
    let _ = MerkleMismatch::from_frame(data);
}
