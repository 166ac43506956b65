#!/usr/bin/python3
"""Train the hand orientation / laterality classifier (models/boneage-orient-v1.onnx: 8 classes;
models/boneage-orient-v2.onnx: v1 fine-tuned with a ninth "not a hand" class, see --negatives).

The bone-age network expects the hand as in training: a left hand seen PA, fingers up. The C
pipeline's geometric heuristics (preprocess.c) get most images there; this small network checks
the final 256x256 network input and says which of the 8 square symmetries (4 rotations x mirror)
was applied to an upright left hand, so the pipeline can undo it.

Self-supervised on the TRAINING fold only (same split as the bone-age model): each upright image
(RSNA images are left hands, fingers up) gets a random small-angle augmentation, then one of the
8 transforms; the label is the transform:
    class = 2 * k + m,  image = rot90(fliplr(upright) if m else upright, k)   (numpy rot90: CCW)
Input: the 256x256 uint8 network input, resized to 64x64 with the same bilinear rule as
common.resize_u8 (which commutes with the 8 symmetries), x/255 normalised as the bone-age model.
Validation accuracy is measured on the validation fold (never trained on) and written to
models/boneage-orient-v1.metrics.json.

With --negatives (tools/boneage/make_negatives.py), a ninth class, NOT_HAND = 8, is learned
from images that are not hand radiographs (chest CT slices and reconstructed chest radiographs,
synthetic images), mixed into every batch at one in nine and given random symmetries too; the
C pipeline refuses an image the check calls "not a hand". Its validation figures (negatives of
held-out kinds refused; validation hands wrongly refused) are in the metrics file.

Usage: /usr/bin/python3 tools/boneage/train_orient.py [--epochs 6] [--device cpu]
v1:    ... --epochs 40 --out models/boneage-orient-v1.onnx          (60 s on a lent H100)
v2:    /usr/bin/python3 tools/boneage/make_negatives.py
       ... --negatives tools/boneage/cache/negatives64.npz --init-from models/boneage-orient-v1.onnx
           --epochs 4 --lr 1e-3 --out models/boneage-orient-v2.onnx     (5.4 min on the 2-core CPU)
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SIZE = 64


class OrientNet(nn.Module):
    def __init__(self, w=(16, 32, 64, 128), classes=8, bn=True):
        super().__init__()
        layers, cin = [], 1
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        for c in w:
            layers += [nn.Conv2d(cin, c, 3, 2, 1, bias=not bn), norm(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, 1, 1, bias=not bn), norm(c), nn.ReLU(inplace=True)]
            cin = c
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.body(x)), 1))


def small(u8):
    """uint8 [N,256,256] -> uint8 [N,64,64] (common.resize_u8 rule)."""
    return common.resize_u8(u8, SIZE)


def apply_class(x, cls):
    """x: tensor [..., H, W]; the transform of class cls = 2k + m."""
    k, m = cls // 2, cls % 2
    if m:
        x = torch.flip(x, dims=[-1])
    return torch.rot90(x, k, dims=[-2, -1])


def augment(x01, g):
    """Small geometric/photometric jitter of upright images (before the discrete transform)."""
    b, dev = x01.shape[0], x01.device
    r = lambda *s: torch.rand(*s, generator=g, device=dev)
    ang = (r(b) * 2 - 1) * math.radians(20)
    sc = 1.0 + (r(b) * 2 - 1) * 0.15
    tx, ty = (r(b) * 2 - 1) * 0.12, (r(b) * 2 - 1) * 0.12
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    x = F.grid_sample(x01, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gam = torch.exp((r(b, 1, 1, 1) * 2 - 1) * math.log(1.4))
    c = 1.0 + (r(b, 1, 1, 1) * 2 - 1) * 0.3
    br = (r(b, 1, 1, 1) * 2 - 1) * 0.1
    return (((x.clamp(0, 1) ** gam) - 0.5) * c + 0.5 + br).clamp(0, 1)


def batch_transform(x, cls):
    out = torch.empty_like(x)
    for c in range(8):
        m = cls == c
        if m.any():
            out[m] = apply_class(x[m], c)
    return out


def init_from_onnx(model, path):
    """Weights of an exported OrientNet (Conv+bias pairs in graph order, then fc) into a model
    built with bn=False; extra output rows (NOT_HAND) start at zero."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    mine = [l for l in model.body if isinstance(l, nn.Conv2d)]
    if len(convs) != len(mine):
        raise SystemExit("%s: %d convolutions, expected %d" % (path, len(convs), len(mine)))
    with torch.no_grad():
        for n, l in zip(convs, mine):
            l.weight.copy_(torch.from_numpy(init[n.input[1]]))
            l.bias.copy_(torch.from_numpy(init[n.input[2]]))
        fw, fb = torch.from_numpy(init["fc.weight"]), torch.from_numpy(init["fc.bias"])
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.weight[:fw.shape[0]] = fw
        model.fc.bias[:fb.shape[0]] = fb


