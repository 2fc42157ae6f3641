// Every shared case, for runners that execute them all (the Chrome suite): batch
// norm's and the training layers'.
import type { Case } from './case.js';
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

export const caseGroups: Record<string, Case[]> = {
  'parity with the float64 reference': parityCases,
  numerics: numericsCases,
  'bad input': validationCases,
  'GPU-resident API': apiCases,
  'parity with PyTorch': torchCases,
  reliability: reliabilityCases,
  'data-parallel': dataParallelCases,
  'fused epilogues': fusedCases,
  'float16 storage': halfCases,
  ...trainingCaseGroups,
};
