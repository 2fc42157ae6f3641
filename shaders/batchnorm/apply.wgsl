// The elementwise pass, last stage of both directions:
//   forward:  y  = act((x - K) * SCALE + (SHIFT + beta) [+ z])
//   backward: dx = dy * GRAD_DY + (x - K) * GRAD_X + GRAD_SHIFT
// with per-feature constants from bn-finalize or bn-grad-finalize. Subtracting K
// (a value of the feature) before scaling keeps the result exact far from zero.
// The fused epilogue (BatchNorm's `residual` and `activation: 'relu'`): the forward
// reads the residual z through the dy bindings (a forward reads no dy) and adds it
// before the ReLU. The backward needs nothing of it here: with ReLU the host binds,
// in dy's place, the masked dy that bn-grad-reduce wrote (dy where y > 0, else 0).

@group(0) @binding(5) var<storage, read> feature: array<f32>;
@group(0) @binding(6) var<storage, read_write> out4: array<Stored4>;
@group(0) @binding(7) var<storage, read> beta: array<f32>;

override GRAD: bool = false;
override RESIDUAL: bool = false;  // forward: y = act(BN(x) + z), z bound as dy
override RELU: bool = false;      // forward: y = max(., 0), NaN kept (PyTorch's relu)

struct Coefficients {
  pivot: vec4f,
  dyScale: vec4f,
  xScale: vec4f,
  shift: vec4f,
}

fn gatherSection(section: u32, f: vec4u) -> vec4f {
  let base = section * params.featureStride;
  return vec4f(feature[base + f.x], feature[base + f.y], feature[base + f.z], feature[base + f.w]);
}

fn coefficients(f: vec4u) -> Coefficients {
  if (GRAD) {
    return Coefficients(gatherSection(PIVOT, f), gatherSection(GRAD_DY, f), gatherSection(GRAD_X, f), gatherSection(GRAD_SHIFT, f));
  }
  let b = vec4f(beta[f.x], beta[f.y], beta[f.z], beta[f.w]);
  return Coefficients(gatherSection(PIVOT, f), vec4f(0.0), gatherSection(SCALE, f), gatherSection(SHIFT, f) + b);
}

// dy is dy in the backward, the residual z in a forward with RESIDUAL.
fn transform(k: Coefficients, x: vec4f, dy: vec4f) -> vec4f {
  var out = fma(x - k.pivot, k.xScale, k.shift);
  if (GRAD) {
    return fma(dy, k.dyScale, out);
  }
  if (RESIDUAL) {
    out += dy;
  }
  if (RELU) {
    // not max(out, 0): WGSL leaves max with a NaN operand to the implementation;
    // PyTorch's relu keeps NaN, and -0 becomes 0
    out = select(out, vec4f(0.0), out <= vec4f(0.0));
  }
  return out;
}

fn loadDy(i: u32) -> vec4f {
  if (GRAD || RESIDUAL) { return loadDy4(i); }
  return vec4f(0.0);
}

fn loadTailDy(lane: u32, valid: vec4<bool>) -> vec4f {
  if (GRAD || RESIDUAL) { return tailDy(lane, valid); }
  return vec4f(0.0);
}

fn applyOne(k: Coefficients, i: u32) {
  out4[i] = pack4(transform(k, loadX4(i), loadDy(i)));
}

// Items i, i + step, i + 2 step and i + 3 step, all four loaded before any is
// stored: the loads stay in flight together (SwiftShader in Chrome: NC and NHWC
// 1.3x faster).
fn applyFour(k: Coefficients, i: u32, step: u32) {
  let x0 = loadX4(i);
  let x1 = loadX4(i + step);
  let x2 = loadX4(i + 2u * step);
  let x3 = loadX4(i + 3u * step);
  out4[i] = pack4(transform(k, x0, loadDy(i)));
  out4[i + step] = pack4(transform(k, x1, loadDy(i + step)));
  out4[i + 2u * step] = pack4(transform(k, x2, loadDy(i + 2u * step)));
  out4[i + 3u * step] = pack4(transform(k, x3, loadDy(i + 3u * step)));
}

// Any layout: each thread owns one vec4 lane of the repeating block, so its four
// features, and their constants, are fixed for the whole loop.
@compute @workgroup_size(WG_SIZE)
fn apply_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  let t = periodicThread(wg, lid);
  if (!t.inRange) { return; }
  let k = coefficients(laneFeatures(t.lane));
  let step = params.lanes;
  let end = t.endBlock * step + t.lane;
  var i = t.firstBlock * step + t.lane;
  for (; i + 3u * step < end; i += 4u * step) {
    applyFour(k, i, step);
  }
  for (; i < end; i += step) {
    applyOne(k, i);
  }
  if (t.ownsTail) {
    // The output buffer is padded to whole vec4s; lanes past the data write padding.
    let valid = tailMask(t.lane);
    out4[params.blocks * params.lanes + t.lane] = pack4(transform(k, tailX(t.lane, valid), loadTailDy(t.lane, valid)));
  }
}

// NCL and NCHW with inner % 4 == 0: a workgroup owns one feature and a chunk of it.
@compute @workgroup_size(WG_SIZE)
fn apply_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.planeWorkgroups) { return; }
  let f = wg / params.planeChunks;
  let k = coefficients(vec4u(f));
  var c = planeStart(f, wg % params.planeChunks, lid);
  if (params.planeStep == 1u) {
    // a contiguous run (CPU adapters), row by row
    while (c.item < c.end) {
      let run = rowRun(c);
      let end = c.index + run;
      var i = c.index;
      for (; i + 3u < end; i += 4u) {
        applyFour(k, i, 1u);
      }
      for (; i < end; i++) {
        applyOne(k, i);
      }
      c = nextRow(c, run);
    }
  } else {
    // every planeStep-th item (GPUs: neighbouring threads read neighbouring items)
    for (; c.item < c.end; c = planeAdvance(c)) {
      applyOne(k, c.index);
    }
  }
}
