// Once per optimizer step, before the parameter updates: t += 1, and Adam's bias
// corrections c = 1 - β^t for the new t. Not as 1 - pow(β, t): for β near 1 that
// subtraction cancels most of the f32 digits. The recurrence
//   c_1 = 1 - β,  c_{t+1} = 1 - β · β^t = (1 - β) + β · c_t
// adds positive terms only, starting from the schedule's zeros.

@group(0) @binding(1) var<storage, read_write> schedule: Schedule;

@compute @workgroup_size(1)
fn main() {
  schedule.step += 1u;
  schedule.correction1 = hyper.oneMinusBeta1 + hyper.beta1 * schedule.correction1;
  schedule.correction2 = hyper.oneMinusBeta2 + hyper.beta2 * schedule.correction2;
}
