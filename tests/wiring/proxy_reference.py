"""The reference procedures of the zero-cost proxies, re-written from zero-cost-nas / NASLib / Zen-NAS for tests.

Each follows its reference's steps (a mask parameter for snip, an identity module with a backward hook for
fisher, ``z.backward()`` for grasp, a state_dict made absolute for synflow, ``np.linalg.eig`` for jacov, the
per-class dictionary of epe_nas, a forward hook on ReLU modules for nwot, ``forward_pre_GAP`` for zen) on a
plain ``nn.Module``, so that :mod:`wiring.search.proxies` can be checked against them on a compiled graph with
the same weights. The model is modified: pass a copy.
"""

from __future__ import annotations

import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import autograd, nn

K = 1e-5


def layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def total(arrays):
    return float(sum(float(a.detach().sum()) for a in arrays))


def grad_norm(net, x, y):
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return total([m.weight.grad.norm() for m in layers(net)])


def snip(net, x, y):
    def masked_conv(self, inp):
        return F.conv2d(inp, self.weight * self.weight_mask, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def masked_linear(self, inp):
        return F.linear(inp, self.weight * self.weight_mask, self.bias)

    for m in layers(net):
        m.weight_mask = nn.Parameter(torch.ones_like(m.weight))
        m.weight.requires_grad = False
        m.forward = types.MethodType(masked_conv if isinstance(m, nn.Conv2d) else masked_linear, m)
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return total([m.weight_mask.grad.abs() for m in layers(net)])


def plain(net, x, y):
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return total([m.weight.grad * m.weight for m in layers(net)])


def grasp(net, x, y):
    weights = [m.weight for m in layers(net)]
    net.zero_grad()
    grad_w = autograd.grad(F.cross_entropy(net(x), y), weights)
    grad_f = autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    z = 0
    for gw, gf in zip(grad_w, grad_f):
        z = z + (gw.data * gf).sum()
    z.backward()
    return total([-m.weight.data * m.weight.grad for m in layers(net)])


def fisher(net, x, y):
    def conv_forward(self, inp):
        self.act = self.dummy(F.conv2d(inp, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                       self.groups))
        return self.act

    def linear_forward(self, inp):
        self.act = self.dummy(F.linear(inp, self.weight, self.bias))
        return self.act

    def hook_for(layer):
        def hook(module, grad_input, grad_output):
            act, grad = layer.act.detach(), grad_output[0].detach()
            g = (act * grad).sum(tuple(range(2, act.dim()))) if act.dim() > 2 else act * grad
            delta = g.pow(2).mean(0).mul(0.5)
            layer.fisher = delta if layer.fisher is None else layer.fisher + delta
        return hook

    net.train()
    for m in layers(net):
        m.fisher, m.dummy = None, nn.Identity()
        m.forward = types.MethodType(conv_forward if isinstance(m, nn.Conv2d) else linear_forward, m)
        m.dummy.register_full_backward_hook(hook_for(m))
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    # the per-channel value broadcast to every weight of the channel, then summed
    broadcast = [torch.stack([torch.full(tuple(m.weight.shape[1:]), float(v), dtype=torch.float64) for v in m.fisher.abs()])
                 for m in layers(net)]
    return total(broadcast)


def synflow(net, x):
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.forward = types.MethodType(lambda self, inp: inp, m)
    net.double()
    with torch.no_grad():
        signs = {k: torch.sign(v) for k, v in net.state_dict().items()}
        for v in net.state_dict().values():
            v.abs_()
    net.zero_grad()
    out = net(torch.ones((1, *x.shape[1:]), dtype=torch.float64))
    torch.sum(out).backward()
    value = total([(m.weight * m.weight.grad).abs() for m in layers(net)])
    with torch.no_grad():
        for k, v in net.state_dict().items():
            v.mul_(signs[k])
    return value


def l2_norm(net):
    return total([m.weight.norm() for m in layers(net)])


def _jacobian(net, x):
    net.zero_grad()
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    return x.grad.detach().reshape(len(x), -1).numpy(), out.shape[-1]


def jacov(net, x):
    corrs = np.corrcoef(_jacobian(net, x)[0])
    v, _ = np.linalg.eig(corrs)
    return float(-np.sum(np.log(v + K) + 1.0 / (v + K)))


def epe_nas(net, x, y):
    jacob, n_classes = _jacobian(net, x)
    labels = y.numpy()
    rows = {}
    for i, label in enumerate(labels):
        rows[label] = np.vstack((rows[label], jacob[i])) if label in rows else jacob[i]
    per_class = {c: np.sum(np.log(np.abs(np.array(np.corrcoef(r))) + K)) for c, r in rows.items()}
    assert n_classes <= 100
    return float(sum(np.absolute(s) for s in per_class.values()))


def nwot(net, x):
    net.K = np.zeros((len(x), len(x)))

    def hook(module, inp, out):
        codes = (inp[0].view(inp[0].size(0), -1) > 0).float()
        net.K = net.K + (codes @ codes.t()).numpy() + ((1.0 - codes) @ (1.0 - codes.t())).numpy()

    for m in net.modules():
        if "ReLU" in str(type(m)):
            m.register_forward_hook(hook)
    net(x.clone())
    return float(np.linalg.slogdet(net.K)[1])


def zen(net, x, gamma=1e-2):
    """Zen-NAS on a model with ``forward_pre_GAP``; the caller seeds torch's global RNG."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        a = torch.randn(x.shape, dtype=x.dtype)
        b = torch.randn(x.shape, dtype=x.dtype)
        out, mixed = net.forward_pre_GAP(a), net.forward_pre_GAP(a + gamma * b)
        score = torch.log(torch.mean(torch.sum(torch.abs(out - mixed), dim=[1, 2, 3])))
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                score = score + torch.log(torch.sqrt(torch.mean(m.running_var)))
    return float(score)
