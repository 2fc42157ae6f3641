// Softmax cross-entropy over rows of logits z [rows, classes] with integer labels.
// PyTorch's CrossEntropyLoss with mean reduction:
//   loss = (1 / rows) Σ_rows (log Σ_j e^{z_j} - z_label)
//   dz_j = (softmax(z)_j - [j == label]) / rows
// Two entry points, one bind group:
//   rowLoss: one thread per row: its loss, whether its first largest logit is the
//            label (for accuracy), and its gradient row.
//   reduce:  one workgroup adds the batch's rows into a running total that stays on
//            the GPU, so the host reads the loss only every few steps.
// A row whose label is out of range adds nothing to the loss or the gradient, and
// is counted, so that reading the loss can report it.

struct Params {
  rows: u32,
  classes: u32,
  invRows: f32,   // 1 / rows: the mean reduction
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;      // dz, written when GRAD
@group(0) @binding(4) var<storage, read_write> rowStats: array<vec3f>; // (loss, correct, bad label) per row
@group(0) @binding(5) var<storage, read_write> total: Total;

// Since the host last reset it.
struct Total {
  lossSum: f32,     // Σ over batches of the batch's mean loss
  batches: f32,
  correct: f32,     // rows whose first largest logit is the label
  rows: f32,
  badLabels: f32,   // rows whose label is not a class
}

override GRAD: bool = true;

@compute @workgroup_size(WG_SIZE)
fn rowLoss(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let row = threadIndex(wid, nwg, lid);
  if (row >= params.rows) { return; }
  let base = row * params.classes;

  // Stable: with m the row max, log Σ_j e^{z_j} - z_label = log Σ_j e^{z_j - m} - (z_label - m).
  var top = logits[base];
  var argmax = 0u;
  for (var j = 1u; j < params.classes; j++) {
    let z = logits[base + j];
    if (z > top) {
      top = z;
      argmax = j;
    }
  }
  var sumExp = 0.0;
  for (var j = 0u; j < params.classes; j++) {
    sumExp += exp(logits[base + j] - top);
  }

  let label = labels[row];
  let valid = label < params.classes;
  let loss = log(sumExp) - (logits[base + min(label, params.classes - 1u)] - top);
  rowStats[row] = select(vec3f(0.0, 0.0, 1.0), vec3f(loss, select(0.0, 1.0, argmax == label), 0.0), valid);

  if (GRAD) {
    let scale = select(0.0, params.invRows, valid);
    for (var j = 0u; j < params.classes; j++) {
      let p = exp(logits[base + j] - top) / sumExp;
      grad[base + j] = (p - select(0.0, 1.0, j == label)) * scale;
    }
  }
}

var<workgroup> partial: array<vec3f, WG_SIZE>;

// Each thread sums a strided share of the rows, then a fixed tree merges the
// threads: deterministic, no atomics. Round s reads [s, 2s) and writes [0, s).
@compute @workgroup_size(WG_SIZE)
fn reduce(@builtin(local_invocation_index) lid: u32) {
  var sum = vec3f(0.0);
  for (var row = lid; row < params.rows; row += WG_SIZE) {
    sum += rowStats[row];
  }
  partial[lid] = sum;
  for (var s = WG_SIZE / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (lid < s) {
      partial[lid] += partial[lid + s];
    }
  }
  if (lid == 0u) {
    let batch = partial[0];
    total.lossSum += batch.x * params.invRows;
    total.batches += 1.0;
    total.correct += batch.y;
    total.rows += f32(params.rows);
    total.badLabels += batch.z;
  }
}
