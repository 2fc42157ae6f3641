// One optimizer step on one parameter, in place, one thread per element. With
// g = grad + weightDecay · p (PyTorch's update rules):
//   SGD       p -= lr · g
//   Momentum  v = β1 · v + g;  p -= lr · v   (Nesterov: p -= lr · (g + β1 · v))
//   RMSprop   s = β2 · s + (1 - β2) · g²;  p -= lr · g / (√s + ε)
//   Adam      m = β1 · m + (1 - β1) · g;  s = β2 · s + (1 - β2) · g²;
//             p -= lr · (m / (1 - β1^t)) / (√(s / (1 - β2^t)) + ε)
// The parameter's length is its binding's length.

@group(0) @binding(1) var<storage, read> schedule: Schedule;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment1: array<f32>;  // Momentum's v, Adam's m
@group(0) @binding(5) var<storage, read_write> moment2: array<f32>;  // RMSprop's and Adam's s

const SGD = 0u;
const MOMENTUM = 1u;
const RMSPROP = 2u;
const ADAM = 3u;
override KIND: u32 = SGD;
override NESTEROV: bool = false;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = threadIndex(wid, nwg, lid);
  if (i >= arrayLength(&param)) { return; }
  let p = param[i];
  let g = grad[i] + hyper.weightDecay * p;
  let lr = hyper.learningRate;
  switch KIND {
    case MOMENTUM: {
      let v = hyper.beta1 * moment1[i] + g;
      moment1[i] = v;
      param[i] = p - lr * select(v, g + hyper.beta1 * v, NESTEROV);
    }
    case RMSPROP: {
      let s = hyper.beta2 * moment2[i] + hyper.oneMinusBeta2 * g * g;
      moment2[i] = s;
      param[i] = p - lr * g / (sqrt(s) + hyper.eps);
    }
    case ADAM: {
      let m = hyper.beta1 * moment1[i] + hyper.oneMinusBeta1 * g;
      let s = hyper.beta2 * moment2[i] + hyper.oneMinusBeta2 * g * g;
      moment1[i] = m;
      moment2[i] = s;
      param[i] = p - lr * (m / schedule.correction1) / (sqrt(s / schedule.correction2) + hyper.eps);
    }
    default: {
      param[i] = p - lr * g;
    }
  }
}
