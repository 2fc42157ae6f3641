// bn-grad-reduce's dy' in float16 storage, as u32 words whichever way the tensors
// are bound (packed or f16: the bytes are the same): a vec4 is one thread's two
// whole u32s (the tail's padding included: the buffer is the BatchNorm's, padded
// to 16 bytes). A scalar shares its u32 with a neighbour that may belong to
// another workgroup (planes with inner % 4 != 0), so it clears and sets only its
// own half, each by one atomic: the neighbour's half is never rewritten.
@group(0) @binding(8) var<storage, read_write> masked: array<atomic<u32>>;

fn storeMaskedVec(i: u32, m: vec4f) {
  let p = packHalves(m);
  atomicStore(&masked[2u * i], p.x);
  atomicStore(&masked[2u * i + 1u], p.y);
}

fn storeMaskedTail(i: u32, m: vec4f, valid: vec4<bool>) {
  storeMaskedVec(i, select(vec4f(0.0), m, valid));
}

fn storeMaskedScalar(i: u32, m: f32) {
  let shift = (i & 1u) * 16u;
  atomicAnd(&masked[i >> 1u], ~(0xffffu << shift));
  atomicOr(&masked[i >> 1u], halfBits(vec4f(m)).x << shift);
}
