#!/usr/bin/env python3
"""Records batch-norm cases computed by PyTorch itself, for tests/cases/torch.ts to replay.

Every case is a module (nn.BatchNorm1d/2d/3d, or F.batch_norm without running
statistics) with seeded initial weight, bias, running_mean, running_var and
num_batches_tracked, run through a sequence of train()/eval() steps. Each step is a
forward and a backward through autograd with a seeded upstream gradient (or the
gradient of relu(y).sum()), computed twice from the same float32 inputs and the
same float32 state entering the step: in float32 (what PyTorch users get) and in
float64 (the truth both are judged by). The replay starts each step from PyTorch's
state after the previous one (setState), so every comparison has identical inputs.

Output (under --out, default tests/fixtures/torch/):
  data.f32.bin   little-endian float32: inputs, initial state, PyTorch's float32 results
  truth.f64.bin  little-endian float64: the same computation in float64
  index.json     torch version, seed, and per case its options and [offset, length]
                 (in elements) of every array in those files

Usage: /usr/bin/python3 scripts/torch-fixtures.py [--seed N|random] [--out DIR]
       [--vary-shapes] [--only SUBSTRING] [--list]
Each case draws from its own generator, seeded by --seed and its name, so adding a
case leaves the others' data unchanged. To add a case, append a spec to CASES; new
modules go in MODULES, new losses after the batch norm in HEADS (see 'relu-sum').
"""
import argparse
import copy
import json
import os
import random
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_SEED = 20240611
# torch.testing.assert_close's defaults for float32; the replay uses the same.
RTOL, ATOL = 1.3e-6, 1e-5

TRAIN_EVAL = ['train', 'train', 'eval', 'train', 'eval']


def spec(name, module, layout, shape, steps=None, head='linear', offset=0.0, scale=1.0, init='random', x=None, exact=(), **options):
    """A case: the module, our layout, the memory shape in that layout, the module's options, the steps.
    exact: quantities the replay must match bit for bit (the seed case's dx)."""
    return dict(name=name, module=module, layout=layout, shape=list(shape), steps=list(steps or TRAIN_EVAL), head=head,
                offset=offset, scale=scale, init=init, x=x, exact=list(exact),
                options=dict(eps=options.get('eps', 1e-5), momentum=options.get('momentum', 0.1),
                             affine=options.get('affine', True), track_running_stats=options.get('track_running_stats', True)))


