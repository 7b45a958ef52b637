#!/usr/bin/python3
"""PyTorch side of newtonia's peer comparison (bench/peer).

Reads a net in newtonia's JSON + .npy format, builds the same net in
PyTorch (float64), and times the gradient, the full Hessian-vector product
H v by double backward, the block product H_00 v_0, and conjugate
gradients on H_00 u = v_0 (v = the gradient). Writes its results as .npy
into --out and prints the timings as JSON on stdout.

Threads: torch.set_num_threads does not limit the BLAS's own thread pool
(Debian's torch runs its matmuls on OpenBLAS, which starts as many threads
as cores when it is loaded). So the BLAS thread variables are set to
--threads before torch is imported (bench/peer sets them in this process's
environment too), and the JSON reports what the run had: torch's threads,
the variables, the BLAS library loaded and, for OpenBLAS, its own count.

Needs Debian's python3-torch and python3-numpy (apt-get install python3-torch
python3-numpy); it installs nothing itself.
"""
import argparse
import ctypes
import json
import os
import sys
import time

# The variables the BLAS libraries torch may load read for their thread
# count when they are loaded (OpenBLAS, GotoBLAS, OpenMP, MKL); bench/peer's
# main.go sets the same list.
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

np = torch = None  # imported by import_torch, after pin_threads


def pin_threads(threads):
    """Sets the BLAS thread variables; must run before torch is imported."""
    if "torch" in sys.modules:
        sys.exit("torch_peer: torch imported before its BLAS threads were pinned")
    for var in BLAS_THREAD_VARS:
        os.environ[var] = str(threads)


def import_torch():
    global np, torch
    try:
        import numpy
        import torch as t
    except ImportError as e:  # say what to install, never install it
        sys.exit(f"torch_peer: {e}: install Debian's python3-torch and python3-numpy "
                 "(apt-get install python3-torch python3-numpy)")
    np, torch = numpy, t


def blas_in_use():
    """The BLAS library this process loaded and, for OpenBLAS, its thread count
    (openblas_get_num_threads); (path or None, count or None)."""
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                base = os.path.basename(line.split()[-1]).lower()
                if "blas" in base or "mkl" in base:
                    paths.add(os.path.realpath(line.split()[-1]))
    except OSError:
        return None, None
    rank = lambda p: ("openblas" not in os.path.basename(p), "mkl" not in os.path.basename(p), p)
    for path in sorted(paths, key=rank):
        try:
            return path, int(ctypes.CDLL(path).openblas_get_num_threads())
        except (OSError, AttributeError):
            pass
    return (min(paths) if paths else None), None


def load(path):
    with open(path) as f:
        spec = json.load(f)
    base = os.path.dirname(path)
    arr = lambda name: torch.from_numpy(np.load(os.path.join(base, name)).astype(np.float64))
    if spec.get("loss") != "half_squared_error":
        sys.exit(f"torch_peer: {path}: unsupported loss {spec.get('loss')!r}")
    layers = []
    for k, l in enumerate(spec["layers"]):
        act = l["activation"]
        if act == "leaky_relu":
            slope = float(l["slope"])
            f = lambda z, s=slope: torch.nn.functional.leaky_relu(z, s)
        elif act == "identity":
            f = lambda z: z
        elif act == "relu":
            f = torch.relu
        elif act == "tanh":
            f = torch.tanh
        else:
            sys.exit(f"torch_peer: {path}: layer {k+1}: unknown activation {act!r}")
        layers.append((arr(l["weights"]), f))
    return arr(spec["x"]), arr(spec["y"]), layers


def loss_fn(x, y, ws, acts):
    h = x
    for w, f in zip(ws, acts):
        h = f(h @ w)
    return 0.5 * ((h - y) ** 2).sum()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}  # as bench/peer's -clock


