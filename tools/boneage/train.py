#!/usr/bin/python3
"""Train the bone-age regressor on the 299 px RSNA subset and export models/boneage-v2.onnx.

Usage (from anywhere; needs /usr/bin/python3 with Debian's python3-torch, numpy, PIL, onnx):
    /usr/bin/python3 tools/boneage/prep_cache.py 256      # split.csv + uint8 cache (once, ~3 min)
    /usr/bin/python3 tools/boneage/train.py               # fixed schedule, logs to runs/train.log
    /usr/bin/python3 tools/boneage/train.py --resume      # continue from runs/last.pt
    /usr/bin/python3 tools/boneage/train.py --export-only # export runs/last.pt to ONNX
The LAST epoch's weights are exported (fixed schedule, no checkpoint selection on validation).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from model import BoneAgeNet  # noqa: E402

ARCH = dict(widths=(32, 64, 128, 256), blocks=(2, 2, 2, 1), stem=(24, 32))


def log(msg, path):
    line = time.strftime("%Y-%m-%d %H:%M:%S ") + msg
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def load_pack(path, device):
    """Training fold from pack_jpeg.py (re-encoded JPEGs), decoded once; no validation fold."""
    import io
    from PIL import Image
    d = np.load(path)
    off, blob = d["offsets"], d["jpeg"]
    imgs = np.stack([np.asarray(Image.open(io.BytesIO(blob[off[k]:off[k + 1]].tobytes())).convert("L"))
                     for k in range(len(off) - 1)])
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).unsqueeze(1).to(device)
    return {"train": (t(imgs), t(d["ages"].astype(np.float32)), t(d["male"].astype(np.float32)))}


def load_data(res):
    p = os.path.join(common.CACHE, "res%d.npz" % res)
    if not os.path.exists(p):
        raise SystemExit("missing %s: run prep_cache.py %d first" % (p, res))
    d = np.load(p)
    split = common.read_split()
    ids = [str(i) for i in d["ids"]]
    fold = np.array([split[i] for i in ids])
    out = {}
    for name in ("train", "val"):
        m = fold == name
        out[name] = (torch.from_numpy(d["images"][m]).unsqueeze(1),       # uint8 [N,1,R,R]
                     torch.from_numpy(d["ages"][m]).unsqueeze(1),
                     torch.from_numpy(d["male"][m]).unsqueeze(1))
    return out


def augment(x01, g, args):
    """x01: float [B,1,R,R] in 0..1. Random rotation, scale, shift (one affine warp, bilinear,
    black outside), then brightness/contrast/gamma. No flip (the C pipeline mirrors right hands)."""
    b, dev = x01.shape[0], x01.device
    r = lambda *shape: torch.rand(*shape, generator=g, device=dev)
    ang = (r(b) * 2 - 1) * math.radians(args.rot)
    sc = 1.0 + (r(b) * 2 - 1) * args.scale
    tx = (r(b) * 2 - 1) * args.shift * 2   # grid units: 2 = full width
    ty = (r(b) * 2 - 1) * args.shift * 2
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    x = F.grid_sample(x01, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    c = 1.0 + (r(b, 1, 1, 1) * 2 - 1) * args.contrast
    br = (r(b, 1, 1, 1) * 2 - 1) * args.brightness
    gam = torch.exp((r(b, 1, 1, 1) * 2 - 1) * math.log(1.0 + args.gamma))
    x = x.clamp(0, 1) ** gam
    x = ((x - 0.5) * c + 0.5 + br).clamp(0, 1)
    return x


def to_input(x01):
    return ((x01 - common.PIXEL_MEAN) / common.PIXEL_STD).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict(model, imgs, male, bs=64):
    model.eval()
    out = []
    for i in range(0, len(imgs), bs):
        x = to_input(imgs[i:i + bs].float() / 255.0)
        out.append(model(x, male[i:i + bs]))
    return torch.cat(out)


def export_onnx(model, res, path):
    # imported lazily: onnx is needed only for the export and its checks
    import onnx_check
    model = model.eval().to(memory_format=torch.contiguous_format)
    img = torch.zeros(1, 1, res, res)
    male = torch.ones(1, 1)
    kw = {}
    if int(torch.__version__.split(".")[0]) >= 2:
        kw["dynamo"] = False      # the TorchScript exporter, as with Debian's torch 1.13
    torch.onnx.export(model, (img, male), path, opset_version=13, **kw,
                      input_names=["image", "male"], output_names=["boneage_months"],
                      dynamic_axes={"image": {0: "N"}, "male": {0: "N"}, "boneage_months": {0: "N"}})
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)
    hist = onnx_check.check_ops(m)
    # parity: the exported graph run by the independent runner vs. torch
    r = onnx_check.OnnxRunner(path)
    x = torch.randn(3, 1, res, res)
    s = torch.tensor([[1.0], [0.0], [1.0]])
    with torch.no_grad():
        ref = model(x, s).numpy()
    got = r.run({"image": x.numpy(), "male": s.numpy()})["boneage_months"]
    diff = float(np.abs(ref - got).max())
    if diff > 1e-2:
        raise SystemExit("ONNX/torch mismatch: %g months" % diff)
    return hist, diff


def save_weights(model, args, epoch):
    """Weights only (no optimizer state): small enough to travel back from a lent GPU machine;
    `--export-only` reads it when copied to runs/last.pt."""
    p = os.path.join(common.RUNS, "weights.pt")
    torch.save({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "args": vars(args), "arch": ARCH, "epoch": epoch}, p + ".tmp")
    os.replace(p + ".tmp", p)


class PooledInput(torch.nn.Module):
    """A network trained on inputs averaged down by `factor`, taking the full-size input: a
    factor x factor average in front (bilinear half-pixel resizing by a factor of 2 is the same
    average), so the C pipeline's 256 px preprocessing stays as it is. The average is a fixed
    strided Conv: the TorchScript exporter writes avg_pool2d with Pad and Constant nodes."""

    def __init__(self, net, factor):
        super().__init__()
        self.net = net
        self.pool = torch.nn.Conv2d(1, 1, factor, factor, bias=False)
        with torch.no_grad():
            self.pool.weight.fill_(1.0 / (factor * factor))

    def forward(self, image, male):
        return self.net(self.pool(image), male)


def train_timed(model, xtr, ytr, mtr, xva, yva, mva, args, dev, logf, nparams):
    """Wall-clock schedule for the 2-core CPU: progressive resizing (most of the budget at a low
    input size, where a step costs about (lowres/RES)^2 as much, then the rest at RES so the
    batch norms and filters settle at the size inference uses), one-cycle LR as a function of
    the elapsed fraction of the budget, stop when the budget is spent. Validation data is not
    looked at; evaluate.py measures the exported model afterwards."""
    budget = args.time_budget_min * 60.0
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr / 20, weight_decay=args.wd)
    g = torch.Generator(device=dev).manual_seed(args.seed)
    ntr = len(xtr)
    spe = ntr // args.bs
    lowf = args.res // args.lowres if args.lowres else 1
    if args.lowres and args.res % args.lowres:
        raise SystemExit("--lowres must divide --res")
    ema = None
    if args.ema > 0:   # an exponential moving average of every weight and BN statistic
        ema = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
    xlow = None
    if lowf > 1:     # the cache averaged down once (uint8, rounded)
        xlow = torch.cat([(F.avg_pool2d(xtr[i:i + 512].float(), lowf) + 0.5).floor().to(torch.uint8)
                          for i in range(0, ntr, 512)])

    def at_low(frac):  # --lowres-frac 1.0: the whole run, the last partial epoch included
        return xlow is not None and (frac < args.lowres_frac or args.lowres_frac >= 1.0)

    def lr_at(frac, pct=0.15, div=20.0, fdiv=100.0):
        lo, hi, end = args.lr / div, args.lr, args.lr / div / fdiv
        if frac < pct:
            return lo + (hi - lo) * (1 - math.cos(math.pi * frac / pct)) / 2
        f = min(1.0, (frac - pct) / (1 - pct))
        return end + (hi - end) * (1 + math.cos(math.pi * f)) / 2

    log("start (timed %.1f min, lowres %d until %.0f %%): arch=%s params=%d res=%d train=%d args=%s" % (
        args.time_budget_min, args.lowres, 100 * args.lowres_frac, ARCH, nparams, args.res, ntr,
        json.dumps(vars(args))), logf)
    t_start = time.time()
    frac, ep, steps = 0.0, 0, 0
    while frac < 1.0:
        ep += 1
        t0 = time.time()
        model.train()
        perm = torch.randperm(ntr, generator=g, device=dev)
        tot, n = 0.0, 0
        for k in range(spe):
            frac = (time.time() - t_start) / budget
            if frac >= 1.0:
                break
            low = at_low(frac)
            src = xlow if low else xtr
            for pg in opt.param_groups:
                pg["lr"] = lr_at(frac)
            idx = perm[k * args.bs:(k + 1) * args.bs]
            x = to_input(augment(src[idx].float() / 255.0, g, args))
            y = (ytr[idx] - common.AGE_MEAN) / common.AGE_STD
            loss = F.l1_loss(model.forward_norm(x, mtr[idx]), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            if ema is not None:
                with torch.no_grad():
                    d = min(args.ema, (1.0 + steps) / (10.0 + steps))   # short warm-up
                    for name, v in model.state_dict().items():
                        if v.dtype.is_floating_point:
                            ema[name].mul_(d).add_(v.float(), alpha=1.0 - d)
                        else:
                            ema[name].copy_(v)
            tot += loss.detach() * len(idx)
            n += len(idx)
            if (k + 1) % 50 == 0:
                with open(os.path.join(common.RUNS, "progress.txt"), "w") as pf:
                    pf.write("epoch %d step %d/%d res %d train_l1_months %.2f frac %.3f\n" % (
                        ep, k + 1, spe, args.lowres if low else args.res,
                        float(tot) / n * common.AGE_STD, frac))
        save_weights(model, args, ep)
        log("epoch %d res %d steps %d train_l1_months %.2f lr %.2e epoch_s %.0f total_min %.1f" % (
            ep, args.lowres if at_low(frac) else args.res, n // args.bs,
            float(tot) / max(n, 1) * common.AGE_STD, opt.param_groups[0]["lr"], time.time() - t0,
            (time.time() - t_start) / 60), logf)
    model = model.cpu().float()
    if ema is not None:
        # the recipe's model is the averaged one (decided before any validation look); the
        # last raw weights are exported beside it as <out>.raw.onnx, for the record only
        wrap = (lambda m: PooledInput(m, lowf)) if (xlow is not None and args.lowres_frac >= 1.0) \
            else (lambda m: m)
        raw_out = os.path.splitext(args.out)[0] + ".raw.onnx"
        export_onnx(wrap(model), args.res, raw_out)
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in ema.items()})
        log("exported the last raw weights to %s; the EMA (decay %g) goes to %s" % (
            raw_out, args.ema, args.out), logf)
    if xlow is not None and args.lowres_frac >= 1.0:
        # trained at lowres only: the exported graph takes the RES input that radnode's pipeline
        # makes and averages it down first, exactly as the cache was averaged for training
        model = PooledInput(model, lowf)
    hist, diff = export_onnx(model, args.res, args.out)
    log("done: %d steps (%d epochs begun) in %.1f min; exported %s (%d bytes) ops=%s "
        "max|onnx-torch|=%.2e months" % (steps, ep, (time.time() - t_start) / 60, args.out,
                                         os.path.getsize(args.out), hist, diff), logf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=common.RES)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--rot", type=float, default=10.0, help="max rotation, degrees")
    ap.add_argument("--scale", type=float, default=0.10, help="max relative zoom")
    ap.add_argument("--shift", type=float, default=0.06, help="max shift, fraction of size")
    ap.add_argument("--contrast", type=float, default=0.2)
    ap.add_argument("--brightness", type=float, default=0.08)
    ap.add_argument("--gamma", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="debug: train on the first N images only")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--pack", default="", help="train from a pack_jpeg.py file (no validation)")
    ap.add_argument("--budget-min", type=float, default=0.0,
                    help="instead of --epochs: as many epochs as fit in this many minutes, "
                         "measured on one throw-away calibration epoch before training")
    ap.add_argument("--time-budget-min", type=float, default=0.0,
                    help="instead of --epochs: train for this many minutes of wall clock; the "
                         "one-cycle LR follows the elapsed fraction of the budget, so a slower "
                         "or busier machine runs fewer steps but always stops in time")
    ap.add_argument("--lowres", type=int, default=0,
                    help="with --time-budget-min: train at this input size (the cache averaged "
                         "down by RES/lowres) for the first --lowres-frac of the budget, then at RES")
    ap.add_argument("--lowres-frac", type=float, default=0.7,
                    help="1.0: the whole run at --lowres; the export puts a fixed averaging Conv in "
                         "front (PooledInput)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (cuda)")
    ap.add_argument("--arch", default="", help="JSON overriding ARCH (widths, blocks, stem)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="timed runs: export an exponential moving average of the weights "
                         "with this decay per step (e.g. 0.999); 0 = the last weights")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--out", default=os.path.join(common.MODELS, "boneage-v2.onnx"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.arch:
        ARCH.update({k: tuple(v) for k, v in json.loads(args.arch).items()})
    os.makedirs(common.RUNS, exist_ok=True)
    logf = os.path.join(common.RUNS, "train.log")
    ckpt = os.path.join(common.RUNS, "last.pt")

    model = BoneAgeNet(**ARCH).to(memory_format=torch.channels_last)
    nparams = sum(p.numel() for p in model.parameters())

    if args.export_only:
        st = torch.load(ckpt, map_location="cpu")
        if "arch" in st:
            ARCH.update({k: tuple(v) for k, v in st["arch"].items()})
            model = BoneAgeNet(**ARCH)
        model.load_state_dict(st["model"])
        hist, diff = export_onnx(model, st["args"]["res"], args.out)
        log("exported %s ops=%s max|onnx-torch|=%.2e months" % (args.out, hist, diff), logf)
        return

    dev = torch.device(args.device)
    data = load_pack(args.pack, dev) if args.pack else load_data(args.res)
    xtr, ytr, mtr = data["train"]
    xva, yva, mva = data["val"] if "val" in data else (None, None, None)
    model = model.to(dev)
    if args.limit:
        xtr, ytr, mtr = xtr[:args.limit], ytr[:args.limit], mtr[:args.limit]
        if xva is not None:
            xva, yva, mva = xva[:args.limit // 4], yva[:args.limit // 4], mva[:args.limit // 4]
    ntr = len(xtr)
    steps_per_epoch = ntr // args.bs

    def train_step(model, opt, idx, g):
        x = to_input(augment(xtr[idx].float() / 255.0, g, args))
        y = (ytr[idx] - common.AGE_MEAN) / common.AGE_STD
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16):
            pred = model.forward_norm(x, mtr[idx])
        loss = F.l1_loss(pred.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    if args.time_budget_min > 0:
        train_timed(model, xtr, ytr, mtr, xva, yva, mva, args, dev, logf, nparams)
        return

    if args.budget_min > 0 and not args.resume:
        # calibration: one epoch on a throw-away copy, timed; then the fixed schedule is set
        # from the time budget alone (nothing here looks at validation data)
        import copy
        cm = copy.deepcopy(model)
        co = torch.optim.AdamW(cm.parameters(), lr=args.lr / 20)
        cg = torch.Generator(device=dev).manual_seed(args.seed + 1)
        cperm = torch.randperm(ntr, generator=cg, device=dev)
        for k in range(steps_per_epoch):        # first pass warms up kernels
            train_step(cm, co, cperm[k * args.bs:(k + 1) * args.bs], cg)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.time()
        for k in range(steps_per_epoch):
            train_step(cm, co, cperm[k * args.bs:(k + 1) * args.bs], cg)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        tep = time.time() - t0
        args.epochs = max(1, int(args.budget_min * 60 / (tep * 1.04)))
        log("calibration: %.2f s/epoch -> %d epochs in %.1f min" % (tep, args.epochs,
                                                                     args.budget_min), logf)
        del cm, co
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15,
        anneal_strategy="cos", div_factor=20.0, final_div_factor=100.0)
    g = torch.Generator(device=dev).manual_seed(args.seed)
    start_epoch, elapsed = 0, 0.0
    if args.resume and os.path.exists(ckpt):
        st = torch.load(ckpt, map_location=dev)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        g.set_state(st["gen"])
        start_epoch, elapsed = st["epoch"], st["elapsed"]
        log("resumed at epoch %d" % start_epoch, logf)
    else:
        log("start: arch=%s params=%d res=%d train=%d val=%d args=%s" % (
            ARCH, nparams, args.res, ntr, 0 if xva is None else len(xva), json.dumps(vars(args))), logf)

    for ep in range(start_epoch, args.epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(ntr, generator=g, device=dev)
        tot, n = 0.0, 0
        for k in range(steps_per_epoch):
            idx = perm[k * args.bs:(k + 1) * args.bs]
            loss = train_step(model, opt, idx, g)
            sched.step()
            tot += loss.detach() * len(idx)   # stays on the device: no sync per step
            n += len(idx)
            if dev.type == "cpu" and (k + 1) % 50 == 0:   # cheap progress note, overwritten (runs/progress.txt)
                with open(os.path.join(common.RUNS, "progress.txt"), "w") as pf:
                    pf.write("epoch %d step %d/%d train_l1_months %.2f elapsed_s %.0f\n" % (
                        ep + 1, k + 1, steps_per_epoch, tot / n * common.AGE_STD, time.time() - t0))
        tot = float(tot)
        ttrain = time.time() - t0
        mae = rmse = float("nan")
        if xva is not None:
            p = predict(model, xva, mva)
            err = (p - yva).squeeze(1)
            mae, rmse = err.abs().mean().item(), err.pow(2).mean().sqrt().item()
        elapsed += time.time() - t0
        if dev.type == "cpu":   # resumable checkpoint (CPU runs are long and get interrupted)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "gen": g.get_state(), "epoch": ep + 1,
                        "elapsed": elapsed, "args": vars(args), "arch": ARCH}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
        save_weights(model, args, ep + 1)
        log("epoch %d/%d train_l1_months %.2f val_mae %.2f val_rmse %.2f lr %.2e "
            "epoch_s %.0f (train %.0f) total_min %.1f" % (
                ep + 1, args.epochs, tot / n * common.AGE_STD, mae, rmse,
                sched.get_last_lr()[0], time.time() - t0, ttrain, elapsed / 60), logf)

    model = model.cpu().float()
    hist, diff = export_onnx(model, args.res, args.out)
    log("done: %d epochs in %.1f min; exported %s (%d bytes) ops=%s max|onnx-torch|=%.2e months" % (
        args.epochs, elapsed / 60, args.out, os.path.getsize(args.out), hist, diff), logf)


if __name__ == "__main__":
    main()
