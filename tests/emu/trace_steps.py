#!/usr/bin/env python3
"""Summarises an EMU_TRACE file of the emulated train_mnist: the counts of every step (between the
MARKs that step_marks.cpp writes), and the ordered launch list of one step with its phase.
Usage: trace_steps.py TRACE [STEP]      (STEP: list that step's events; default: counts only)"""
import re, sys

NODE_OF_FILE = {'ops/conv_ops.cpp': 'Conv2dBackward', 'ops/loss_ops.cpp': 'CrossEntropyBackward',
                'ops/fused_ops.cpp': 'BiasReluBackward', 'ops/linear_ops.cpp': 'LinearBackward'}

def phase_and_op(chain):
    frames = [f.strip() for f in chain.split(' < ')] if chain else []
    def inside(anchor):  # the frame called by the first frame matching `anchor`
        for i, f in enumerate(frames):
            if re.search(anchor, f):
                return frames[i - 1] if i > 0 else f
        return None
    if any('ember::optim::' in f for f in frames):
        return 'optimizer', inside(r'^operator\(\)@apps/train_mnist/trainer') or ''
    if any(f == 'ember::autograd::backward' for f in frames):
        op = inside(r'^ember::autograd::backward$')
        m = re.match(r'apply@(.*)', op or '')
        if m: op = NODE_OF_FILE.get(m.group(1), op)
        if op and op.startswith('ember::ones_like'): op = 'seed gradient ones_like(loss)'
        return 'backward', op
    if any('forward_logits' in f for f in frames):
        return 'forward', inside(r'forward_logits') or ''
    if any(f == 'ember::cross_entropy' for f in frames):
        return 'forward', 'ember::cross_entropy'
    if any(f.startswith('ember::cuda::Graph') for f in frames):
        return 'graph', inside(r'^train_mnist::GraphedStep::run$') or ''
    op = inside(r'^operator\(\)@apps/train_mnist/trainer') or inside(r'^train_mnist::GraphedStep::run$') or ''
    if op == 'ember::index_select': return 'batch', op
    return 'bookkeeping', op

def main():
    lines = open(sys.argv[1]).read().splitlines()
    want = int(sys.argv[2]) if len(sys.argv) > 2 else None
    step, rows = None, []
    for line in lines:
        m = re.match(r'MARK (begin|end) step (\d+) \| since previous mark: (.*)', line)
        if m:
            if m.group(1) == 'end':
                print('step %s: %s' % (m.group(2), m.group(3)))
                step = None
            else:
                step = int(m.group(2))
            continue
        if step is not None and step == want and line.startswith('#'):
            head, _, chain = line.partition(' | ')
            parts = head.split(None, 4)
            category, mode, stream, rest = parts[1], parts[2], parts[3], parts[4]
            if category in ('malloc', 'free'):
                continue
            phase, op = phase_and_op(chain)
            rows.append((category, mode, stream, rest, phase, op))
    if want is not None:
        print('\nstep %d (malloc/free left out):' % want)
        for i, (category, mode, stream, rest, phase, op) in enumerate(rows, 1):
            print('%2d  %-11s %-7s %-7s %-28s %s' % (i, phase, category, mode, op, rest))
        counts = {}
        for r in rows:
            key = (r[4], r[0])
            counts[key] = counts.get(key, 0) + 1
        print('\nper phase:', ', '.join('%s %s: %d' % (p, c, n) for (p, c), n in counts.items()))

main()
