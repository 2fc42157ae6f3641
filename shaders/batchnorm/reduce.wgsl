// The workgroup step of the reduce stages. Each stage names its per-thread result
// `Partial` (an alias) and says how two combine (`combine`); this merges the
// results of the rowLanes threads that share a lane (lanesPerGroup apart) in a
// fixed tree, so results are bit-identical from run to run.

var<workgroup> scratch: array<Partial, WG_SIZE>;

// Round s reads slots [s, 2s) and writes [0, s): no slot is read and written at once.
fn reduceRowLanes(lid: u32, lanesPerGroup: u32, rowLanes: u32, own: Partial) -> Partial {
  var acc = own;
  scratch[lid] = acc;
  let rowLane = lid / lanesPerGroup;
  for (var s = rowLanes / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (rowLane < s) {
      acc = combine(acc, scratch[lid + s * lanesPerGroup]);
      scratch[lid] = acc;
    }
  }
  return acc;
}
