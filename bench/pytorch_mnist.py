#!/usr/bin/env python3
"""The peer of dnitrain's MNIST runs, in PyTorch: the same network
(784-256-256-10, batch norm, ReLU), the same modes (bprop, dni, cdni), the
same synthesizers (hidden layers with batch norm) and update order, Adam 3e-4, batch 256, inputs
standardised with the training set's mean and std.

Set-up (Debian 12): apt-get install python3-torch libopenblas0-pthread
(without OpenBLAS, torch falls back to the reference BLAS, ten times
slower). Run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so that
OpenBLAS picks its kernels for this CPU:

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 \
      bench/pytorch_mnist.py --mode cdni --epochs 1 --threads 1

Prints one JSON object per epoch: mode, epoch, seconds (training time),
test_error (percent).
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.path.join(HERE, "..", "data", "mnist")


def read_idx(name):
    with gzip.open(os.path.join(MNIST, name + ".gz"), "rb") as f:
        b = f.read()
    magic, n = struct.unpack(">II", b[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", b[8:16])
        return np.frombuffer(b, np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32) / 255
    return np.frombuffer(b, np.uint8, offset=8).astype(np.int64)


def synthesizer(width_in, classes, hidden, width):
    layers, w = [], width_in + classes
    for _ in range(hidden):
        layers += [nn.Linear(w, width), nn.BatchNorm1d(width), nn.ReLU()]
        w = width
    last = nn.Linear(w, width_in)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["bprop", "dni", "cdni"], default="cdni")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sg-hidden", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sg_hidden = args.sg_hidden if args.sg_hidden is not None else (2 if args.mode == "dni" else 0)

    xtr, ytr = read_idx("train-images-idx3-ubyte"), read_idx("train-labels-idx1-ubyte")
    xte, yte = read_idx("t10k-images-idx3-ubyte"), read_idx("t10k-labels-idx1-ubyte")
    mean, std = xtr.mean(), xtr.std()
    xtr, xte = torch.from_numpy((xtr - mean) / std), torch.from_numpy((xte - mean) / std)
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)

    hidden = [nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU()),
              nn.Sequential(nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU())]
    top = nn.Linear(256, 10)
    opts = [torch.optim.Adam(m.parameters(), lr=3e-4) for m in hidden + [top]]
    classes = 10 if args.mode == "cdni" else 0
    synths = [synthesizer(256, classes, sg_hidden, 1024) for _ in hidden] if args.mode != "bprop" else []
    sg_opts = [torch.optim.Adam(s.parameters(), lr=3e-4) for s in synths]
    batch = 256

    def sg_input(h, y1h):
        return torch.cat([h, y1h], 1) if classes else h

    for epoch in range(1, args.epochs + 1):
        for m in hidden + [top]:
            m.train()
        perm = torch.randperm(len(xtr))
        start = time.perf_counter()
        for lo in range(0, len(xtr), batch):
            idx = perm[lo:lo + batch]
            x, y = xtr[idx], ytr[idx]
            B = len(idx)
            if args.mode == "bprop":
                for o in opts:
                    o.zero_grad()
                h = x
                for m in hidden:
                    h = m(h)
                F.cross_entropy(top(h), y).backward()
                for o in opts:
                    o.step()
                continue
            y1h = F.one_hot(y, 10).float()
            h_in, pending = x, None  # pending: (synthesizer index, its prediction)
            for i, m in enumerate(hidden):
                h_in = h_in.detach().requires_grad_(i > 0)
                h = m(h_in)
                pred = synths[i](sg_input(h.detach(), y1h)) / B  # per-sample units
                opts[i].zero_grad()
                h.backward(pred.detach())
                opts[i].step()
                if pending is not None:  # δ_{i-1} trains M_{i-1}
                    j, p = pending
                    sg_opts[j].zero_grad()
                    (B * ((p - h_in.grad) ** 2).sum()).backward()
                    sg_opts[j].step()
                pending, h_in = (i, pred), h
            h_in = h_in.detach().requires_grad_(True)
            opts[-1].zero_grad()
            F.cross_entropy(top(h_in), y).backward()
            opts[-1].step()
            j, p = pending
            sg_opts[j].zero_grad()
            (B * ((p - h_in.grad) ** 2).sum()).backward()
            sg_opts[j].step()
        seconds = time.perf_counter() - start
        for m in hidden + [top]:
            m.eval()
        with torch.no_grad():
            h = xte
            for m in hidden:
                h = m(h)
            err = (top(h).argmax(1) != yte).float().mean().item() * 100
        print(json.dumps({"mode": args.mode, "epoch": epoch, "seconds": seconds, "test_error": err,
                          "threads": args.threads}), flush=True)


if __name__ == "__main__":
    main()
