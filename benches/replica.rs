//! steadfast-replica benches (being written).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn sum_u64(buf: &[u8]) -> u64 {
    let mut acc = 0u64;
    for chunk in buf.chunks_exact(8) {
        acc = acc.wrapping_add(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
    }
    acc
}

fn crc(c: &mut Criterion) {
    for (name, size) in [("4k", 4usize << 10), ("1m", 1 << 20), ("64m", 64 << 20)] {
        let buf: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        let mut group = c.benchmark_group(format!("replica/crc32c_{name}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 1 << 20 {
            group.sample_size(10);
        }
        group.bench_function("crc32c", |b| b.iter(|| crc32c::crc32c(black_box(&buf))));
        group.bench_function("floor: sum of u64", |b| b.iter(|| sum_u64(black_box(&buf))));
        group.bench_function("crc32fast", |b| b.iter(|| crc32fast::hash(black_box(&buf))));
        group.bench_function("crc-fast", |b| {
            b.iter(|| crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, black_box(&buf)))
        });
        group.finish();
    }
}

criterion_group!(benches, crc);
criterion_main!(benches);
