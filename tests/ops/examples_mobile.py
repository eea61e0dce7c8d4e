"""Examples of the mobile ops (ops/mobile.py) for the shared op test."""

from ops.mobile import PROXYLESS_EXPANSIONS, PROXYLESS_KERNELS, candidate_name

EXAMPLES = {
    "mbconv": [
        ({"channels": 6}, [(4, 8, 8)]),
        ({"channels": 4, "kernel": 5, "expand": 3, "se": 0.25}, [(4, 8, 8)]),  # residual
        ({"channels": 8, "kernel": 7, "stride": 2, "expand": 1, "se": 0.5, "act": "relu6"}, [(5, 9, 9)]),
        ({"channels": 3, "stride": 2, "expand": 6, "residual": False}, [(3, 7, 6)]),
    ],
    "dwconv": [
        ({"channels": 6}, [(4, 8, 8)]),
        ({"channels": 4, "kernel": 5, "se": 0.25, "residual": False}, [(4, 8, 8)]),
        ({"channels": 2, "stride": 2, "se": 0.1}, [(3, 5, 5)]),  # SE width max(1, int(0.3)) = 1
    ],
    "regular_conv": [
        ({"channels": 6}, [(3, 8, 8)]),
        ({"channels": 8, "kernel": 5, "stride": 2, "se": 0.25, "act": "relu6"}, [(4, 9, 9)]),
        ({"channels": 5, "kernel": 1}, [(7, 3, 3)]),
    ],
    **{candidate_name(k, e): [({"channels": 4, "stride": 2, "se": 0.25}, [(4, 8, 8)]), ({"channels": 4}, [(4, 5, 5)])]
       for k in PROXYLESS_KERNELS for e in PROXYLESS_EXPANSIONS},
}
