// The workgroup grid, shared by every kernel module: the host concatenates this
// file in front of each module's source.

override WG_SIZE: u32 = 64u;

// Workgroups past maxComputeWorkgroupsPerDimension are folded into a 2D grid;
// this is the linear index of the workgroup.
fn workgroupIndex(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// The linear index of a thread in a 1D (or folded 2D) grid of WG_SIZE-wide workgroups.
fn threadIndex(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return workgroupIndex(wid, nwg) * WG_SIZE + lid;
}
