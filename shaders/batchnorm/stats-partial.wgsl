// What bn-stats' workgroups and bn-finalize's merging threads hand each other: the
// moments and the low part of their plain sum of x (Moments.sumX is its high part),
// merged in the workgroup tree (reduce.wgsl) with the plain sum's rounding errors kept.
// (Not in traversal.wgsl: bn-grad-reduce and bn-grad-finalize name their own Partial.)
struct StatsPartial {
  m: Moments,
  low: vec4f,
}

alias Partial = StatsPartial;

fn combine(a: StatsPartial, b: StatsPartial) -> StatsPartial {
  let m = chanMerge(a.m, b.m);
  return StatsPartial(m, (a.low + b.low) + twoSumError(a.m.sumX, b.m.sumX, m.sumX));
}
