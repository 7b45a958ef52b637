#!/usr/bin/python3
"""PyTorch side of bench/mnist-peer: bench/mnist's net (784-h-h-10, biases,
leaky ReLU, softmax cross-entropy averaged over the batch), float64, trained
by torch.optim.Adam on the same MNIST files, initial weights and minibatch
order as newtonia's side (written by main.go as .npy into --init).

Times, best and median of --reps (wall clock and CPU time): one gradient (forward + backward) and one
Adam step (zero_grad, forward, backward, step; also with foreach=True) on the first minibatch, each
the mean of --inner calls, and one pass of Adam over the order (slicing
every minibatch out of the training set included). Writes the gradient at
the initial weights and the weights after the pass as .npy into --out and
prints the timings as JSON on stdout.

Thread pinning and the BLAS report are torch_peer.py's (bench/peer), which
this script imports: pin_threads runs before torch is imported.
"""
import argparse
import ctypes
import gzip
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peer"))
import torch_peer  # noqa: E402  (imports neither torch nor numpy itself)


def read_idx(path, header):
    """The bytes of an MNIST idx file after its header, as uint8."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return torch_peer.np.frombuffer(raw, dtype=torch_peer.np.uint8, offset=header)


def openblas_core(path):
    """OpenBLAS's kernel family (openblas_get_corename), or None."""
    try:
        f = ctypes.CDLL(path).openblas_get_corename
    except (OSError, AttributeError, TypeError):
        return None
    f.restype = ctypes.c_char_p
    return f().decode()


WARMUP_SECONDS = 2.0  # set from --warmup-seconds


def times(fn, reps, inner):
    """Best and median over reps of the mean time of inner calls of fn: wall
    clock ("best", "median") and the process's CPU time ("cpu_best",
    "cpu_median": time.process_time, CLOCK_PROCESS_CPUTIME_ID, as
    newtonia's side measures it; robust to other jobs on the machine)."""
    # Warm up: calls for at least --warmup-seconds (at most 500): the first
    # calls after the data are loaded run slower (the allocator's first
    # large blocks: measured 5.4-7.9 ms a gradient against 3.4 ms later).
    t0, n = time.perf_counter(), 0
    while n == 0 or time.perf_counter() - t0 < WARMUP_SECONDS and n < 500:
        fn()
        n += 1
    ts, cs = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        ts.append((time.perf_counter() - t0) / inner)
        cs.append((time.process_time() - c0) / inner)
    return {"best": min(ts), "median": statistics.median(ts),
            "cpu_best": min(cs), "cpu_median": statistics.median(cs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--slope", type=float, default=0.01)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--inner", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup-seconds", type=float, default=2.0)
    a = ap.parse_args()
    global WARMUP_SECONDS
    WARMUP_SECONDS = a.warmup_seconds
    if a.threads < 1:
        sys.exit(f"torch_mnist: --threads {a.threads}: want at least 1")
    torch_peer.pin_threads(a.threads)
    torch_peer.import_torch()
    np, torch = torch_peer.np, torch_peer.torch
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(a.threads)
    except RuntimeError:  # already started: reported below as it is
        pass
    blas_library, blas_threads = torch_peer.blas_in_use()
    blas_core = openblas_core(blas_library)

    x = torch.from_numpy(read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"), 16)
                         .reshape(-1, 784).astype(np.float64) / 255)
    labels = torch.from_numpy(read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"), 8).astype(np.int64))
    load = lambda name: torch.from_numpy(np.load(os.path.join(a.init, name + ".npy")))
    order = load("order").reshape(-1).to(torch.int64)
    init = [load(f"{kind}{k+1}") for k in range(a.layers) for kind in ("W", "b")]
    ps = [t.clone().requires_grad_(True) for t in init]
    steps = order.numel() // a.batch

    def loss_of(xb, yb):
        h = xb
        for k in range(a.layers):
            h = h @ ps[2 * k] + ps[2 * k + 1]
            if k < a.layers - 1:
                h = torch.nn.functional.leaky_relu(h, a.slope)
        return torch.nn.functional.cross_entropy(h, yb)

    def batch(s):
        idx = order[s * a.batch:(s + 1) * a.batch]
        return x[idx], labels[idx]

    xb0, yb0 = batch(0)

    def gradient():
        for p in ps:
            p.grad = None
        loss_of(xb0, yb0).backward()

    t_grad = times(gradient, a.reps, a.inner)
    grads = [p.grad.detach().clone() for p in ps]

    opt = torch.optim.Adam(ps, lr=a.lr)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(xb, yb)
        loss.backward()
        opt.step()
        return loss

    t_step = times(lambda: step(xb0, yb0), a.reps, a.inner)

    # The same step with torch.optim.Adam(foreach=True), PyTorch 1.13's
    # multi-tensor update (not its CPU default), from the same weights.
    with torch.no_grad():
        for p, t in zip(ps, init):
            p.copy_(t)
    opt = torch.optim.Adam(ps, lr=a.lr, foreach=True)
    t_step_foreach = times(lambda: step(xb0, yb0), a.reps, a.inner)

    def one_pass(foreach):
        nonlocal opt
        with torch.no_grad():
            for p, t in zip(ps, init):
                p.copy_(t)
        opt = torch.optim.Adam(ps, lr=a.lr, foreach=foreach)
        for s in range(steps):
            step(*batch(s))

    t_pass_foreach = times(lambda: one_pass(True), a.reps, 1)
    t_pass = times(lambda: one_pass(None), a.reps, 1)  # the default last: its weights are written
    with torch.no_grad():
        loss_after = float(loss_of(xb0, yb0))

    os.makedirs(a.out, exist_ok=True)
    names = [f"{kind}{k+1}" for k in range(a.layers) for kind in ("W", "b")]
    for name, g, p in zip(names, grads, ps):
        np.save(os.path.join(a.out, f"grad.{name}.npy"), g.numpy())
        np.save(os.path.join(a.out, f"after.{name}.npy"), p.detach().numpy())
    json.dump({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "blas_env": {var: os.environ.get(var) for var in torch_peer.BLAS_THREAD_VARS},
        "blas_library": blas_library, "blas_threads": blas_threads, "blas_core": blas_core,
        "gradient_s": t_grad, "step_s": t_step, "step_foreach_s": t_step_foreach, "pass_s": t_pass, "pass_foreach_s": t_pass_foreach, "steps": steps,
        "loss_after": loss_after,
    }, sys.stdout)


if __name__ == "__main__":
    main()
