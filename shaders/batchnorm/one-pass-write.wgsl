// The one-pass stages' last step: y or dx (apply-transform.wgsl) of a thread's own
// values, once its features' constants are in. The including stage declares `out4`
// and defines loadDy(i), the dy the transform takes (a forward's is none).

fn writeOne(k: Coefficients, i: u32) {
  out4[i] = pack4(transform(k, loadX4(i), loadDy(i)));
}

// A periodic thread's lane, down its blocks, two a round.
fn writeLane(k: Coefficients, t: PeriodicThread) {
  let step = params.lanes;
  let end = t.endBlock * step + t.lane;
  var i = t.firstBlock * step + t.lane;
  for (; i + step < end; i += 2u * step) {
    writeOne(k, i);
    writeOne(k, i + step);
  }
  if (i < end) {
    writeOne(k, i);
  }
}

// A planes thread's items of feature f (a chunk is the whole feature).
fn writePlane(k: Coefficients, f: u32, lid: u32) {
  for (var c = planeStart(f, 0u, lid); c.item < c.end; c = planeAdvance(c)) {
    writeOne(k, c.index);
  }
}
