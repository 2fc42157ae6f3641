enable f16;

// Tensor storage (BatchNorm's `storage: 'float16'`) on a device with `shader-f16`:
// the bytes of storage-f16.wgsl (binary16, element 2k in the low half of u32 k),
// bound as WGSL f16 where they are read, so a load is a native f16 load and
// conversion: a vec4 of them is one vec4<f16>. bn-apply writes its output as the
// packed path does, the correctly rounded bits (half-bits.wgsl) two to a u32: WGSL
// lets f32 to f16 round either way, and naga (Firefox 153) has no bitcast from u32s
// to f16 vectors. All arithmetic and every sum stay f32. The host moves the
// `enable` to the top of each module. See storage-f32.wgsl.

alias Stored4 = vec4<f16>;
alias Stored1 = f16;
alias Written4 = vec2u;

// f16 to f32 is exact: every binary16 value is an f32 value.
fn unpack4(v: vec4<f16>) -> vec4f {
  return vec4f(v);
}

fn pack4(v: vec4f) -> vec2u {
  return packHalves(v);
}

fn wordOf(i: u32) -> u32 {
  return i;
}

fn unpack1(w: f16, i: u32) -> f32 {
  return f32(w);
}