def norm(x01):
    return (x01 - common.PIXEL_MEAN) / common.PIXEL_STD


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--small", default="", help="64 px copy of the cache (written if absent)")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--negatives", default="", help="make_negatives.py output: learn NOT_HAND")
    ap.add_argument("--init-from", default="",
                    help="start from an exported orientation model (its batch norms are folded "
                         "into the convolutions, so the network is built without them); a new "
                         "NOT_HAND output starts at zero")
    ap.add_argument("--out", default=os.path.join(common.MODELS, "boneage-orient-v1.onnx"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    t0 = time.time()
    if args.small and os.path.exists(args.small):
        d = dict(np.load(args.small))
        xs = d["small"]
    else:
        d = dict(np.load(os.path.join(common.CACHE, "res%d.npz" % common.RES)))
        xs = np.concatenate([small(d["images"][i:i + 500]) for i in range(0, len(d["ids"]), 500)])
        if args.small:   # a compact copy (ids + 64 px images) that can travel to a GPU machine
            np.savez_compressed(args.small, ids=d["ids"], small=xs)
            if args.prepare_only:
                return
    split = common.read_split()
    fold = np.array([split[str(i)] for i in d["ids"]])
    xtr = torch.from_numpy(xs[fold == "train"]).unsqueeze(1).to(dev)
    xva = torch.from_numpy(xs[fold == "val"]).unsqueeze(1).to(dev)
    print("data: train %d val %d (%.0f s)" % (len(xtr), len(xva), time.time() - t0), flush=True)
    nxtr = nxva = None
    if args.negatives:
        nd = np.load(args.negatives)
        nxtr = torch.from_numpy(nd["train"]).unsqueeze(1).to(dev)
        nxva = torch.from_numpy(nd["val"]).unsqueeze(1).to(dev)
        nkva = nd["val_kind"]
        print("negatives: train %d val %d" % (len(nxtr), len(nxva)), flush=True)
    classes = 9 if args.negatives else 8
    model = OrientNet(classes=classes, bn=not args.init_from)
    if args.init_from:
        init_from_onnx(model, args.init_from)
    model = model.to(dev)
    steps = len(xtr) // args.bs
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps,
                                                pct_start=0.2)
    g = torch.Generator(device=dev).manual_seed(args.seed)
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=g, device=dev)
        tot = n = 0
        for k in range(steps):
            idx = perm[k * args.bs:(k + 1) * args.bs]
            cls = torch.randint(0, 8, (len(idx),), generator=g, device=dev)
            x = batch_transform(augment(xtr[idx].float() / 255, g), cls)
            if nxtr is not None:  # one in nine: not a hand, under a random symmetry too
                nn_ = max(1, len(idx) // 8)
                ni = torch.randint(0, len(nxtr), (nn_,), generator=g, device=dev)
                nc = torch.randint(0, 8, (nn_,), generator=g, device=dev)
                xn = batch_transform(augment(nxtr[ni].float() / 255, g), nc)
                x = torch.cat([x, xn])
                cls = torch.cat([cls, torch.full((nn_,), 8, device=dev, dtype=cls.dtype)])
            loss = F.cross_entropy(model(norm(x)), cls)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            n += len(idx)
        print("epoch %d/%d loss %.4f (%.0f s)" % (ep + 1, args.epochs, tot / n, time.time() - t0),
              flush=True)
    # validation: every validation image under all 8 transforms, no jitter
    model.eval()
    conf = np.zeros((8, classes), dtype=np.int64)
    pmax = []
    with torch.no_grad():
        for c in range(8):
            for i in range(0, len(xva), 256):
                x = apply_class(xva[i:i + 256].float() / 255, c)
                p = F.softmax(model(norm(x)), 1)
                pred = p.argmax(1).cpu().numpy()
                pmax.append(p.max(1).values.cpu().numpy())
                for q in pred:
                    conf[c, q] += 1
    acc = float(np.trace(conf[:, :8]) / conf.sum())
    neg = {}
    if nxva is not None:
        with torch.no_grad():
            pn = []
            for c in range(8):
                for i in range(0, len(nxva), 256):
                    x = apply_class(nxva[i:i + 256].float() / 255, c)
                    pn.append(F.softmax(model(norm(x)), 1)[:, 8].cpu().numpy())
            pn = np.concatenate(pn)
            kinds = np.tile(nkva, 8)
            ph = []
            for c in range(8):
                for i in range(0, len(xva), 256):
                    x = apply_class(xva[i:i + 256].float() / 255, c)
                    ph.append(F.softmax(model(norm(x)), 1)[:, 8].cpu().numpy())
            ph = np.concatenate(ph)
        neg = {"not_hand_threshold": 0.5,
               "validation_negatives": int(len(nxva)),
               "negatives_refused": round(float((pn >= 0.5).mean()), 4),
               "negatives_refused_by_kind": {k: round(float((pn[kinds == k] >= 0.5).mean()), 4)
                                             for k in sorted(set(nkva.tolist()))},
               "validation_hands_refused": round(float((ph >= 0.5).mean()), 4),
               "validation_hands_refused_upright": round(float((ph[:len(xva)] >= 0.5).mean()), 4)}
        print("negatives: %s" % json.dumps(neg), flush=True)
    pm = np.concatenate(pmax)
    print("validation accuracy %.4f over %d images x 8 transforms" % (acc, len(xva)))
    model = model.cpu().eval()
    kw = {"dynamo": False} if int(torch.__version__.split(".")[0]) >= 2 else {}
    torch.onnx.export(model, torch.zeros(1, 1, SIZE, SIZE), args.out, opset_version=13,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, **kw)
    import onnx
    onnx.checker.check_model(onnx.load(args.out))
    met = {"model": os.path.basename(args.out), "validation_images": int(len(xva)),
           "transforms": 8, "accuracy": round(acc, 4), "confusion": conf.tolist(),
           "fraction_confident_0.9": round(float((pm >= 0.9).mean()), 4),
           "epochs": args.epochs, "train_images": int(len(xtr)),
           "seconds": round(time.time() - t0, 1)}
    met.update(neg)
    with open(os.path.splitext(args.out)[0] + ".metrics.json", "w") as f:
        json.dump(met, f, indent=1)
    print(json.dumps(met))


if __name__ == "__main__":
    main()
