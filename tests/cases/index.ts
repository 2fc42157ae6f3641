// Every shared case, for runners that execute them all (the Chrome suite): batch
// norm's and the training layers'. The groups that check results run on both
// training paths (onEachPass): one dispatch each way, and three.
import { onEachPass, type Case } from './case.js';
import { parityCases } from './parity.js';
import { numericsCases } from './numerics.js';
import { validationCases } from './validate.js';
import { apiCases } from './api.js';
import { trainingCaseGroups } from './training.js';
import { torchCases } from './torch.js';
import { reliabilityCases } from './reliability.js';
import { dataParallelCases } from './data-parallel.js';
import { fusedCases } from './fused.js';
import { halfCases } from './half.js';

/** Batch norm's groups that need a device of their own choosing (tests/batch-norm.test.ts runs them on SwiftShader). */
export const batchNormCaseGroups: Record<string, Case[]> = {
  'parity with the float64 reference': onEachPass(parityCases),
  numerics: onEachPass(numericsCases),
  'GPU-resident API': apiCases,
  'parity with PyTorch': onEachPass(torchCases),
  reliability: onEachPass(reliabilityCases),
  'data-parallel': onEachPass(dataParallelCases),
  'fused epilogues': onEachPass(fusedCases),
  'float16 storage': onEachPass(halfCases),
};

export const caseGroups: Record<string, Case[]> = {
  ...batchNormCaseGroups,
  'bad input': validationCases,
  ...trainingCaseGroups,
};
