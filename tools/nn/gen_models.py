#!/usr/bin/python3
"""Builds the parity models for radnode's ONNX engine (src/nn) with PyTorch, exports them
with torch's ONNX exporter, and writes a random input and PyTorch's output for each as .npy
into tests/data/nn/, plus tests/data/nn/manifest.txt, which tests/unit/nn/test_nn_parity.c
reads. The outputs are committed, so CI needs no torch.

Run with Debian's python3 (torch 1.13):  /usr/bin/python3 tools/nn/gen_models.py
Add --boneage models/boneage-v2.onnx to include the shipped bone-age model: its reference
output comes from PyTorch (tools/boneage/model.py with a boneage-v2*.pt checkpoint found next
to the .onnx), or, without a checkpoint, from onnx's reference evaluator. The input is
tools/nn/boneage_real_input.npy when present (a real radiograph), else random.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "nn")


def cbr(cin, cout, k=3, s=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = cbr(cin, cout, 3, stride)
        self.c2 = cbr(cout, cout, 3, 1, act=False)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = cbr(cin, cout, 1, stride, act=False)

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        return F.relu(self.c2(self.c1(x)) + s)


class ResNet18Like(nn.Module):
    """ResNet-18 layout (stem, 4 stages of 2 basic blocks, GAP, FC) at 1/8 width."""

    def __init__(self, w=(8, 16, 32, 64), classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], w[0]
        for i, c in enumerate(w):
            layers += [BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)]
            cin = c
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.body(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid),
                   nn.ReLU6(inplace=True), nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2Like(nn.Module):
    """MobileNetV2 layout (inverted residuals, depthwise 3x3, ReLU6) at reduced width/depth."""

    def __init__(self, classes=10):
        super().__init__()
        cfg = [(1, 8, 1, 1), (6, 12, 2, 2), (6, 16, 2, 2), (6, 24, 2, 2), (6, 32, 1, 1), (6, 48, 2, 2)]
        layers = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True)]
        cin = 16
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 128, 1, bias=False), nn.BatchNorm2d(128), nn.Hardswish()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, classes))

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


class UNetLike(nn.Module):
    """2D U-Net: 3 levels, max-pool down, one ConvTranspose and one bilinear Resize up,
    Concat skips, sigmoid mask."""

    def __init__(self, w=(8, 16, 32)):
        super().__init__()
        self.e1 = nn.Sequential(cbr(1, w[0]), cbr(w[0], w[0]))
        self.e2 = nn.Sequential(cbr(w[0], w[1]), cbr(w[1], w[1]))
        self.bott = nn.Sequential(cbr(w[1], w[2]), cbr(w[2], w[2]))
        self.up2 = nn.ConvTranspose2d(w[2], w[1], 2, 2)
        self.d2 = nn.Sequential(cbr(2 * w[1], w[1]), cbr(w[1], w[1]))
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.d1 = nn.Sequential(cbr(w[1] + w[0], w[0]), cbr(w[0], w[0]))
        self.head = nn.Conv2d(w[0], 2, 1)

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        b = self.bott(F.max_pool2d(e2, 2))
        d2 = self.d2(torch.cat([self.up2(b), e2], 1))
        d1 = self.d1(torch.cat([self.up1(d2), e1], 1))
        return torch.sigmoid(self.head(d1))


class CNN3D(nn.Module):
    """Small 3D CNN: Conv3d/BN3d/ReLU, MaxPool3d, strided and dilated Conv3d, grouped Conv3d,
    global average pooling, linear head."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv3d(1, 8, 3, 1, 1, bias=False), nn.BatchNorm3d(8), nn.ReLU(inplace=True),
            nn.MaxPool3d(2),
            nn.Conv3d(8, 16, 3, 2, 1), nn.BatchNorm3d(16), nn.ReLU(inplace=True),
            nn.Conv3d(16, 16, 3, 1, 2, dilation=2, groups=4), nn.ReLU(inplace=True),
            nn.Conv3d(16, 32, 1), nn.LeakyReLU(0.1),
            nn.AvgPool3d(2, ceil_mode=True))
        self.fc = nn.Linear(32, 3)

    def forward(self, x):
        x = F.adaptive_avg_pool3d(self.f(x), 1)
        return self.fc(torch.flatten(x, 1))


