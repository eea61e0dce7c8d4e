"""Examples of the DARTS ops (ops/darts.py) for the shared op tests: {op: [(params, [in_shape, ...]), ...]}."""

IMG = (4, 8, 8)

_CELL = [({}, [IMG]), ({"stride": 2}, [IMG]), ({"stride": 2, "affine": False}, [(6, 7, 9)])]

EXAMPLES = {
    "sep_conv_3x3": _CELL,
    "sep_conv_5x5": _CELL,
    "sep_conv_7x7": _CELL,
    "dil_conv_3x3": _CELL,
    "dil_conv_5x5": _CELL,
    "conv_7x1_1x7": [*_CELL, ({"stride": 2}, [(2, 5, 9)])],
    "max_pool_3x3": [({}, [IMG]), ({"stride": 2}, [(3, 7, 7)]), ({"stride": 2, "bn": True}, [IMG])],
    "avg_pool_3x3": [({}, [IMG]), ({"stride": 2}, [(3, 7, 7)]), ({"bn": True}, [IMG])],
    "skip_connect": [({}, [IMG]), ({"stride": 2}, [IMG]), ({"stride": 2, "affine": False}, [(6, 4, 6)])],
    "none": [({}, [IMG]), ({"stride": 2}, [(3, 7, 7)])],
    "factorized_reduce": [({"channels": 8}, [IMG]), ({"channels": 2, "affine": False}, [(5, 6, 4)])],
    "drop_path": [({}, [IMG]), ({"p": 0.5}, [IMG])],
    "aux_head": [({"num_classes": 10}, [(6, 8, 8)]), ({"num_classes": 3, "dataset": "imagenet"}, [(5, 7, 7)])],
}