# Steps are 'train' or 'eval', or (mode, shape) for a step with another batch size.
CASES = [
    # the seed case: relu(bn(x)).sum() at x = [[-1], [1]]: dx is exactly [0, 0]
    spec('seed: BatchNorm1d(1, momentum=0, eps=0, affine=False), x=[[-1],[1]], relu, sum', 'BatchNorm1d', 'NC', [2, 1],
         steps=['train'], head='relu-sum', init='default', x=[-1.0, 1.0], exact=['dx'], eps=0.0, momentum=0.0, affine=False),

    # BatchNorm1d on [N, C]
    spec('BatchNorm1d NC defaults', 'BatchNorm1d', 'NC', [16, 5]),
    spec('BatchNorm1d NC eps=0', 'BatchNorm1d', 'NC', [8, 3], eps=0.0),
    spec('BatchNorm1d NC eps=1e-3 momentum=0.3', 'BatchNorm1d', 'NC', [12, 4], eps=1e-3, momentum=0.3),
    spec('BatchNorm1d NC momentum=None (cumulative)', 'BatchNorm1d', 'NC', [10, 6], momentum=None),
    spec('BatchNorm1d NC momentum=0', 'BatchNorm1d', 'NC', [9, 3], momentum=0.0),
    spec('BatchNorm1d NC momentum=1', 'BatchNorm1d', 'NC', [9, 3], momentum=1.0),
    spec('BatchNorm1d NC affine=False', 'BatchNorm1d', 'NC', [16, 4], affine=False),
    spec('BatchNorm1d NC track_running_stats=False', 'BatchNorm1d', 'NC', [16, 4], track_running_stats=False),
    spec('BatchNorm1d NC affine=False track_running_stats=False', 'BatchNorm1d', 'NC', [7, 5], affine=False, track_running_stats=False),
    spec('BatchNorm1d NC affine=False momentum=None eps=0', 'BatchNorm1d', 'NC', [11, 2], affine=False, momentum=None, eps=0.0),
    spec('BatchNorm1d NC m=2', 'BatchNorm1d', 'NC', [2, 4]),
    spec('BatchNorm1d NC C=1', 'BatchNorm1d', 'NC', [100, 1]),
    spec('BatchNorm1d NC C=300', 'BatchNorm1d', 'NC', [3, 300]),
    spec('BatchNorm1d NC eval with a batch of 1', 'BatchNorm1d', 'NC', [8, 6], steps=['train', ('eval', [1, 6]), 'train', ('eval', [3, 6])]),
    spec('BatchNorm1d NC offset +1e4', 'BatchNorm1d', 'NC', [32, 4], offset=1e4),
    spec('BatchNorm1d NC offset -1e4 eps=0 momentum=None', 'BatchNorm1d', 'NC', [24, 3], offset=-1e4, eps=0.0, momentum=None),
    spec('BatchNorm1d NC tiny scale 1e-3', 'BatchNorm1d', 'NC', [32, 3], scale=1e-3),
    spec('BatchNorm1d NC relu(bn(x)).sum()', 'BatchNorm1d', 'NC', [16, 4], head='relu-sum'),

    # BatchNorm1d on [N, C, L]
    spec('BatchNorm1d NCL defaults', 'BatchNorm1d', 'NCL', [4, 3, 10]),
    spec('BatchNorm1d NCL eps=0 momentum=None', 'BatchNorm1d', 'NCL', [2, 5, 7], eps=0.0, momentum=None),
    spec('BatchNorm1d NCL affine=False offset +1e4', 'BatchNorm1d', 'NCL', [3, 4, 16], affine=False, offset=1e4),
    spec('BatchNorm1d NCL one sample', 'BatchNorm1d', 'NCL', [1, 2, 9]),
    spec('BatchNorm1d NCL track_running_stats=False', 'BatchNorm1d', 'NCL', [5, 2, 50], track_running_stats=False),
    spec('BatchNorm1d NCL eps=0.1 momentum=0.5', 'BatchNorm1d', 'NCL', [3, 3, 8], eps=0.1, momentum=0.5),
    spec('BatchNorm1d NCL large scale 1e3 eps=0', 'BatchNorm1d', 'NCL', [4, 3, 8], scale=1e3, eps=0.0),
    spec('BatchNorm1d NCL L=2 momentum=1', 'BatchNorm1d', 'NCL', [3, 6, 2], momentum=1.0),

    # BatchNorm2d on NCHW
    spec('BatchNorm2d NCHW defaults', 'BatchNorm2d', 'NCHW', [2, 3, 4, 5]),
    spec('BatchNorm2d NCHW momentum=None', 'BatchNorm2d', 'NCHW', [4, 8, 3, 3], momentum=None),
    spec('BatchNorm2d NCHW eps=0 one sample', 'BatchNorm2d', 'NCHW', [1, 3, 7, 7], eps=0.0),
    spec('BatchNorm2d NCHW offset +1e4', 'BatchNorm2d', 'NCHW', [2, 4, 8, 8], offset=1e4),
    spec('BatchNorm2d NCHW affine=False track_running_stats=False', 'BatchNorm2d', 'NCHW', [3, 2, 5, 6], affine=False, track_running_stats=False),
    spec('BatchNorm2d NCHW momentum=0.01', 'BatchNorm2d', 'NCHW', [2, 16, 4, 4], momentum=0.01),
    spec('BatchNorm2d NCHW C=1', 'BatchNorm2d', 'NCHW', [2, 1, 9, 11]),
    spec('BatchNorm2d NCHW momentum=0 eps=1e-3', 'BatchNorm2d', 'NCHW', [2, 5, 3, 4], momentum=0.0, eps=1e-3),
    spec('BatchNorm2d NCHW relu(bn(x)).sum()', 'BatchNorm2d', 'NCHW', [2, 4, 5, 5], head='relu-sum'),

    # BatchNorm2d on NHWC memory (channels last)
    spec('BatchNorm2d NHWC defaults', 'BatchNorm2d', 'NHWC', [2, 4, 5, 3]),
    spec('BatchNorm2d NHWC momentum=None eps=0', 'BatchNorm2d', 'NHWC', [2, 3, 3, 8], momentum=None, eps=0.0),
    spec('BatchNorm2d NHWC m=4', 'BatchNorm2d', 'NHWC', [1, 2, 2, 6]),
    spec('BatchNorm2d NHWC offset -1e4', 'BatchNorm2d', 'NHWC', [4, 5, 5, 4], offset=-1e4),
    spec('BatchNorm2d NHWC affine=False', 'BatchNorm2d', 'NHWC', [2, 6, 6, 5], affine=False),
    spec('BatchNorm2d NHWC track_running_stats=False', 'BatchNorm2d', 'NHWC', [3, 3, 3, 7], track_running_stats=False),
    spec('BatchNorm2d NHWC C=16', 'BatchNorm2d', 'NHWC', [2, 8, 8, 16]),
    spec('BatchNorm2d NHWC relu(bn(x)).sum() momentum=None', 'BatchNorm2d', 'NHWC', [2, 3, 4, 6], head='relu-sum', momentum=None),

    # F.batch_norm(x, None, None, weight, bias, training=True, eps=...): no running statistics
    spec('F.batch_norm NC no running stats', 'functional', 'NC', [16, 6], steps=['train'] * 3),
    spec('F.batch_norm NCL no running stats eps=0', 'functional', 'NCL', [3, 4, 9], steps=['train'] * 3, eps=0.0),
    spec('F.batch_norm NCHW no running stats no weight', 'functional', 'NCHW', [2, 3, 5, 5], steps=['train'] * 3, affine=False),
    spec('F.batch_norm NHWC no running stats offset +1e4', 'functional', 'NHWC', [2, 4, 4, 5], steps=['train'] * 3, offset=1e4),

    # BatchNorm3d on NCDHW, and on NDHWC memory (channels last)
    spec('BatchNorm3d NCDHW defaults', 'BatchNorm3d', 'NCDHW', [2, 3, 3, 4, 5]),
    spec('BatchNorm3d NCDHW momentum=None eps=0 offset +1e4', 'BatchNorm3d', 'NCDHW', [2, 2, 2, 3, 4], momentum=None, eps=0.0, offset=1e4),
    spec('BatchNorm3d NDHWC defaults', 'BatchNorm3d', 'NDHWC', [2, 3, 2, 4, 5]),
    spec('BatchNorm3d NDHWC affine=False track_running_stats=False', 'BatchNorm3d', 'NDHWC', [1, 2, 3, 3, 4], affine=False, track_running_stats=False),
]

