"""ONNX helpers: the operator allow-list of radnode's C inference engine, and a small runner that
executes an ONNX graph of those operators with torch.nn.functional (so evaluation uses the
exported file itself, not the Python model class)."""
import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F

ALLOWED_OPS = {
    "Conv", "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "HardSwish", "MaxPool",
    "AveragePool", "GlobalAveragePool", "Gemm", "MatMul", "Add", "Mul", "Concat", "Reshape",
    "Flatten",
}


def check_ops(model):
    """Raise SystemExit listing every operator outside ALLOWED_OPS; return the op histogram."""
    hist = {}
    for n in model.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    bad = sorted(set(hist) - ALLOWED_OPS)
    if bad:
        raise SystemExit("ONNX graph uses operators the C engine lacks: %s" % ", ".join(bad))
    return hist


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(a, nd=2):
    p = list(a.get("pads", [0] * (2 * nd)))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise SystemExit("auto_pad is not supported")
    return p


class OnnxRunner:
    """Runs a graph made of ALLOWED_OPS (float32, NCHW) with torch on the CPU."""

    def __init__(self, path):
        self.model = onnx.load(path)
        onnx.checker.check_model(self.model)
        self.hist = check_ops(self.model)
        g = self.model.graph
        self.consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in self.consts]
        self.outputs = [o.name for o in g.output]
        self.nodes = list(g.node)

    @torch.no_grad()
    def run(self, feeds):
        v = dict(self.consts)
        for k, x in feeds.items():
            v[k] = torch.as_tensor(np.asarray(x, dtype=np.float32))
        for n in self.nodes:
            a = _attrs(n)
            x = [v[i] if i else None for i in n.input]
            op = n.op_type
            if op == "Conv":
                p = _pads(a)
                if p[0] != p[2] or p[1] != p[3]:
                    inp = F.pad(x[0], (p[1], p[3], p[0], p[2]))
                    pad = 0
                else:
                    inp, pad = x[0], (p[0], p[1])
                y = F.conv2d(inp, x[1], x[2] if len(x) > 2 else None,
                             stride=tuple(a.get("strides", [1, 1])), padding=pad,
                             dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))
            elif op == "BatchNormalization":
                y = F.batch_norm(x[0], x[3], x[4], x[1], x[2], False, 0.0, a.get("epsilon", 1e-5))
            elif op == "Relu":
                y = F.relu(x[0])
            elif op == "LeakyRelu":
                y = F.leaky_relu(x[0], a.get("alpha", 0.01))
            elif op == "Sigmoid":
                y = torch.sigmoid(x[0])
            elif op == "HardSwish":
                y = F.hardswish(x[0])
            elif op == "MaxPool":
                p = _pads(a)
                if p[0] != p[2] or p[1] != p[3]:
                    raise SystemExit("asymmetric MaxPool pads not supported here")
                y = F.max_pool2d(x[0], tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1])),
                                 (p[0], p[1]), ceil_mode=bool(a.get("ceil_mode", 0)))
            elif op == "AveragePool":
                p = _pads(a)
                y = F.avg_pool2d(x[0], tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1])),
                                 (p[0], p[1]), ceil_mode=bool(a.get("ceil_mode", 0)),
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
            elif op == "GlobalAveragePool":
                y = x[0].mean(dim=(2, 3), keepdim=True)
            elif op == "Flatten":
                ax = a.get("axis", 1)
                y = x[0].reshape(int(np.prod(x[0].shape[:ax])), -1)
            elif op == "Reshape":
                shape = [int(s) for s in x[1].tolist()]
                shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
                y = x[0].reshape(shape)
            elif op == "Gemm":
                A = x[0].t() if a.get("transA", 0) else x[0]
                B = x[1].t() if a.get("transB", 0) else x[1]
                y = a.get("alpha", 1.0) * (A @ B)
                if len(x) > 2 and x[2] is not None:
                    y = y + a.get("beta", 1.0) * x[2]
            elif op == "MatMul":
                y = x[0] @ x[1]
            elif op == "Add":
                y = x[0] + x[1]
            elif op == "Mul":
                y = x[0] * x[1]
            elif op == "Concat":
                y = torch.cat(x, dim=a["axis"])
            else:
                raise SystemExit("op %s not supported" % op)
            v[n.output[0]] = y
        return {o: v[o].numpy() for o in self.outputs}
