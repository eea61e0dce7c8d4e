"""Examples of the ENAS and NAS-RL ops (ops/enas.py) for the shared op tests: {op: [(params, [in_shape, ...]), ...]}."""

IMG = (4, 8, 8)

EXAMPLES = {
    "enas_reduce": [({"channels": 8}, [IMG]), ({"channels": 6, "relu": True}, [(3, 7, 5)])],
    "enas_conv": [
        ({"channels": 6}, [IMG]),
        ({"channels": 6, "kernel": 5, "separable": True}, [IMG]),
        ({"channels": 3, "kernel": 5}, [(5, 6, 7)]),
        ({"channels": 4, "separable": True}, [(2, 5, 5)]),
    ],
    "enas_pool": [({"channels": 6}, [IMG]), ({"channels": 3, "pool": "max"}, [(5, 7, 6)])],
    "enas_skip_sum": [({}, [IMG]), ({}, [IMG] * 3)],
    "enas_head": [({"num_classes": 10}, [IMG]), ({"num_classes": 3, "relu": False, "dropout": 0.5}, [(6, 3, 3)])],
    "conv_hw": [
        ({"channels": 6}, [IMG]),
        ({"channels": 5, "kernel_h": 1, "kernel_w": 7}, [IMG]),
        ({"channels": 3, "kernel_h": 7, "kernel_w": 3, "stride": 3}, [(2, 11, 9)]),
        ({"channels": 4, "kernel_h": 5, "kernel_w": 5, "stride": 2}, [(4, 3, 3)]),
    ],
    "pad_concat": [({}, [IMG]), ({}, [(2, 8, 8), (3, 4, 4), (1, 3, 8)]), ({}, [(2, 5, 5), (2, 5, 5)])],
    "channel_mask": [({"keep": 2}, [IMG]), ({"keep": 4}, [IMG])],
}