CHANNEL_DIM = {'NC': 1, 'NCL': 1, 'NCHW': 1, 'NHWC': 3, 'NCDHW': 1, 'NDHWC': 4}


def to_torch_layout(t, layout):
    """Our memory layout to what the module takes: NHWC (NDHWC) memory is a channels-last NCHW (NCDHW) view."""
    if layout == 'NHWC':
        return t.permute(0, 3, 1, 2)
    return t.permute(0, 4, 1, 2, 3) if layout == 'NDHWC' else t


def from_torch_layout(t, layout):
    if layout == 'NHWC':
        return t.permute(0, 2, 3, 1)
    return t.permute(0, 2, 3, 4, 1) if layout == 'NDHWC' else t


class ModuleRun:
    """nn.BatchNorm1d / 2d / 3d in float32 and a float64 copy."""

    def __init__(self, cls, c, o):
        self.m32 = cls(c, eps=o['eps'], momentum=o['momentum'], affine=o['affine'], track_running_stats=o['track_running_stats'])
        self.m64 = None

    def set_state(self, state):
        with torch.no_grad():
            for k, v in state.items():
                if v is None:
                    continue
                getattr(self.m32, k).copy_(torch.as_tensor(v))
        self.m64 = copy.deepcopy(self.m32).double()

    def state(self, which):
        m = self.m32 if which == 32 else self.m64
        get = lambda k: None if getattr(m, k, None) is None else getattr(m, k).detach().clone()
        return {k: get(k) for k in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')}

    def set_mode(self, training):
        """Before each step: the float64 copy restarts from the float32 state, so each step's truth
        is the float64 computation from exactly the inputs and state PyTorch's float32 step had."""
        self.m32.zero_grad(set_to_none=True)
        self.m32.train(training)
        self.m64 = copy.deepcopy(self.m32).double()

    def params(self, which):
        m = self.m32 if which == 32 else self.m64
        return m.weight, m.bias

    def forward(self, x, which):
        return (self.m32 if which == 32 else self.m64)(x)

    def zero_grad(self):
        self.m32.zero_grad(set_to_none=True)
        self.m64.zero_grad(set_to_none=True)


class FunctionalRun:
    """F.batch_norm(x, None, None, weight, bias, training=True, eps=eps): batch statistics, nothing tracked."""

    def __init__(self, c, o):
        self.o = o
        self.c = c
        self.p32 = self.p64 = (None, None)

    def set_state(self, state):
        if self.o['affine']:
            w = torch.as_tensor(state['weight'], dtype=torch.float32)
            b = torch.as_tensor(state['bias'], dtype=torch.float32)
            self.p32 = (w.clone().requires_grad_(), b.clone().requires_grad_())
            self.p64 = (w.double().requires_grad_(), b.double().requires_grad_())

    def state(self, which):
        w, b = self.p32 if which == 32 else self.p64
        d = lambda t: None if t is None else t.detach().clone()
        return dict(weight=d(w), bias=d(b), running_mean=None, running_var=None, num_batches_tracked=None)

    def set_mode(self, training):
        if not training:
            raise ValueError('F.batch_norm without running statistics needs training=True')

    def params(self, which):
        return self.p32 if which == 32 else self.p64

    def forward(self, x, which):
        w, b = self.params(which)
        return F.batch_norm(x, None, None, w, b, training=True, eps=self.o['eps'])

    def zero_grad(self):
        for p in (*self.p32, *self.p64):
            if p is not None:
                p.grad = None


MODULES = {
    'BatchNorm1d': lambda c, o: ModuleRun(torch.nn.BatchNorm1d, c, o),
    'BatchNorm2d': lambda c, o: ModuleRun(torch.nn.BatchNorm2d, c, o),
    'BatchNorm3d': lambda c, o: ModuleRun(torch.nn.BatchNorm3d, c, o),
    'functional': FunctionalRun,
}


def head_linear(y, gen):
    """loss = sum(y * g) for a seeded g: the upstream gradient is g."""
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64).float()
    return lambda yy: (yy * g.to(yy.dtype)).sum(), g