def timed(fn, reps, clock=time.perf_counter):
    fn()  # warm up
    best = float("inf")
    for _ in range(reps):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def peak_rss_bytes():
    """This process's peak resident set size in bytes (ru_maxrss is in kB on Linux)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cg-tol", type=float, default=1e-8)
    ap.add_argument("--cg-maxiter", type=int, default=20000)
    ap.add_argument("--cg-seconds", type=float, default=60)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    a = ap.parse_args()
    if a.threads < 1:
        sys.exit(f"torch_peer: --threads {a.threads}: want at least 1")
    pin_threads(a.threads)
    import_torch()
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(a.threads)
    except RuntimeError:  # already started: reported below as it is
        pass
    blas_library, blas_threads = blas_in_use()
    x, y, layers = load(a.net)
    ws = [w.clone().requires_grad_(True) for w, _ in layers]
    acts = [f for _, f in layers]

    def grad():
        return torch.autograd.grad(loss_fn(x, y, ws, acts), ws)

    t_grad, g = timed(grad, a.reps, CLOCKS[a.clock])
    v = [gi.detach() for gi in g]

    def hv():
        gs = torch.autograd.grad(loss_fn(x, y, ws, acts), ws, create_graph=True)
        return torch.autograd.grad(gs, ws, grad_outputs=v)

    t_hv, hvs = timed(hv, a.reps, CLOCKS[a.clock])

    def block_hv():
        g0 = torch.autograd.grad(loss_fn(x, y, ws, acts), ws[0], create_graph=True)[0]
        return torch.autograd.grad(g0, ws[0], grad_outputs=v[0])[0]

    t_bhv, bhv = timed(block_hv, a.reps, CLOCKS[a.clock])

    # CG on H_00 u = v_0, one double backward per iteration on a retained graph.
    t0 = time.perf_counter()
    g0 = torch.autograd.grad(loss_fn(x, y, ws, acts), ws[0], create_graph=True)[0]
    op = lambda p: torch.autograd.grad(g0, ws[0], grad_outputs=p, retain_graph=True)[0]
    b = v[0]
    u = torch.zeros_like(b)
    r = b.clone()
    d = r.clone()
    rr = (r * r).sum()
    bn = b.norm()
    it, converged, reason = 0, False, "iteration cap"
    while it < a.cg_maxiter:
        if r.norm() / bn <= a.cg_tol:
            converged, reason = True, "tolerance reached"
            break
        if time.perf_counter() - t0 > a.cg_seconds:
            reason = f"time cap of {a.cg_seconds} s"
            break
        ad = op(d)
        it += 1
        curv = (d * ad).sum()
        if curv <= 0:
            reason = "non-positive curvature"
            break
        alpha = rr / curv
        u = u + alpha * d
        r = r - alpha * ad
        rr_new = (r * r).sum()
        d = r + (rr_new / rr) * d
        rr = rr_new
    t_cg = time.perf_counter() - t0
    true_res = float((op(u) - b).norm() / bn)

    os.makedirs(a.out, exist_ok=True)
    for k, gi in enumerate(g):
        np.save(os.path.join(a.out, f"grad.W{k+1}.npy"), gi.detach().numpy())
        np.save(os.path.join(a.out, f"hv.W{k+1}.npy"), hvs[k].detach().numpy())
    np.save(os.path.join(a.out, "blockhv.W1.npy"), bhv.detach().numpy())
    np.save(os.path.join(a.out, "cg.W1.npy"), u.detach().numpy())
    json.dump({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "blas_env": {var: os.environ.get(var) for var in BLAS_THREAD_VARS},
        "blas_library": blas_library, "blas_threads": blas_threads,
        "peak_rss_bytes": peak_rss_bytes(),
        "gradient_s": t_grad, "hv_s": t_hv, "block_hv_s": t_bhv,
        "cg": {"seconds": t_cg, "iterations": it, "converged": converged,
               "reason": reason, "residual": true_res},
    }, sys.stdout)


if __name__ == "__main__":
    main()
