// Batch norm's WGSL stages and what the host reads out of them.
import { parseConst, parseStruct, stageSource } from '../gpu/wgsl.js';
import traversal from '../../shaders/batchnorm/traversal.wgsl?raw';
import tensors from '../../shaders/batchnorm/tensors.wgsl?raw';
import reduce from '../../shaders/batchnorm/reduce.wgsl?raw';
import stats from '../../shaders/batchnorm/stats.wgsl?raw';
import finalize from '../../shaders/batchnorm/finalize.wgsl?raw';
import apply from '../../shaders/batchnorm/apply.wgsl?raw';
import gradReduce from '../../shaders/batchnorm/grad-reduce.wgsl?raw';
import gradFinalize from '../../shaders/batchnorm/grad-finalize.wgsl?raw';
import merge from '../../shaders/batchnorm/merge.wgsl?raw';

/**
 * Each stage: grid.wgsl and traversal.wgsl (Params, the traversals, the moments);
 * tensors.wgsl (x and dy bindings, tail loaders) where it reads tensors; reduce.wgsl
 * (the workgroup tree) where it reduces; then its own file.
 */
export const stages = {
  stats: stageSource('batchnorm stats', traversal, tensors, reduce, stats),
  finalize: stageSource('batchnorm finalize', traversal, finalize),
  apply: stageSource('batchnorm apply', traversal, tensors, apply),
  gradReduce: stageSource('batchnorm grad reduce', traversal, tensors, reduce, gradReduce),
  gradFinalize: stageSource('batchnorm grad finalize', traversal, gradFinalize),
  merge: stageSource('batchnorm merge', merge),
};

export const mergeFields = parseStruct(merge, 'MergeParams');
/** Sections of C floats in split statistics (count, mean, meanLow, M2) and in gradient sums (count, Σdy, Σdy·x̂). */
export const STATISTICS_SECTIONS = parseConst(merge, 'STATISTICS_SECTIONS');
export const SUM_SECTIONS = parseConst(gradFinalize, 'SUM_SECTIONS');

export const paramsFields = parseStruct(traversal, 'Params');
export const FEATURE_SECTIONS = parseConst(traversal, 'FEATURE_SECTIONS');
export const PARTIAL_SECTIONS = parseConst(traversal, 'PARTIAL_SECTIONS');

/** bn-finalize's MODE: which statistics a forward normalizes with, and whether it updates the running ones. */
export const FINALIZE_MODE = {
  batch: parseConst(finalize, 'BATCH'),
  'batch-and-running': parseConst(finalize, 'BATCH_AND_RUNNING'),
  running: parseConst(finalize, 'RUNNING'),
  shard: parseConst(finalize, 'SHARD'),
  given: parseConst(finalize, 'GIVEN'),
  'given-and-running': parseConst(finalize, 'GIVEN_AND_RUNNING'),
  tick: parseConst(finalize, 'TICK'),
};

/** bn-grad-finalize's MODE: gradients through batch statistics or through running ones. */
export const GRAD_FINALIZE_MODE = {
  batch: parseConst(gradFinalize, 'BATCH'),
  running: parseConst(gradFinalize, 'RUNNING'),
  sums: parseConst(gradFinalize, 'SUMS'),
  'given-sums': parseConst(gradFinalize, 'GIVEN_SUMS'),
};
