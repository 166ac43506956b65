#!/usr/bin/python3
"""Helper of bench/bench_nn.sh: writes batched random inputs for a parity model, and times
the same architecture in PyTorch (eager, and TorchScript frozen + optimize_for_inference,
which folds BatchNorm like radnode does) with a given thread count.

  bench_nn.py inputs MODEL.onnx OUTDIR BATCH     -> prints "--in NAME=FILE ..." for radnode
  bench_nn.py torch NAME BATCH THREADS WARMUP REPEAT
"""
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def inputs(model, outdir, batch):
    import onnx
    m = onnx.load(model)
    inits = {i.name for i in m.graph.initializer}
    args = []
    rng = np.random.default_rng(0)
    for i in m.graph.input:
        if i.name in inits:
            continue
        shp = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
        shp[0] = batch
        fn = os.path.join(outdir, "%s_b%d.npy" % (i.name, batch))
        np.save(fn, rng.standard_normal(shp).astype("<f4"))
        args.append("--in %s=%s" % (i.name, fn))
    print(" ".join(args))


def build(name):
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools", "nn"))
    import gen_models as g
    torch.manual_seed(0)
    if name == "boneage":
        sys.path.insert(0, os.path.join(ROOT, "tools", "boneage"))
        import model as bm
        return bm.BoneAgeNet(), {"image": (1, 256, 256), "male": (1,)}
    nets = {"resnet18s": (g.ResNet18Like, {"input": (3, 64, 64)}),
            "mobilenetv2s": (g.MobileNetV2Like, {"input": (3, 64, 64)}),
            "unet2d": (g.UNetLike, {"input": (1, 64, 64)}),
            "cnn3d": (g.CNN3D, {"input": (1, 16, 32, 32)}),
            "opmix": (g.OpMix, {"x": (4, 16, 16), "y": (16,)})}
    cls, shapes = nets[name]
    return cls(), shapes


def timeit(fn, warmup, repeat):
    """Median wall and median process CPU time per call, in ms."""
    for _ in range(warmup):
        fn()
    t, c = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        t.append(time.perf_counter() - t0)
        c.append(time.process_time() - c0)
    t.sort()
    c.sort()
    return 1e3 * t[len(t) // 2], 1e3 * c[len(c) // 2]


def torch_bench(name, batch, threads, warmup, repeat, shapes_override=None):
    import torch
    torch.set_num_threads(threads)
    net, shapes = build(name)
    if shapes_override:
        shapes = shapes_override
    net.eval()
    args = tuple(torch.randn(batch, *s) for s in shapes.values())
    with torch.no_grad():
        med, cpu = timeit(lambda: net(*args), warmup, repeat)
        print("torch-eager: median_ms=%.4f cpu_ms=%.4f" % (med, cpu))
        try:
            fr = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, args).eval()))
            med2, cpu2 = timeit(lambda: fr(*args), warmup, repeat)
            print("torch-frozen: median_ms=%.4f cpu_ms=%.4f" % (med2, cpu2))
        except Exception as e:  # noqa: BLE001
            print("torch-frozen: unavailable (%s)" % str(e).splitlines()[0])


if __name__ == "__main__":
    if sys.argv[1] == "inputs":
        inputs(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        override = None
        if len(sys.argv) > 7:  # boneage input size from the ONNX file: C,H,W
            override = {"image": tuple(int(v) for v in sys.argv[7].split(",")), "male": (1,)}
        torch_bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                    int(sys.argv[6]), override)
