"""Compact ResNet-style regressor for bone age (only ONNX ops radnode's C engine implements:
Conv, BatchNormalization, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm, Concat, Add, Mul)."""
import torch
import torch.nn as nn

import common


def conv_bn(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    """Basic residual block: conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv when shape changes)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, stride)
        self.c2 = conv_bn(cout, cout, 3, 1)
        self.short = None if (cin == cout and stride == 1) else conv_bn(cin, cout, 1, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.c2(self.relu(self.c1(x)))
        s = x if self.short is None else self.short(x)
        return self.relu(y + s)


class BoneAgeNet(nn.Module):
    def __init__(self, widths=(32, 64, 128, 256), blocks=(1, 2, 2, 2), stem=(16, 32)):
        super().__init__()
        self.stem = nn.Sequential(
            conv_bn(1, stem[0], 3, 2), nn.ReLU(inplace=True),
            conv_bn(stem[0], stem[1], 3, 2), nn.ReLU(inplace=True))
        layers = []
        cin = stem[1]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(Block(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.sex = nn.Sequential(nn.Linear(1, 16), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(cin + 16, 128), nn.ReLU(inplace=True),
                                  nn.Linear(128, 1))
        # de-normalisation constants as buffers, so the ONNX graph holds them as initializers
        self.register_buffer("age_std", torch.tensor([[common.AGE_STD]]))
        self.register_buffer("age_mean", torch.tensor([[common.AGE_MEAN]]))

    def forward_norm(self, image, male):
        """Normalised age (age - AGE_MEAN) / AGE_STD, used for the loss."""
        f = torch.flatten(self.pool(self.body(self.stem(image))), 1)
        return self.head(torch.cat([f, self.sex(male)], 1))

    def forward(self, image, male):
        """Bone age in months (the exported graph's output)."""
        return self.forward_norm(image, male) * self.age_std + self.age_mean
