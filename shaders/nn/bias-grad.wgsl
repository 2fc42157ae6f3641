// The bias gradient of a linear layer: db[j] = Σ_rows dy[row, j], one thread per
// column, summing its rows in order (deterministic; neighbouring threads read
// neighbouring addresses).

struct Params {
  rows: u32,
  cols: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let col = threadIndex(wid, nwg, lid);
  if (col >= params.cols) { return; }
  var sum = 0.0;
  for (var row = 0u; row < params.rows; row++) {
    sum += dy[row * params.cols + col];
  }
  db[col] = sum;
}
