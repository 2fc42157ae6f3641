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
    // PyTorch's relu keeps NaN, and -0 becomes 0 (on the bits: see atMostZero)
    out = select(out, vec4f(0.0), atMostZero(out));
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

// Items i to i + 3, all four loaded before any is stored: the loads stay in
// flight together.
fn applyFour(k: Coefficients, i: u32) {
  let x0 = loadX4(i);
  let x1 = loadX4(i + 1u);
  let x2 = loadX4(i + 2u);
  let x3 = loadX4(i + 3u);
  out4[i] = pack4(transform(k, x0, loadDy(i)));
  out4[i + 1u] = pack4(transform(k, x1, loadDy(i + 1u)));
  out4[i + 2u] = pack4(transform(k, x2, loadDy(i + 2u)));
  out4[i + 3u] = pack4(transform(k, x3, loadDy(i + 3u)));
}

// Rows i0 and i0 + step of two lanes (k0 and k1 their constants, i1 the second
// lane's index), all four loaded before any is stored.
fn applyPairRows(k0: Coefficients, k1: Coefficients, i0: u32, i1: u32, step: u32) {
  let x0 = loadX4(i0);
  let x1 = loadX4(i1);
  let x2 = loadX4(i0 + step);
  let x3 = loadX4(i1 + step);
  out4[i0] = pack4(transform(k0, x0, loadDy(i0)));
  out4[i1] = pack4(transform(k1, x1, loadDy(i1)));
  out4[i0 + step] = pack4(transform(k0, x2, loadDy(i0 + step)));
  out4[i1 + step] = pack4(transform(k1, x3, loadDy(i1 + step)));
}

fn applyTail(k: Coefficients, lane: u32) {
  // The output buffer is padded to whole vec4s; lanes past the data write padding.
  let valid = tailMask(lane);
  out4[params.blocks * params.lanes + lane] = pack4(transform(k, tailX(lane, valid), loadTailDy(lane, valid)));
}

// Any layout: each thread owns two neighbouring vec4 lanes of the repeating block,
// so their features, and constants, are fixed for the whole loop.
@compute @workgroup_size(WG_SIZE)
fn apply_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  let t = pairThread(wg, lid);
  if (!t.inRange) { return; }
  let k0 = coefficients(laneFeatures(t.lanes.x));
  let k1 = coefficients(laneFeatures(t.lanes.y));
  let step = params.lanes;
  let end = t.endBlock * step;
  var block = t.firstBlock * step;   // the block's first vec4
  for (; block + step < end; block += 2u * step) {
    applyPairRows(k0, k1, block + t.lanes.x, block + t.lanes.y, step);
  }
  if (block < end) {
    applyOne(k0, block + t.lanes.x);
    applyOne(k1, block + t.lanes.y);
  }
  if (t.ownsTail) {
    applyTail(k0, t.lanes.x);
    if (4u * t.lanes.y < params.tailLen) {
      applyTail(k1, t.lanes.y);
    }
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
        applyFour(k, i);
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