def head_relu_sum(y, gen):
    """loss = relu(y).sum(): the upstream gradient of y is (y > 0)."""
    return lambda yy: torch.relu(yy).sum(), None


HEADS = {'linear': head_linear, 'relu-sum': head_relu_sum}


class Blob:
    """Arrays appended to one little-endian binary file; refs are [offset, length] in elements."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype).newbyteorder('<')
        self.parts = []
        self.size = 0

    def add(self, t):
        if t is None:
            return None
        a = np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t), dtype=self.dtype).reshape(-1)
        ref = [self.size, int(a.size)]
        self.parts.append(a.tobytes())
        self.size += int(a.size)
        return ref

    def write(self, path):
        with open(path, 'wb') as f:
            for p in self.parts:
                f.write(p)


def case_seed(seed, name):
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)


def vary_shape(layout, shape, rng):
    """Another small shape of the same layout (for --vary-shapes), keeping more than one value per feature."""
    while True:
        if layout == 'NC':
            s = [rng.randint(2, 64), rng.randint(1, 64)]
        elif layout == 'NCL':
            s = [rng.randint(1, 8), rng.randint(1, 16), rng.randint(1, 40)]
        else:
            n, c, h, w = rng.randint(1, 4), rng.randint(1, 16), rng.randint(1, 9), rng.randint(1, 9)
            s = [n, c, h, w] if layout == 'NCHW' else [n, h, w, c]
        c = s[CHANNEL_DIM[layout]]
        if np.prod(s) // c >= 2:
            return s


def run_case(sp, seed, blob32, blob64, vary=False):
    gen = torch.Generator().manual_seed(case_seed(seed, sp['name']))
    layout, o = sp['layout'], sp['options']
    shape = sp['shape']
    steps = [(s, None) if isinstance(s, str) else (s[0], list(s[1])) for s in sp['steps']]
    if vary and sp['x'] is None:
        rng = random.Random(case_seed(seed, sp['name'] + '/shape'))
        shape = vary_shape(layout, shape, rng)
        cd = CHANNEL_DIM[layout]
        # a step of another batch size keeps its batch size; everything else follows the new shape
        steps = [(mode, None if s is None else [s[0]] + shape[1:]) for mode, s in steps]
        running = o['track_running_stats'] and sp['module'] != 'functional'
        steps = [(mode, s) for mode, s in steps if (mode == 'eval' and running) or np.prod(s or shape) // (s or shape)[cd] >= 2]
    cd = CHANNEL_DIM[layout]
    c = shape[cd]
    run = MODULES[sp['module']](c, o)
    randn = lambda *size: torch.randn(size, generator=gen, dtype=torch.float64)
    rand = lambda *size: torch.rand(size, generator=gen, dtype=torch.float64)

    # per-feature location and scale of the data, fixed for the case
    loc = sp['offset'] * (2 * rand(c) - 1) if sp['offset'] else 3 * randn(c)
    if sp['offset']:
        loc = loc.sign() * torch.maximum(loc.abs(), torch.full_like(loc, abs(sp['offset']) / 2))
    spread = sp['scale'] * (0.2 + 3 * rand(c))

    if sp['init'] == 'default':
        initial = dict(weight=None, bias=None, running_mean=None, running_var=None, num_batches_tracked=None)
        if sp['module'] == 'functional' and o['affine']:
            initial.update(weight=torch.ones(c), bias=torch.zeros(c))
    else:
        initial = dict(
            weight=(1 + 0.5 * randn(c)).float() if o['affine'] else None,
            bias=randn(c).float() if o['affine'] else None,
            running_mean=(loc + spread * randn(c)).float() if o['track_running_stats'] else None,
            running_var=(spread ** 2 * (0.25 + 2 * rand(c))).float() if o['track_running_stats'] else None,
            num_batches_tracked=torch.tensor(int(torch.randint(0, 200, (1,), generator=gen))) if o['track_running_stats'] else None,
        )
    if sp['module'] == 'functional':
        initial.update(running_mean=None, running_var=None, num_batches_tracked=None)
    run.set_state(initial)
    s0 = run.state(32)

    record = dict(
        name=sp['name'], module=sp['module'], layout=layout, numFeatures=c, head=sp['head'], exact=sp['exact'],
        options=dict(eps=o['eps'], momentum=o['momentum'], affine=o['affine'],
                     trackRunningStats=o['track_running_stats'] and sp['module'] != 'functional'),
        initial=dict(gamma=blob32.add(s0['weight']), beta=blob32.add(s0['bias']),
                     runningMean=blob32.add(s0['running_mean']), runningVar=blob32.add(s0['running_var']),
                     numBatchesTracked=None if s0['num_batches_tracked'] is None else int(s0['num_batches_tracked'])),
        steps=[],
    )
    view = [1] * len(shape)
    for mode, step_shape in steps:
        sh = step_shape or shape
        view = [1] * len(sh)
        view[cd] = c
        if sp['x'] is not None:
            x32 = torch.tensor(sp['x'], dtype=torch.float64).reshape(sh).float()
        else:
            x32 = (randn(*sh) * spread.reshape(view) + loc.reshape(view)).float()
        training = mode == 'train'
        run.set_mode(training)
        run.zero_grad()
        out = {}
        for which, dtype in ((32, torch.float32), (64, torch.float64)):
            x = x32.detach().clone().to(dtype).requires_grad_()
            y = from_torch_layout(run.forward(to_torch_layout(x, layout), which), layout)
            if which == 32:
                loss_of, g = HEADS[sp['head']](y, gen)
            loss_of(y).backward()
            w, b = run.params(which)
            st = run.state(which)
            out[which] = dict(y=y, dx=x.grad, dgamma=None if w is None else w.grad, dbeta=None if b is None else b.grad,
                              runningMean=st['running_mean'], runningVar=st['running_var'],
                              numBatchesTracked=None if st['num_batches_tracked'] is None else int(st['num_batches_tracked']))
        dy = g if g is not None else (out[32]['y'] > 0).float()
        keys = ('y', 'dx', 'dgamma', 'dbeta', 'runningMean', 'runningVar')
        record['steps'].append(dict(
            training=training, shape=sh, x=blob32.add(x32), dy=blob32.add(dy),
            torch={**{k: blob32.add(out[32][k]) for k in keys}, 'numBatchesTracked': out[32]['numBatchesTracked']},
            truth={**{k: blob64.add(out[64][k]) for k in keys}, 'numBatchesTracked': out[64]['numBatchesTracked']},
        ))
    return record


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seed', default=str(DEFAULT_SEED), help="an integer, or 'random'")
    p.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'torch'))
    p.add_argument('--vary-shapes', action='store_true', help='draw other small shapes from the seed (live parity runs)')
    p.add_argument('--only', default=None, help='only cases whose name contains this')
    p.add_argument('--list', action='store_true', help='print the case names and exit')
    a = p.parse_args()
    if a.list:
        print('\n'.join(c['name'] for c in CASES))
        return
    seed = random.SystemRandom().randrange(2**31) if a.seed == 'random' else int(a.seed)
    torch.set_num_threads(1)  # one reduction order on every machine
    blob32, blob64 = Blob(np.float32), Blob(np.float64)
    cases = [run_case(sp, seed, blob32, blob64, a.vary_shapes) for sp in CASES if a.only is None or a.only in sp['name']]
    os.makedirs(a.out, exist_ok=True)
    blob32.write(os.path.join(a.out, 'data.f32.bin'))
    blob64.write(os.path.join(a.out, 'truth.f64.bin'))
    index = dict(
        format=1,
        generator='scripts/torch-fixtures.py',
        torch=torch.__version__,
        python=sys.version.split()[0],
        seed=seed,
        varyShapes=a.vary_shapes,
        tolerance=dict(rtol=RTOL, atol=ATOL, source='torch.testing.assert_close defaults for float32'),
        files=dict(f32='data.f32.bin', f64='truth.f64.bin'),
        note='refs are [offset, length] in elements; "torch" arrays are float32 in data.f32.bin, "truth" arrays float64 in truth.f64.bin',
        cases=cases,
    )
    with open(os.path.join(a.out, 'index.json'), 'w') as f:
        json.dump(index, f, separators=(',', ':'))
        f.write('\n')
    size = (blob32.size * 4 + blob64.size * 8) / 1e6
    print(f'{len(cases)} cases, {sum(len(c["steps"]) for c in cases)} steps, seed {seed}, torch {torch.__version__}: '
          f'{blob32.size} float32 + {blob64.size} float64 ({size:.2f} MB) in {os.path.normpath(a.out)}')


if __name__ == '__main__':
    main()