class OpMix(nn.Module):
    """Covers the remaining operators: Tanh, Gelu (Erf), Softmax, Transpose, Pad (reflect and
    constant), Slice, ReduceMean, LayerNorm's decomposition, batched MatMul, Sub/Div/Pow/Sqrt,
    HardSwish, HardSigmoid, Sigmoid, LeakyRelu, AvgPool count_include_pad, nearest Resize,
    Squeeze/Unsqueeze, Clip, Reshape with -1."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 5, stride=2, padding=2, groups=8)
        self.ln = nn.LayerNorm(16)
        self.q = nn.Linear(16, 16)
        self.k = nn.Linear(16, 16)
        self.tconv = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x, y):
        a = F.pad(x, (1, 2, 2, 1), mode="reflect")
        a = F.hardswish(self.conv(a))
        a = F.avg_pool2d(a, 3, 1, 1, count_include_pad=True)
        a = F.leaky_relu(self.dw(a), 0.2)                       # [N,8,8,8]
        b = a[:, :, 1:7, ::2]                                   # Slice with step
        b = F.pad(b, (0, 0, 1, 1), value=0.5)                   # [N,8,8,4]
        t = b.flatten(2).transpose(1, 2)                        # [N,32,8]
        t = torch.cat([t, t * 0.5], 2)                          # [N,32,16]
        t = self.ln(t)
        att = torch.softmax(self.q(t) @ self.k(t).transpose(1, 2) / 4.0, dim=-1)
        t = F.gelu(att @ t) + torch.tanh(t)                     # [N,32,16]
        m = t.mean(dim=1)                                       # ReduceMean [N,16]
        m = self.bn(m.unsqueeze(2)).squeeze(2)                  # standalone BatchNorm
        u = F.interpolate(a, scale_factor=2, mode="nearest")    # [N,8,16,16]
        u = torch.sigmoid(self.tconv(a)) * F.hardsigmoid(u[:, :4]) # [N,4,16,16]
        r = u.reshape(u.shape[0], -1).sum(1, keepdim=True)
        z = torch.clamp(m - y, -1.0, 1.0) / torch.sqrt(torch.abs(y) + 1.0)
        return torch.cat([z, r / 100.0, z.pow(2)], 1)


def export(model, name, inputs, opset, dynamic=True):
    model.eval()
    torch.manual_seed(1)
    # give BatchNorm non-trivial statistics so folding is tested
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    names = list(inputs.keys())
    args = tuple(torch.from_numpy(v) for v in inputs.values())
    with torch.no_grad():
        out = model(*args)
    path = os.path.join(OUT, name + ".onnx")
    dyn = {k: {0: "N"} for k in names + ["output"]} if dynamic else None
    torch.onnx.export(model, args, path, input_names=names, output_names=["output"],
                      opset_version=opset, dynamic_axes=dyn, do_constant_folding=True)
    line = [name + ".onnx"]
    for k, v in inputs.items():
        fn = "%s_in_%s.npy" % (name, k)
        np.save(os.path.join(OUT, fn), v)
        line += ["in", k, fn]
    fn = "%s_out_output.npy" % name
    np.save(os.path.join(OUT, fn), out.numpy().astype("<f4"))
    line += ["out", "output", fn]
    size = os.path.getsize(path)
    print("%-14s opset %d  %7.1f kB  output %s" % (name, opset, size / 1024, tuple(out.shape)))
    return " ".join(line)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("<f4")


def boneage_line(path):
    """Reference output for the shipped bone-age model: run its ONNX graph through torch by
    rebuilding the module from tools/boneage and loading the ONNX initializers is fragile, so
    the checkpoint next to the model is used when present; otherwise onnx.reference."""
    import onnx
    name = "boneage"
    img = None
    real = os.path.join(ROOT, "tools", "nn", "boneage_real_input.npy")
    m = onnx.load(path)
    shp = [d.dim_value or 1 for d in m.graph.input[0].type.tensor_type.shape.dim]
    img = np.load(real) if os.path.exists(real) else rand(*shp, seed=7)
    male = np.array([[1.0]], dtype="<f4")
    ref = None
    sys.path.insert(0, os.path.join(ROOT, "tools", "boneage"))
    try:
        import model as bm
        import glob
        cks = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(path)), "boneage-v2*.pt")))
        if cks:
            net = bm.BoneAgeNet()
            sd = torch.load(cks[0], map_location="cpu")
            net.load_state_dict(sd.get("model", sd) if isinstance(sd, dict) else sd)
            net.eval()
            with torch.no_grad():
                ref = net(torch.from_numpy(img), torch.from_numpy(male)).numpy()
    except Exception as e:  # noqa: BLE001
        print("boneage: torch module unavailable (%s), using onnx.reference" % e)
    if ref is None:
        from onnx.reference import ReferenceEvaluator
        ref = ReferenceEvaluator(m).run(None, {"image": img, "male": male})[0]
    import shutil
    shutil.copy(path, os.path.join(OUT, name + ".onnx"))
    np.save(os.path.join(OUT, name + "_in_image.npy"), img.astype("<f4"))
    np.save(os.path.join(OUT, name + "_in_male.npy"), male)
    np.save(os.path.join(OUT, name + "_out_output.npy"), ref.astype("<f4"))
    out_name = m.graph.output[0].name
    return "%s.onnx in image %s_in_image.npy in male %s_in_male.npy out %s %s_out_output.npy" % (
        name, name, name, out_name, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--boneage", help="path of models/boneage-v2.onnx to add to the parity set")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    lines = [
        export(ResNet18Like(), "resnet18s", {"input": rand(1, 3, 64, 64, seed=1)}, 13),
        export(MobileNetV2Like(), "mobilenetv2s", {"input": rand(1, 3, 64, 64, seed=2)}, 14),
        export(UNetLike(), "unet2d", {"input": rand(1, 1, 64, 64, seed=3)}, 11),
        export(CNN3D(), "cnn3d", {"input": rand(1, 1, 16, 32, 32, seed=4)}, 17),
        export(OpMix(), "opmix", {"x": rand(2, 4, 16, 16, seed=5), "y": rand(2, 16, seed=6)}, 13),
        export(OpMix(), "opmix11", {"x": rand(2, 4, 16, 16, seed=5), "y": rand(2, 16, seed=6)}, 11),
    ]
    if a.boneage:
        lines.append(boneage_line(a.boneage))
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("# model  in NAME FILE ...  out NAME FILE   (written by tools/nn/gen_models.py)\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
