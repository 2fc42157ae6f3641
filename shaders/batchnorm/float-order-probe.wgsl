// Whether this device's shader compiler keeps the error terms of compensated.wgsl
// without its opaque() barrier: the host runs this with OPAQUE_SUMS false, once
// per device and both ways of EXACT_SUMS, on values whose every error term is
// non-zero, and compares with the exact ones (src/batchnorm/float-order.ts).
// A compiler that reassociates folds some of them to 0 here as in the stages.
// (A product's rounding, fma(a, b, -a * b) in bn-grad-reduce, is not probed: it
// is 0 wherever fma is not fused, as on SwiftShader, barrier or not.)

struct ProbeParams {
  zeroBits: u32,   // 0; compensated.wgsl's opaque() reads it as params.zeroBits
}

@group(0) @binding(0) var<uniform> params: ProbeParams;
@group(0) @binding(1) var<storage, read> values: array<vec4f>;          // a, b, c for each case
@group(0) @binding(2) var<storage, read_write> errorTerms: array<vec4f>; // PROBE_TERMS for each case

const PROBE_TERMS = 3u;

@compute @workgroup_size(WG_SIZE)
fn probe(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= arrayLength(&errorTerms) / PROBE_TERMS) { return; }
  let a = values[3u * i];
  let b = values[3u * i + 1u];
  let c = values[3u * i + 2u];
  let none = vec4f(0.0);
  let out = PROBE_TERMS * i;
  errorTerms[out] = addCompensated(Compensated(a, none), Compensated(b, none)).lo;  // two-sum
  errorTerms[out + 1u] = accumulate(Compensated(a, none), b).lo;                    // per EXACT_SUMS
  errorTerms[out + 2u] = accumulateTwo(Compensated(a, none), b, c).lo;              // per EXACT_SUMS
}
