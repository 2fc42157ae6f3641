// Elementwise activations, one thread per element:
//   forward   y  = f(x)
//   backward  dx = dy · f'(x), with f' written in terms of y = f(x), so the backward
//             pass needs only the forward's output:
//     ReLU     f = max(x, 0)            f' = 1 where y > 0, else 0
//     sigmoid  f = 1 / (1 + e^-x)       f' = y (1 - y)
//     tanh     f = tanh(x)              f' = 1 - y²

struct Params {
  size: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;     // forward: x; backward: y
@group(0) @binding(2) var<storage, read> dy: array<f32>;        // read only when GRAD
@group(0) @binding(3) var<storage, read_write> output: array<f32>; // forward: y; backward: dx

const RELU = 0u;
const SIGMOID = 1u;
const TANH = 2u;
override KIND: u32 = RELU;
override GRAD: bool = false;

// tanh saturates to ±1 in f32 well before |x| = 10; clamping first avoids the NaN
// that SwiftShader's tanh returns for |x| beyond about 89.
const TANH_LIMIT = 10.0;

fn activate(x: f32) -> f32 {
  switch KIND {
    case SIGMOID: { return 1.0 / (1.0 + exp(-x)); }
    case TANH: { return tanh(clamp(x, -TANH_LIMIT, TANH_LIMIT)); }
    default: { return max(x, 0.0); }
  }
}

fn derivative(y: f32) -> f32 {
  switch KIND {
    case SIGMOID: { return y * (1.0 - y); }
    case TANH: { return 1.0 - y * y; }
    default: { return select(0.0, 1.0, y > 0.0); }
  }
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = threadIndex(wid, nwg, lid);
  if (i >= params.size) { return; }
  if (GRAD) {
    output[i] = dy[i] * derivative(input[i]);
  } else {
    output[i] = activate(input[i]);
  }
}
